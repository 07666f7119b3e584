"""How the analysis tables are shown: p-values, intervals on a bounded scale, small groups, answer order.

The statistics are computed elsewhere in :mod:`pluralign_core.analysis`; these helpers only decide how a
number reaches the reader, so that every page (and every CSV next to it) says the same thing:

* a p-value prints as ``< 0.001`` rather than a run of zeros;
* a rater-clustered CI of a mean is symmetric and can reach past the rating scale when a group has two or
  three raters; it is *shown clipped* at the scale ends, and the clipping is flagged, rather than
  recomputed on a bounded scale (the table keeps the unclipped numbers);
* every table with groups carries a ``small_group`` flag, and groups with fewer than 2 raters are
  *not estimable* (no CI, no % difference, no p-value);
* answers (scores) are listed lowest first with the dataset's own scale labels and a diverging palette;
* a column reaches the reader under a readable name (:func:`readable_name`: the dataset's own label when it
  has one, else :data:`COLUMN_LABELS`, else the words of the name), never as ``n_raters`` or ``ci_low``,
  and its numbers in one style (:func:`number_kind`, :func:`format_number`): counts with thousands
  separators, means and other measures with 2 decimals, percentages with 1 decimal, p-values ``< 0.001``.
  CSV downloads keep the machine names, which scripts rely on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd
from plotly.colors import sample_colorscale

from pluralign_core.ratings.schema import Scale

P_FLOOR = 0.001
CLIPPED_NOTE = "CI shown clipped at the scale's end (the interval reaches past it)"


def format_p(p: float | None) -> str:
    """``< 0.001`` for tiny p-values, three decimals otherwise, ``not estimable`` when missing."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "not estimable"
    if p < P_FLOOR:
        return f"< {P_FLOOR:g}"
    return f"{p:.3f}"


def clip_to_scale(table: pd.DataFrame, scale: Scale) -> pd.DataFrame:
    """``ci_low``/``ci_high`` clipped to the scale for drawing, with ``ci_clipped`` marking the rows cut.

    A mean's CI can pass the scale ends only because it is symmetric; a rating cannot, so the part beyond
    the scale carries no information and would stretch the axis until every other group looks flat.
    """
    low = table.ci_low.clip(lower=scale.minimum, upper=scale.maximum)
    high = table.ci_high.clip(lower=scale.minimum, upper=scale.maximum)
    clipped = (table.ci_low < scale.minimum) | (table.ci_high > scale.maximum)
    return table.assign(ci_low_shown=low, ci_high_shown=high, ci_clipped=clipped.fillna(False))


def flag_small(table: pd.DataFrame, min_raters: int, column: str = "n_raters") -> pd.DataFrame:
    """Add (or refresh) ``small_group``: fewer than ``min_raters`` raters behind the row."""
    if column not in table:
        return table
    return table.assign(small_group=table[column].fillna(0) < min_raters)


def answer_order(scale: Scale, scores: list[int] | None = None) -> list[str]:
    """The answer categories lowest first: ``"1 not offensive"`` with labels, ``"1"`` without."""
    values = range(scale.minimum, scale.maximum + 1) if scores is None else sorted(set(scores))
    return [answer_label(scale, int(v)) for v in values]


def answer_label(scale: Scale, score: int) -> str:
    index = score - scale.minimum
    if scale.labels and 0 <= index < len(scale.labels):
        return f"{score} {scale.labels[index]}"
    return str(score)


def answer_colours(scale: Scale) -> list[str]:
    """One colour per scale point from a diverging red–grey–blue scale, evenly spaced end to end."""
    points = scale.points
    return sample_colorscale("RdBu", list(np.linspace(0.0, 1.0, points))) if points > 1 else ["grey"]


