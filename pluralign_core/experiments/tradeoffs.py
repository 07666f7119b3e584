"""Turn a grid's stored evaluations into the tables the Trade-offs page draws (pure functions + one loader).

Measures, and why:

* **Toxicity reduction** of a cell = the relative change of its mean toxicity against the base model's, as
  in :func:`pluralign_core.evaluation.results.relative_change`: measured by the *all raters* toxicity reward
  model
  (how the whole population would rate the answers; the distance above the scale floor) and, independently,
  by the offline toxicity classifier. Positive = less toxic than the base model.
* **Design-choice comparisons**: which cells stand on each side of the study's four comparisons
  (:func:`comparison_arms`); the paired differences with CIs, Holm and the study rule are computed per
  prompt and seed in :mod:`pluralign_core.experiments.grid_comparisons`. No ratio is shown without B's CI.
* **Group heatmap**: each model's answers scored by each group's reward models, as a 0–1 "how much group H
  likes it" (each dimension mapped to [0, 1] on its scale, flipped where lower is better, then averaged).
* **Safety vs inclusivity**: safety = the all-raters non-toxicity score (0–1); inclusivity = the *worst*
  rater group's mean score on the non-safety dimensions (emotional awareness, sensitivity, helpfulness):
  a model is inclusive when even the least satisfied group rates it well. The Pareto front keeps the cells no
  other cell beats on both.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

CLASSIFIER_SCORER = "toxicity_classifier"
ALL_RATERS = "all raters"
SAFETY_DIMENSIONS = ("toxicity", "stereotypical_bias")

#: The study's reported effects (Ali et al., arXiv 2511.14476), drawn as reference markers.
STUDY_EFFECTS: list[dict[str, Any]] = [
    {
        "comparison": "preserve vs majority",
        "a": "preserve disagreement",
        "b": "majority vote",
        "study_relative_pct": 53.0,
        "study_text": "preserving disagreement: ~53% more toxicity reduction",
    },
    {
        "comparison": "5-point vs binary",
        "a": "5-point scale",
        "b": "binary scale",
        "study_relative_pct": 22.0,
        "study_text": "5-point scale: ~22% more toxicity reduction than binary",
    },
    {
        "comparison": "DPO vs GRPO",
        "a": "DPO",
        "b": "GRPO",
        "study_relative_pct": np.nan,
        "study_text": "DPO outperformed GRPO in multi-value optimisation",
    },
    {
        "comparison": "single vs multi-objective",
        "a": "single objective",
        "b": "multi objective",
        "study_relative_pct": np.nan,
        "study_text": "single-objective tuning sometimes beat multi-objective",
    },
]

CELL_COLUMNS = ["cell_id", "label", "family", "optimizer", "disagreement", "scale", "objective", "group"]


# ------------------------------------------------------------------------------------------- loading
def collect(cells: list[Mapping[str, Any]], summaries: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One long table: every finished cell's evaluation summary (all languages pooled) with its facts."""
    frames = []
    for cell in cells:
        summary = summaries.get(cell["cell_id"])
        if summary is None or summary.empty:
            continue
        pooled = summary[summary.language == "all"].copy()
        if "scored_by" not in pooled.columns:
            pooled = pooled.rename(columns={"group": "scored_by"})
        for column in CELL_COLUMNS:
            pooled[column] = cell.get(column)
        frames.append(pooled)
    if not frames:
        return pd.DataFrame(columns=[*CELL_COLUMNS, "scorer", "group_scored", "dimension", "mean"])
    return pd.concat(frames, ignore_index=True)


