"""A grid's results as a report: markdown for people, JSON for scripts (``pluralign grid --report``).

Both carry the same numbers: each cell's toxicity reduction against the start per measure and language with
its 95 % CI, and the study's design-choice comparisons with paired CIs, Holm-adjusted p-values, whether each
is resolved and whether it matches the study (:mod:`pluralign_core.experiments.grid_comparisons`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from pluralign_core.experiments.grid_comparisons import (
    answer_quality,
    cell_prompt_scores,
    cell_reductions,
    finished_cells,
    paired_design_comparisons,
)
from pluralign_core.experiments.grid_likelihood import likelihood_summary, read_totals
from pluralign_core.experiments.state import grid_folder
from pluralign_core.experiments.tradeoffs import markdown_table

MEASURE_TITLES = {
    "reward_model": "all-raters toxicity reward model (1–5 points)",
    "classifier": "offline toxicity classifier (probability; English only)",
}


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-safe dicts (NaN → None, numpy scalars → Python)."""
    records = []
    for row in frame.to_dict(orient="records"):
        clean = {}
        for key, value in row.items():
            value = value.item() if hasattr(value, "item") else value
            clean[key] = None if isinstance(value, float) and math.isnan(value) else value
        records.append(clean)
    return records


def report_data(
    state_data: Mapping[str, Any], evaluations_root: Path | str, grid_root: Path | str | None = None
) -> dict[str, Any]:
    """``{grid_id, dataset_id, state, cells, comparisons, likelihood, answers}``.

    ``cells[]`` has ``cell_id, measure, language, toxicity_reduction, ci_low, ci_high, resolved, n_prompts,
    n_seeds`` (``cell_id`` is the design choice; its seeds are pooled in the CI); ``comparisons[]`` has
    ``name, measure, language, difference, ci_low, ci_high, p_value, p_holm, resolved, relative_pct,
    matches_study`` and both arms' reductions; ``likelihood[]`` the implicit-reward agreement of each
    design with each group's held-out pairs (:mod:`.grid_likelihood`); ``answers[]`` the answers' mean
    words and degenerate rate. ``grid_root`` is the grid's folder (default: where grids live).
    """
    return report_from_tables(state_data, grid_tables(state_data, evaluations_root, grid_root))


def grid_tables(
    state_data: Mapping[str, Any], evaluations_root: Path | str, grid_root: Path | str | None = None
) -> dict[str, pd.DataFrame]:
    """The per-prompt tables every number of the report is computed from (also what a shipped run keeps):
    ``designs`` (design facts), ``scores`` (toxicity per design, seed, prompt), ``answers`` (length and
    degeneracy), ``likelihood`` (per-prompt implicit-reward totals)."""
    folder = Path(grid_root) if grid_root is not None else grid_folder(str(state_data.get("grid_id")))
    return {
        "designs": finished_cells(state_data, evaluations_root),
        "scores": cell_prompt_scores(state_data, evaluations_root),
        "answers": answer_quality(state_data, evaluations_root),
        "likelihood": read_totals(state_data, folder),
    }


def report_from_tables(meta: Mapping[str, Any], tables: Mapping[str, pd.DataFrame]) -> dict[str, Any]:
    """:func:`report_data`'s document from :func:`grid_tables` (``meta`` gives grid id, dataset, state)."""
    scores = tables["scores"]
    cells = cell_reductions({}, "", scores=scores)
    comparisons = paired_design_comparisons({}, "", scores=scores, cells=tables["designs"])
    return {
        "grid_id": meta.get("grid_id"),
        "dataset_id": meta.get("dataset_id"),
        "state": meta.get("state"),
        "cells": _records(cells),
        "comparisons": _records(comparisons),
        "likelihood": _records(likelihood_summary(tables["likelihood"])),
        "answers": _records(tables["answers"]),
    }


def report(
    state_data: Mapping[str, Any], evaluations_root: Path | str, grid_root: Path | str | None = None
) -> str:
    """Markdown report of a grid: reductions per cell and the design-choice comparisons, with CIs."""
    return markdown_report(report_data(state_data, evaluations_root, grid_root))


def markdown_report(data: Mapping[str, Any]) -> str:
    """:func:`report_data`'s document as markdown."""
    head = f"Grid `{data['grid_id']}` on `{data['dataset_id']}` ({data['state']})."
    cells, comparisons = pd.DataFrame(data["cells"]), pd.DataFrame(data["comparisons"])
    if cells.empty:
        return head + "\n\nNo finished evaluations with a base cell to compare against yet.\n"
    parts = [head]
    for measure, title in MEASURE_TITLES.items():
        part = cells[cells.measure == measure]
        if part.empty:
            continue
        parts += [
            f"### Toxicity reduction vs the start, {title}",
            markdown_table(part.drop(columns="measure"), 3),
        ]
        shown = comparisons[comparisons.measure == measure] if not comparisons.empty else comparisons
        if not shown.empty:
            columns = ["name", "language", "difference", "ci_low", "ci_high", "p_holm", "resolved"]
            columns += ["relative_pct", "matches_study", "study_text"]
            parts += [f"### Design choices (A − B), {title}", markdown_table(shown[columns], 3)]
    likelihood = pd.DataFrame(data["likelihood"])
    if not likelihood.empty:
        parts += [
            "### Likelihood measure: agreement of each model's per-token implicit reward (vs its start) "
            "with each group's held-out pairs (margin > 0: moved towards the group; resolved: CI excludes 0)",
            markdown_table(likelihood, 3),
        ]
    answers = pd.DataFrame(data["answers"])
    if not answers.empty:
        parts += ["### Answers: mean length and degenerate rate", markdown_table(answers, 3)]
    return "\n\n".join(parts) + "\n"
