"""Display helpers of the analysis tables: p-values, clipped CIs, small-group flags, answer order."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from pluralign_core.analysis import display
from pluralign_core.ratings.schema import Scale


def test_p_values_never_print_as_a_run_of_zeros() -> None:
    assert display.format_p(3e-12) == "< 0.001"
    assert display.format_p(0.0) == "< 0.001"
    assert display.format_p(0.0123) == "0.012"
    assert display.format_p(float("nan")) == "not estimable"


@given(st.floats(-3, 9), st.floats(0, 6))
def test_clipped_interval_stays_on_the_scale_and_says_so(centre: float, half: float) -> None:
    scale = Scale(1, 5, ())
    table = pd.DataFrame({"mean": [centre], "ci_low": [centre - half], "ci_high": [centre + half]})
    shown = display.clip_to_scale(table, scale).iloc[0]
    assert 1 <= shown.ci_low_shown <= shown.ci_high_shown <= 5
    assert shown.ci_clipped == (centre - half < 1 or centre + half > 5)
    assert shown.ci_low == centre - half  # the table keeps the unclipped interval


def test_single_rater_group_is_flagged_small() -> None:
    table = pd.DataFrame({"n_raters": [1, 2, 40, np.nan]})
    assert display.flag_small(table, 5).small_group.tolist() == [True, True, False, True]


def test_answers_are_ordered_by_value_with_the_datasets_labels_and_a_diverging_palette() -> None:
    labels = ("not offensive", "slightly", "moderately", "offensive", "very offensive")
    scale = Scale(1, 5, labels)
    assert display.answer_order(scale) == [f"{i} {label}" for i, label in enumerate(labels, start=1)]
    assert display.answer_order(Scale(0, 3, ())) == ["0", "1", "2", "3"]
    colours = display.answer_colours(scale)
    rgb = [tuple(int(v) for v in c[c.index("(") + 1 : -1].split(",")) for c in colours]
    assert len(set(colours)) == 5
    assert rgb[0][0] > rgb[0][2] and rgb[-1][2] > rgb[-1][0]  # red at the low end, blue at the high end
