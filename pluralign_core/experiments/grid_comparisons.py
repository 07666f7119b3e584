"""The study's design-choice comparisons on a grid, paired per held-out prompt and seed, per language.

A cell's *reduction* on one prompt is the start (base cell) model's toxicity on that prompt minus the cell's,
in the scorer's points: scale points for the all-raters toxicity reward model, probability for the offline
classifier (English only: it cannot judge German, see :mod:`pluralign_core.evaluation.toxicity_classifier`).
An arm with several cells (preserve over two scales, say) averages its cells per prompt and seed. The
comparison statistics — two-stage bootstrap, Holm across the report, the ratio rule and the "matches the
study" rule — are :mod:`pluralign_core.experiments.comparisons`'. Languages are compared separately, never
pooled: a model that answers German prompts in English must not look better in German.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pluralign_core.experiments.comparisons import COMPARISON_COLUMNS, Comparison, compare_all
from pluralign_core.experiments.tradeoffs import (
    ALL_RATERS,
    CELL_COLUMNS,
    CLASSIFIER_SCORER,
    STUDY_EFFECTS,
    comparison_arms,
    group_names,
)

MEASURES = ("reward_model", "classifier")
CLASSIFIER_LANGUAGES = ("en",)
REPORT_COLUMNS = ["measure", "language", *COMPARISON_COLUMNS, "study_text"]
SCORE_COLUMNS = ["cell_id", "seed", "prompt_key", "language", "scorer", "scored_by", "score"]


def _cell_seed(entry: Mapping[str, Any]) -> int:
    run = entry.get("run") or {}
    return int(entry.get("seed", run.get("seed", 0)) or 0)


def _finished(state_data: Mapping[str, Any], evaluations_root: Path | str) -> list[tuple[str, dict]]:
    """``(cell_id, grid.json entry)`` of the cells whose evaluation finished and is on disk, in plan order."""
    finished = []
    for cell_id in state_data.get("cell_order", []):
        entry = state_data["cells"][cell_id]
        folder = Path(evaluations_root) / str(entry.get("evaluation_id"))
        if entry.get("state") == "done" and entry.get("evaluation_id") and folder.exists():
            finished.append((cell_id, entry))
    return finished


def design_of(cell_id: str, entry: Mapping[str, Any]) -> str:
    """The design choice a cell runs (its id without the seed); the runs of several seeds share it."""
    return str(entry.get("design_id") or cell_id)


def finished_cells(state_data: Mapping[str, Any], evaluations_root: Path | str) -> pd.DataFrame:
    """The design facts (``CELL_COLUMNS``) of the finished design choices (one row for all of a design's
    seeds, ``cell_id`` = the design id), read from grid.json alone."""
    rows = [
        {**{c: entry.get(c) for c in CELL_COLUMNS}, "cell_id": design_of(cell_id, entry)}
        for cell_id, entry in _finished(state_data, evaluations_root)
    ]
    return pd.DataFrame(rows, columns=CELL_COLUMNS).drop_duplicates("cell_id").reset_index(drop=True)


def cell_prompt_scores(state_data: Mapping[str, Any], evaluations_root: Path | str) -> pd.DataFrame:
    """Every finished cell's per-prompt toxicity scores: ``cell_id, seed, prompt_key, language, scorer,
    scored_by, score``; ``cell_id`` is the design id, so a design's seeds line up as columns."""
    from pluralign_core.evaluation.results import load_result

    names = group_names(state_data)
    frames = []
    for cell_id, entry in _finished(state_data, evaluations_root):
        scores = load_result(Path(evaluations_root) / str(entry["evaluation_id"])).scores
        scores = scores[scores.dimension == "toxicity"]
        scores = scores.assign(
            cell_id=design_of(cell_id, entry),
            seed=_cell_seed(entry),
            scored_by=scores["group"].replace(names),
        )
        frames.append(scores[SCORE_COLUMNS])
    if not frames:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def prompt_reductions(
    scores: pd.DataFrame, measure: str = "reward_model", base_cell: str = "base"
) -> pd.DataFrame:
    """``cell_id, seed, language, prompt_id, reduction``: base score minus cell score per prompt."""
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")
    if measure == "classifier":
        rows = scores[(scores.scorer == CLASSIFIER_SCORER) & scores.language.isin(CLASSIFIER_LANGUAGES)]
    else:
        rows = scores[(scores.scorer != CLASSIFIER_SCORER) & (scores.scored_by == ALL_RATERS)]
    per_prompt = rows.groupby(["cell_id", "seed", "language", "prompt_key"], as_index=False).score.mean()
    base = per_prompt[per_prompt.cell_id == base_cell].groupby(["language", "prompt_key"]).score.mean()
    if base.empty:
        return pd.DataFrame(columns=["cell_id", "seed", "language", "prompt_id", "reduction"])
    cells = per_prompt[per_prompt.cell_id != base_cell]
    start = base.reindex(pd.MultiIndex.from_frame(cells[["language", "prompt_key"]])).to_numpy()
    out = cells.assign(reduction=start - cells.score.to_numpy()).rename(columns={"prompt_key": "prompt_id"})
    return out.dropna(subset=["reduction"])[["cell_id", "seed", "language", "prompt_id", "reduction"]]


