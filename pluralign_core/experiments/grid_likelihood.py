"""Likelihood measure on a grid: each cell's implicit reward against each group's held-out pairs.

For every finished cell the grid scores the distinct answers of the held-out preference pairs (the design
dimension, majority vote, one pair set per rater group the grid names: all raters and each tuned group)
under the cell's model and under the model it was tuned from, per answer token
(:mod:`pluralign_core.evaluation.likelihood` says why per token). The difference is the cell's *implicit
reward*; its agreement with a group's pairs says whether tuning moved the model towards that group's
preferences, with no generation and no judge. The base cell's implicit reward is measured against the
instruct model when the grid starts from the unaligned start (how far the start moved *away*), and not at
all when the base cell is the instruct model itself.

Per cell, the per-prompt totals (pairs, pairs ranked as the group ranked them, summed margin) go to
``<grid>/likelihood/<cell_id>.csv``; :func:`likelihood_summary` aggregates a design choice over its seeds with
the two-stage bootstrap of :mod:`.comparisons` (prompts, then seeds), per language, never pooled. The start's
log-probabilities are cached on disk and reused by every cell and seed tuned from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pluralign_core import paths
from pluralign_core.evaluation.heldout_pairs import heldout_group_pairs, pair_responses, response_logprobs
from pluralign_core.evaluation.likelihood import MAX_ANSWER_TOKENS, LogprobCache, prompt_totals
from pluralign_core.experiments.comparisons import two_stage_draws
from pluralign_core.experiments.plan import GridCell, cell_from_state, reward_groups
from pluralign_core.experiments.state import GridState
from pluralign_core.store.database import Store

LIKELIHOOD_DIR = "likelihood"
TOTAL_COLUMNS = ["cell_id", "design_id", "seed", "group", "language", "prompt_id", "n", "correct", "margin"]
SUMMARY_COLUMNS = [
    "design_id",
    "group",
    "language",
    "accuracy",
    "accuracy_ci_low",
    "accuracy_ci_high",
    "margin",
    "margin_ci_low",
    "margin_ci_high",
    "resolved",
    "n_prompts",
    "n_seeds",
]


def measured_dimension(config: Mapping[str, Any]) -> str:
    """The dimension whose held-out pairs the measure uses: the single objective's (toxicity by default)."""
    return str(config.get("single_dimension") or "toxicity")


def group_pairs(store: Store, state: GridState) -> dict[str, pd.DataFrame]:
    """Each scored group's majority-vote pairs on the held-out prompts (``all raters`` first)."""
    cells = [cell_from_state(state.cells[c]) for c in state.data["cell_order"]]
    dimension = measured_dimension(state.data["config"])
    return {
        name: heldout_group_pairs(store, state.data["dataset_id"], selection, dimension)
        for name, selection in reward_groups(cells).items()
    }


def _logprobs(
    model_ref: str,
    adapter: str | None,
    responses: pd.DataFrame,
    *,
    cached: bool,
    loaded: tuple[Any, Any] | None = None,
) -> pd.Series:
    """Per-token log-probs of ``responses``; a fixed model's are cached on disk and the model loaded only
    when some are missing (``loaded``: that model, already loaded by the caller)."""
    from pluralign_core.evaluation.generation import load_model

    cache = LogprobCache(paths.subdir("cache", "logprobs"), model_ref) if cached else None
    if cache is not None:
        keys = [
            cache.key(str(p), str(t), MAX_ANSWER_TOKENS)
            for p, t in zip(responses.prompt, responses.text, strict=True)
        ]
        if all(k in cache.values for k in keys):
            return pd.Series([cache.values[k] for k in keys], index=responses.response_id.to_numpy())
    model, tokenizer = loaded or load_model(model_ref, adapter)
    return response_logprobs(model, tokenizer, responses, cache)