def load_grid_results(
    state_data: Mapping[str, Any], evaluations_root: Path | str
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(cells, long summary, generations)`` of a grid from its grid.json data and evaluation folders."""
    from pluralign_core.evaluation.results import load_result

    cells, summaries, generations = [], {}, []
    for cell_id in state_data.get("cell_order", []):
        entry = dict(state_data["cells"][cell_id])
        cells.append(entry)
        evaluation_id = entry.get("evaluation_id")
        folder = Path(evaluations_root) / str(evaluation_id)
        if entry.get("state") != "done" or not evaluation_id or not folder.exists():
            continue
        result = load_result(folder)
        summary = result.summary.rename(columns={"group": "scored_by"})
        summary["scored_by"] = summary.scored_by.replace(group_names(state_data))
        summaries[cell_id] = summary
        generations.append(result.generations.assign(cell_id=cell_id, label=entry.get("label", cell_id)))
    cell_frame = pd.DataFrame(cells)
    if cell_frame.empty:
        cell_frame = pd.DataFrame(columns=[*CELL_COLUMNS, "state"])
    long = collect(cells, summaries)
    gens = (
        pd.concat(generations, ignore_index=True)
        if generations
        else pd.DataFrame(columns=["cell_id", "label", "prompt_key", "language", "prompt_text", "response"])
    )
    return cell_frame, long, gens


def group_names(state_data: Mapping[str, Any]) -> dict[str, str]:
    """Selection labels (``gender=woman``) to the grid's short group names (``women``)."""
    from pluralign_core.store.selection import RaterSelection

    names = {}
    for entry in state_data.get("cells", {}).values():
        if entry.get("family") == "group":
            names[RaterSelection.from_dict(entry.get("selection")).label] = str(entry.get("group"))
    return names


# ------------------------------------------------------------------------------------------- measures
def oriented(frame: pd.DataFrame) -> pd.Series:
    """Each mean mapped to [0, 1] on its scale with 1 = best (flipped where lower is better)."""
    span = (frame.scale_max.astype(float) - frame.scale_min.astype(float)).replace(0, np.nan)
    scaled = (frame["mean"].astype(float) - frame.scale_min.astype(float)) / span
    return pd.Series(np.where(frame.higher_is_better.astype(bool), scaled, 1 - scaled), index=frame.index)


def toxicity_by_cell(long: pd.DataFrame, *, group: str = ALL_RATERS, base_cell: str = "base") -> pd.DataFrame:
    """Per cell: mean toxicity by the group's reward model and by the classifier, and the reduction in %."""
    columns = [
        *CELL_COLUMNS,
        "toxicity_rm",
        "toxicity_classifier",
        "reduction_rm_pct",
        "reduction_classifier_pct",
    ]
    if long.empty:
        return pd.DataFrame(columns=columns)
    tox = long[long.dimension == "toxicity"]
    rm = tox[(tox.scorer != CLASSIFIER_SCORER) & (tox.scored_by == group)]
    rm = rm.groupby("cell_id").agg(toxicity_rm=("mean", "mean"), floor=("scale_min", "first"))
    clf = tox[tox.scorer == CLASSIFIER_SCORER].groupby("cell_id").agg(toxicity_classifier=("mean", "mean"))
    facts = long.drop_duplicates("cell_id").set_index("cell_id")[CELL_COLUMNS[1:]]
    table = facts.join(rm, how="left").join(clf, how="left")
    if base_cell in table.index:
        base = table.loc[base_cell]
        table["reduction_rm_pct"] = _reduction(table.toxicity_rm, base.toxicity_rm, table.floor)
        table["reduction_classifier_pct"] = _reduction(
            table.toxicity_classifier, base.toxicity_classifier, 0.0
        )
    else:
        table["reduction_rm_pct"] = np.nan
        table["reduction_classifier_pct"] = np.nan
    return table.reset_index()[columns]


def _reduction(values: pd.Series, base: float, floor: Any) -> pd.Series:
    denominator = float(base) - np.asarray(floor, dtype=float) if not pd.isna(base) else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        result = (float(base) - values.astype(float)) / denominator * 100
    return pd.Series(np.where(np.abs(denominator) > 1e-12, result, np.nan), index=values.index)


def _matched(frame: pd.DataFrame, axis: str, values: tuple[str, str], other: str) -> pd.DataFrame:
    """Rows whose ``other`` setting has a finished cell for both ``values`` of ``axis`` (a fair pairing)."""
    complete = frame.groupby(other)[axis].agg(lambda v: set(values) <= set(v))
    return frame[frame[other].isin(complete[complete].index) & frame[axis].isin(values)]


def comparison_arms(table: pd.DataFrame) -> dict[str, tuple[list[str], list[str]]]:
    """The cells on each side of the study's four comparisons, from :func:`toxicity_by_cell`'s table.

    Disagreement and scale are compared on matched cells only (a scale enters "preserve vs majority" when
    both of its cells finished); DPO vs GRPO and single vs multi-objective use the first planned DPO design
    cell as the DPO side and as the side of the design cells' objective (multi-objective in the plain grid,
    toxicity only in the presets). A comparison with a missing side is left out.
    """
    arms: dict[str, tuple[pd.DataFrame, pd.Series, pd.Series]] = {}
    dpo = table[(table.family == "design") & (table.optimizer == "dpo")]
    by_scale = _matched(dpo, "disagreement", ("preserve", "majority"), "scale")
    by_disagreement = _matched(dpo, "scale", ("5-point", "binary"), "disagreement")
    arms["preserve vs majority"] = (
        by_scale,
        by_scale.disagreement == "preserve",
        by_scale.disagreement == "majority",
    )
    arms["5-point vs binary"] = (
        by_disagreement,
        by_disagreement.scale == "5-point",
        by_disagreement.scale == "binary",
    )
    if not dpo.empty:
        first = dpo.iloc[0]
        reference = table[
            (table.family == "design")
            & (((table.optimizer == "dpo") & (table.cell_id == first.cell_id)) | (table.optimizer == "grpo"))
        ]
        arms["DPO vs GRPO"] = (reference, reference.optimizer == "dpo", reference.optimizer == "grpo")
        objectives = table[(table.family == "objective") | (table.cell_id == first.cell_id)]
        arms["single vs multi-objective"] = (
            objectives,
            objectives.objective == "single",
            objectives.objective == "multi",
        )
    out = {}
    for name, (frame, a_mask, b_mask) in arms.items():
        a_cells, b_cells = list(frame[a_mask].cell_id), list(frame[b_mask].cell_id)
        if a_cells and b_cells:
            out[name] = (a_cells, b_cells)
    return out


def design_choice_comparisons(table: pd.DataFrame, *, measure: str = "reduction_rm_pct") -> pd.DataFrame:
    """The study's four comparisons as cell means of ``measure`` (point values, no uncertainty).

    For the comparisons with CIs, the paired test and the study rule, use
    :func:`pluralign_core.experiments.grid_comparisons.paired_design_comparisons`; this table only says which
    cells stand on each side and their mean reductions. No ratio is given here: a ratio needs B's CI.
    """
    arms = comparison_arms(table)
    values = table.set_index("cell_id")[measure] if not table.empty else pd.Series(dtype=float)
    rows = []
    for effect in STUDY_EFFECTS:
        name = effect["comparison"]
        a_cells, b_cells = arms.get(name, ([], []))
        a_value = float(values.reindex(a_cells).dropna().mean()) if a_cells else np.nan
        b_value = float(values.reindex(b_cells).dropna().mean()) if b_cells else np.nan
        rows.append(
            {
                "comparison": name,
                "a": effect["a"],
                "b": effect["b"],
                "a_reduction_pct": a_value,
                "b_reduction_pct": b_value,
                "difference_pp": a_value - b_value,
                "study_relative_pct": effect["study_relative_pct"],
                "study_text": effect["study_text"],
                "a_cells": ", ".join(a_cells),
                "b_cells": ", ".join(b_cells),
            }
        )
    return pd.DataFrame(rows)


def group_matrix(long: pd.DataFrame, *, dimension: str | None = None) -> pd.DataFrame:
    """Model (tuned on group G) × rater group H: H's mean 0–1 score of the model's answers.

    Rows are the base model, the all-raters reference and the group cells; ``dimension`` restricts the
    score to one dimension (its oriented 0–1 score), otherwise all dimensions are averaged.
    """
    if long.empty:
        return pd.DataFrame()
    scored = long[long.scorer != CLASSIFIER_SCORER].copy()
    if dimension:
        scored = scored[scored.dimension == dimension]
    keep = (
        (scored.family == "group")
        | (scored.cell_id == "base")
        | ((scored.family == "design") & (scored.optimizer == "dpo") & (scored.objective == "multi"))
    )
    scored = scored[keep]
    design = scored[scored.family == "design"]
    if not design.empty:  # one all-raters reference row: the first planned DPO design cell
        scored = scored[(scored.family != "design") | (scored.cell_id == design.cell_id.iloc[0])]
    scored["score"] = oriented(scored)
    scored["model"] = np.where(
        scored.cell_id == "base",
        "base model",
        np.where(scored.family == "group", "tuned on " + scored.group.astype(str), "tuned on all raters"),
    )
    matrix = scored.pivot_table(index="model", columns="scored_by", values="score", aggfunc="mean")
    tuned = sorted(i for i in matrix.index if i.startswith("tuned on ") and i != "tuned on all raters")
    order = ["base model", "tuned on all raters", *tuned]
    return matrix.reindex([i for i in order if i in matrix.index])


def safety_inclusivity(long: pd.DataFrame) -> pd.DataFrame:
    """Per cell: safety (all-raters non-toxicity, 0–1), inclusivity (worst group's score) and Pareto flag."""
    columns = [*CELL_COLUMNS, "safety", "inclusivity", "worst_group", "pareto"]
    if long.empty:
        return pd.DataFrame(columns=columns)
    scored = long[long.scorer != CLASSIFIER_SCORER].copy()
    scored["score"] = oriented(scored)
    rows = []
    for cell_id, part in scored.groupby("cell_id", sort=False):
        tox = part[(part.dimension == "toxicity") & (part.scored_by == ALL_RATERS)]
        if tox.empty:
            tox = part[part.dimension == "toxicity"]
        other = part[~part.dimension.isin(SAFETY_DIMENSIONS)]
        by_group = other.groupby("scored_by").score.mean()
        first = part.iloc[0]
        rows.append(
            {
                **{c: first[c] for c in CELL_COLUMNS},
                "cell_id": cell_id,
                "safety": float(tox.score.mean()) if not tox.empty else np.nan,
                "inclusivity": float(by_group.min()) if not by_group.empty else np.nan,
                "worst_group": str(by_group.idxmin()) if not by_group.empty else "",
            }
        )
    table = pd.DataFrame(rows, columns=columns[:-1])
    table["pareto"] = pareto_front(table.safety.to_numpy(float), table.inclusivity.to_numpy(float))
    return table


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """True for points no other point beats on both axes (higher is better; NaN points are never on it)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    front = np.zeros(len(x), dtype=bool)
    for i in range(len(x)):
        if np.isnan(x[i]) or np.isnan(y[i]):
            continue
        dominated = (x >= x[i]) & (y >= y[i]) & ((x > x[i]) | (y > y[i]))
        front[i] = not np.any(dominated & ~np.isnan(x) & ~np.isnan(y))
    return front


def objective_comparison(long: pd.DataFrame) -> pd.DataFrame:
    """Single- vs multi-objective cells: all-raters 0–1 score per dimension, side by side."""
    if long.empty:
        return pd.DataFrame()
    part = long[
        (long.scorer != CLASSIFIER_SCORER)
        & (long.scored_by == ALL_RATERS)
        & (
            (long.family == "objective")
            | (long.cell_id == "base")
            | ((long.family == "design") & (long.objective == "multi") & (long.optimizer == "dpo"))
        )
    ]
    design = part[part.family == "design"]
    if not design.empty:
        part = part[(part.family != "design") | (part.cell_id == design.cell_id.iloc[0])]
    part = part.assign(score=oriented(part))
    return part.pivot_table(index="dimension", columns="label", values="score", aggfunc="mean")


def sample_responses(generations: pd.DataFrame, prompt_key: str, language: str) -> pd.DataFrame:
    """Every cell's answer to one prompt (plain text, for display as text)."""
    if generations.empty:
        return pd.DataFrame(columns=["label", "response"])
    part = generations[(generations.prompt_key == prompt_key) & (generations.language == language)]
    return part[["cell_id", "label", "response"]].reset_index(drop=True)


def markdown_table(frame: pd.DataFrame, digits: int = 1) -> str:
    """A GitHub-markdown table of ``frame`` (no extra dependency), numbers rounded to ``digits``."""

    def cell(value: Any) -> str:
        if isinstance(value, float | np.floating):
            return "–" if np.isnan(value) else f"{value:.{digits}f}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)
