"""% differences: the largest group is the default reference, a group of one rater is not estimable, and
the absolute difference in scale points comes with its own rater-clustered CI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pluralign_core.analysis import percent_differences
from pluralign_core.store.database import Store
from tests.analysis.test_analysis import cluster_ols, one_dimension_bundle, raw_rows


def lonely_bundle():
    """Alphabetically first group "agender" has one rater; "woman" has the most raters."""
    scores = [
        [4, 5, 4],
        [2, 3, 3],
        [3, 3, 4],
        [4, 2, 3],
        [5, 4, 4],
        [3, 4, 5],
        [4, 4, 3],
        [2, 4, 4],
        [5, 5, 3],
    ]
    bundle = one_dimension_bundle(scores, "lonely")
    values = ["agender", "man", "man", "man", "woman", "woman", "woman", "woman", "woman"]
    bundle.rater_attributes = pd.DataFrame(
        {"rater_id": bundle.raters.rater_id, "attribute": "gender", "value": values}
    )
    return bundle


def test_default_reference_is_the_group_with_most_raters(store: Store):
    store.write_dataset(lonely_bundle())
    table = percent_differences(store, "lonely", "gender").set_index("group")
    assert set(table.reference) == {"woman"} and set(table.index) == {"agender", "man"}


def test_a_group_of_one_rater_is_not_estimable(store: Store):
    store.write_dataset(lonely_bundle())
    table = percent_differences(store, "lonely", "gender", correction="none").set_index("group")
    lonely = table.loc["agender"]
    assert not lonely.estimable
    for column in ("pct_diff", "pct_ci_low", "pct_ci_high", "diff", "diff_ci_low", "p_value", "p_adjusted"):
        assert np.isnan(lonely[column]), column
    assert not lonely.significant
    assert table.loc["man"].estimable and np.isfinite(table.loc["man", ["pct_ci_low", "p_value"]]).all()
    against = percent_differences(store, "lonely", "gender", reference="agender")
    assert not against.estimable.any() and against.pct_ci_low.isna().all() and against.p_value.isna().all()


def test_absolute_difference_ci_matches_clustered_ols(store: Store):
    from tests.analysis.test_analysis import unbalanced_bundle

    bundle = unbalanced_bundle()
    store.write_dataset(bundle)
    table = percent_differences(store, "unbal", "gender", reference="woman", correction="none")
    rows = raw_rows(bundle, "gender")
    for r in table.itertuples():
        sub = rows[rows.dimension == r.dimension].assign(g=lambda f: (f.group == "man").astype(float))
        fit = cluster_ols(sub, "score ~ g")
        low, high = fit.conf_int().loc["g"]
        assert r.diff == pytest.approx(fit.params["g"])
        assert (r.diff_ci_low, r.diff_ci_high) == pytest.approx((low, high), rel=1e-9)
        assert r.estimable


def test_analyze_command_shows_not_estimable_and_the_definition(store: Store, capsys):
    from pluralign_core import cli

    store.write_dataset(lonely_bundle())
    code = cli.main(["analyze", "--dataset", "lonely", "--attribute", "gender", "--min-group-raters", "1"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "vs woman" in printed and "not estimable" in printed and "None" not in printed
    assert "100 × (group mean / reference mean − 1)" in printed
    with pytest.raises(SystemExit):
        cli.main(["analyze", "--help"])
    assert "scale points" in capsys.readouterr().out