def _references(state: GridState, cell: GridCell) -> tuple[str, str] | None:
    """``(model ref, reference ref)`` of the cell, or None when it has no implicit reward."""
    config = state.data["config"]
    if cell.trains:
        return cell.run["base_model"], cell.run["base_model"]
    if config.get("start") == "unaligned":
        return cell.evaluation["base_model"], str(config["training"]["base_model"])
    return None


def score_cell(
    store: Store,
    state: GridState,
    cell: GridCell,
    adapter: str | None = None,
    *,
    loaded: tuple[Any, Any] | None = None,
) -> Path | None:
    """Write the cell's per-prompt agreement totals with every group; returns the CSV (None: nothing to do).

    ``adapter`` is the folder of a tuned cell's adapter (its model is the start with that adapter);
    ``loaded`` is the cell's model and tokenizer when the caller has them loaded already (the evaluation's).
    """
    refs = _references(state, cell)
    if refs is None:
        return None
    if cell.trains and not adapter:
        raise ValueError(f"cell {cell.cell_id} was tuned: score_cell needs its adapter folder")
    model_ref, reference_ref = refs
    pairs = {name: frame for name, frame in group_pairs(store, state).items() if not frame.empty}
    if not pairs:
        return None
    responses = pair_responses(pd.concat(pairs.values(), ignore_index=True))
    reference = _logprobs(reference_ref, None, responses, cached=True)
    model = _logprobs(model_ref, adapter, responses, cached=adapter is None, loaded=loaded)
    reward = model - reference.reindex(model.index)
    frames = []
    for group, frame in pairs.items():
        for language, part in frame.groupby("language", sort=True):
            totals = prompt_totals(part, reward)
            frames.append(totals.assign(group=group, language=language))
    out = pd.concat(frames, ignore_index=True).assign(
        cell_id=cell.cell_id, design_id=cell.design, seed=cell.seed
    )[TOTAL_COLUMNS]
    folder = state.folder / LIKELIHOOD_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{paths.safe_name(cell.cell_id)}.csv"
    out.to_csv(path, index=False)
    return path


def read_totals(state_data: Mapping[str, Any], folder: Path | str) -> pd.DataFrame:
    """Every finished cell's per-prompt totals (``TOTAL_COLUMNS``) from ``<grid>/likelihood/``."""
    root = Path(folder) / LIKELIHOOD_DIR
    frames = []
    for cell_id in state_data.get("cell_order", []):
        path = root / f"{paths.safe_name(cell_id)}.csv"
        if state_data["cells"][cell_id].get("state") == "done" and path.exists():
            frames.append(pd.read_csv(path, dtype={"prompt_id": str, "language": str}))
    if not frames:
        return pd.DataFrame(columns=TOTAL_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def likelihood_summary(totals: pd.DataFrame, *, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per design choice, group and language: pair accuracy and per-token margin over prompts and seeds.

    Each prompt's accuracy and mean margin (over its pairs) form a prompt × seed table; the point value is
    its mean and the 95 % CI comes from the two-stage bootstrap. Resolved: the margin's CI excludes 0.
    """
    rows = []
    if totals.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    frame = totals.assign(accuracy=totals.correct / totals.n, mean_margin=totals.margin / totals.n)
    for (design_id, group, language), part in frame.groupby(["design_id", "group", "language"], sort=False):
        row: dict[str, Any] = {"design_id": design_id, "group": group, "language": language}
        for measure, column in (("accuracy", "accuracy"), ("margin", "mean_margin")):
            table = part.pivot_table(index="prompt_id", columns="seed", values=column).dropna()
            values = table.to_numpy(float)
            draws = two_stage_draws(values, n_boot, seed)
            low, high = np.percentile(draws, [2.5, 97.5])
            row.update({measure: float(values.mean()), f"{measure}_ci_low": low, f"{measure}_ci_high": high})
            row.update(n_prompts=int(values.shape[0]), n_seeds=int(values.shape[1]))
        row["resolved"] = bool(row["margin_ci_low"] > 0 or row["margin_ci_high"] < 0)
        rows.append(row)
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