# ----------------------------------------------------------------------------- readable names and numbers
COLUMN_LABELS: dict[str, str] = {
    "n": "Ratings",
    "n_raters": "Raters",
    "n_ratings": "Ratings",
    "n_units": "Responses rated",
    "n_prompts": "Prompts",
    "n_responses": "Responses",
    "n_both": "Raters of both",
    "n_a": "Raters of A",
    "n_b": "Raters of B",
    "mean": "Mean rating",
    "sd": "Standard deviation",
    "se": "Standard error",
    "median": "Median rating",
    "ci_low": "95% CI low",
    "ci_high": "95% CI high",
    "ci_clipped": "CI clipped at scale end",
    "small_group": "Few raters",
    "group": "Group",
    "group2": "Second group",
    "reference": "Reference group",
    "dimension": "Dimension",
    "attribute": "Attribute",
    "value": "Value",
    "score": "Answer",
    "share": "Share",
    "diff": "Difference (points)",
    "diff_ci_low": "Difference 95% CI low",
    "diff_ci_high": "Difference 95% CI high",
    "pct_diff": "% difference",
    "pct_ci_low": "% difference 95% CI low",
    "pct_ci_high": "% difference 95% CI high",
    "p_value": "p-value",
    "p_adjusted": "p-value (corrected)",
    "significant": "Significant",
    "alpha": "Krippendorff's alpha",
    "coefficient": "Coefficient (points)",
    "coef": "Coefficient (points)",
    "identified": "Identified",
    "note": "Note",
    "share_between": "Share between groups",
    "share_within": "Share within groups",
    "share_between_raw": "Share between groups (raw)",
    "n_raters_reference": "Reference raters",
    "mean_reference": "Reference mean",
    "diff_se": "Difference SE",
    "pct_se": "% difference SE",
    "ss_total": "Sum of squares, total",
    "ss_between": "Sum of squares between groups",
    "ss_within": "Sum of squares within groups",
    "ss_between_null": "Sum of squares between groups by chance",
    "name": "Name",
    "published_pct": "Published %",
    "measured_pct": "Measured %",
    "measured_ci_low": "Measured 95% CI low",
    "measured_ci_high": "Measured 95% CI high",
    "difference_pts": "Difference (pts)",
    "dataset_id": "Dataset id",
    "simulated": "Simulated",
    "raters": "Raters",
    "age_band": "Age band",
    "political_leaning": "Political leaning",
    "prompt": "Prompt",
    "prompt_id": "Prompt id",
    "response_id": "Response id",
    "rater_id": "Rater id",
    "chosen": "Chosen answer",
    "rejected": "Rejected answer",
    "weight": "Weight",
    "probability": "Probability chosen is preferred",
    "judgement_share": "Share of judgements",
    "agreement": "Agreement",
    "text": "Text",
    "text_a": "Answer A",
    "text_b": "Answer B",
    "p_a_first": "P(A preferred), this group",
    "p_a_second": "P(A preferred), other group",
    "gap": "Gap",
    "label": "Label",
    "kind": "Kind",
    "path": "Folder",
    "created_at": "Created",
    "run_id": "Run",
    "step": "Step",
    "max_steps": "Steps in all",
    "eta_s": "Time left (s)",
    "reward_margin": "Reward margin",
    "reward_mean": "Mean reward",
    "loss": "Loss",
    "state": "State",
    "algorithm": "Algorithm",
    "queued": "Queued",
    "registered": "Registered",
    "status": "Status",
    "severity": "Severity",
    "row": "Row",
    "column": "Column",
    "message": "Message",
    "language": "Language",
    "topic": "Topic",
    "split": "Split",
    "contrast": "Groups",
    "response_pairs": "Answer pairs",
    "flipped": "Flipped",
    "flip_share": "Share flipped",
    "flipped_pct": "Share flipped",
}
WORDS = {
    "pct": "%",
    "ci": "95% CI",
    "id": "id",
    "p": "p",
    "n": "number of",
    "se": "SE",
    "sd": "SD",
    "dpo": "DPO",
    "grpo": "GRPO",
    "kl": "KL",
}
NumberKind = Literal["count", "measure", "percent", "p", "plain"]
P_VALUE_NAMES = frozenset({"p_value", "p_adjusted", "p"})
PLAIN_NAMES = frozenset({"row", "line", "seed", "year", "score"})  # whole numbers that are not amounts
COUNT_NAMES = frozenset(
    {
        "n",
        "raters",
        "pairs",
        "ratings",
        "prompts",
        "responses",
        "flipped",
        "response_pairs",
        "step",
        "max_steps",
    }
)
NUMBER_FORMATS: dict[str, str] = {"count": "localized", "measure": "%.2f", "percent": "%.1f%%", "plain": "%d"}


def readable_name(name: str, labels: Mapping[str, str] | None = None) -> str:
    """The name a person reads for a column, attribute or metric called ``name`` in the code.

    ``labels`` holds the dataset's own labels (attributes, dimensions) and wins; then
    :data:`COLUMN_LABELS`; else the words of a ``snake_case`` name, capitalised (``n_units`` → "Number of
    units"). A name that already reads as words (a space, a capital) is returned as it is.
    """
    if labels and name in labels and labels[name]:
        return str(labels[name])
    if name in COLUMN_LABELS:
        return COLUMN_LABELS[name]
    if not re.fullmatch(r"[a-z0-9_]+", name):
        return name
    words = [WORDS.get(word, word) for word in name.split("_") if word]
    text = " ".join(words) or name
    return text[:1].upper() + text[1:]


def number_kind(name: str) -> NumberKind:
    """How a numeric column's values read: a count, a measure (mean, alpha, share), a percent, a p-value, or
    a plain whole number that is no amount (a row number, a seed, an answer on the scale)."""
    if name in P_VALUE_NAMES:
        return "p"
    if name in PLAIN_NAMES:
        return "plain"
    if name in COUNT_NAMES or name.startswith("n_"):
        return "count"
    if "pct" in name.split("_") or name.startswith("measured_ci_"):
        return "percent"
    return "measure"


def format_number(value: float | None, kind: NumberKind) -> str:
    """One number as text in the page's single style (metrics, captions): ``1,094``, ``3.21``, ``12.5%``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not estimable"
    if kind == "p":
        return format_p(float(value))
    if kind == "count":
        return f"{round(float(value)):,}"
    if kind == "plain":
        return f"{round(float(value))}"
    if kind == "percent":
        return f"{float(value):,.1f}%"
    return f"{float(value):,.2f}"


def number_format(name: str) -> str:
    """The column format (Streamlit ``NumberColumn`` ``format``) for a numeric column called ``name``."""
    kind = number_kind(name)
    return NUMBER_FORMATS.get(kind, NUMBER_FORMATS["measure"])