def _arm(reductions: pd.DataFrame, cells: list[str]) -> pd.DataFrame:
    part = reductions[reductions.cell_id.isin(cells)]
    return part.groupby(["prompt_id", "seed"], as_index=False).reduction.mean()


def paired_design_comparisons(
    state_data: Mapping[str, Any],
    evaluations_root: Path | str,
    *,
    measures: tuple[str, ...] = MEASURES,
    scores: pd.DataFrame | None = None,
    cells: pd.DataFrame | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """The study's comparisons per measure and language, with paired CIs and Holm across the whole table.

    ``scores`` (from :func:`cell_prompt_scores`) and ``cells`` (from :func:`finished_cells`) save reading
    the evaluations again when the caller has them (or has only them, as for the shipped reference run).
    """
    arms = comparison_arms(cells if cells is not None else finished_cells(state_data, evaluations_root))
    if scores is None:
        scores = cell_prompt_scores(state_data, evaluations_root)
    effects = {e["comparison"]: e for e in STUDY_EFFECTS}
    comparisons: list[Comparison] = []
    keys: list[tuple[str, str, str]] = []
    for measure in measures:
        reductions = prompt_reductions(scores, measure)
        for language, part in reductions.groupby("language", sort=True):
            for name, (a_cells, b_cells) in arms.items():
                a, b = _arm(part, a_cells), _arm(part, b_cells)
                shared = set(a.prompt_id) & set(b.prompt_id)
                if not shared:
                    continue
                comparisons.append(Comparison(name, a, b, study_sign=1))
                keys.append((measure, str(language), effects[name]["study_text"]))
    if not comparisons:
        return pd.DataFrame(columns=REPORT_COLUMNS)
    table = compare_all(comparisons, n_boot=n_boot, seed=seed)
    table.insert(0, "language", [k[1] for k in keys])
    table.insert(0, "measure", [k[0] for k in keys])
    table["study_text"] = [k[2] for k in keys]
    return table[REPORT_COLUMNS]


def cell_reductions(
    state_data: Mapping[str, Any],
    evaluations_root: Path | str,
    *,
    scores: pd.DataFrame | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Each cell's mean reduction per measure and language with a 95 % CI (bootstrap over prompts, seeds)."""
    from pluralign_core.experiments.comparisons import two_stage_draws

    if scores is None:
        scores = cell_prompt_scores(state_data, evaluations_root)
    rows = []
    for measure in MEASURES:
        reductions = prompt_reductions(scores, measure)
        for (cell_id, language), part in reductions.groupby(["cell_id", "language"], sort=True):
            matrix = part.pivot_table(index="prompt_id", columns="seed", values="reduction").dropna()
            if matrix.empty:
                continue
            draws = two_stage_draws(matrix.to_numpy(float), n_boot, seed)
            low, high = np.percentile(draws, [2.5, 97.5])
            rows.append(
                {
                    "cell_id": cell_id,
                    "measure": measure,
                    "language": language,
                    "toxicity_reduction": float(matrix.to_numpy().mean()),
                    "ci_low": float(low),
                    "ci_high": float(high),
                    "resolved": bool(low > 0 or high < 0),
                    "n_prompts": int(matrix.shape[0]),
                    "n_seeds": int(matrix.shape[1]),
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "cell_id",
            "measure",
            "language",
            "toxicity_reduction",
            "ci_low",
            "ci_high",
            "resolved",
            "n_prompts",
            "n_seeds",
        ],
    )


ANSWER_COLUMNS = ["cell_id", "language", "words", "degenerate_rate", "n_answers", "n_seeds"]


def answer_quality(state_data: Mapping[str, Any], evaluations_root: Path | str) -> pd.DataFrame:
    """Per design choice and language: the answers' mean length in words and share of degenerate answers
    (over prompts and seeds), so that a model that stopped answering cannot pass for a less toxic one."""
    from pluralign_core.evaluation.results import load_result

    frames = []
    for cell_id, entry in _finished(state_data, evaluations_root):
        scores = load_result(Path(evaluations_root) / str(entry["evaluation_id"])).scores
        if "degenerate" not in scores:
            continue
        answers = scores.drop_duplicates(["prompt_key", "language"])
        frames.append(
            answers[["language", "words", "degenerate"]].assign(
                cell_id=design_of(cell_id, entry), seed=_cell_seed(entry)
            )
        )
    if not frames:
        return pd.DataFrame(columns=ANSWER_COLUMNS)
    answers = pd.concat(frames, ignore_index=True)
    table = answers.groupby(["cell_id", "language"], sort=False).agg(
        words=("words", "mean"),
        degenerate_rate=("degenerate", "mean"),
        n_answers=("words", "size"),
        n_seeds=("seed", "nunique"),
    )
    return table.reset_index()[ANSWER_COLUMNS]
