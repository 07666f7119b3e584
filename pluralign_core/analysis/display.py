"""How the analysis tables are shown: p-values, intervals on a bounded scale, small groups, answer order.

The statistics are computed elsewhere in :mod:`pluralign_core.analysis`; these helpers only decide how a
number reaches the reader, so that every page (and every CSV next to it) says the same thing:

* a p-value prints as ``< 0.001`` rather than a run of zeros;
* a rater-clustered CI of a mean is symmetric and can reach past the rating scale when a group has two or
  three raters; it is *shown clipped* at the scale ends, and the clipping is flagged, rather than
  recomputed on a bounded scale (the table keeps the unclipped numbers);
* every table with groups carries a ``small_group`` flag, and groups with fewer than 2 raters are
  *not estimable* (no CI, no % difference, no p-value);
* answers (scores) are listed lowest first with the dataset's own scale labels and a diverging palette.
"""

from __future__ import annotations

import math

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
