"""A comparison of two single-rater groups: no rater-clustered uncertainty, so nothing estimable."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pluralign_core.analysis.effects import compare_groups


def test_two_lone_raters_give_a_mean_but_no_difference_or_p_value() -> None:
    per_rater = pd.DataFrame({"group": ["a", "b"], "rater_id": ["r1", "r2"], "n": [4, 4], "s": [12.0, 8.0]})
    row = compare_groups(per_rater, "a", "b")
    assert row["mean"] == 3.0 and row["mean_reference"] == 2.0
    assert not row["estimable"]
    assert np.isnan(row["pct_diff"]) and np.isnan(row["p_value"])
