"""Every statistic of ``pluralign_core.analysis`` against an independent computation on the raw rows.

The raw rows are the bundle's own DataFrames (never read back through the code under test); the
references are pandas group-bys, statsmodels OLS with rater-clustered covariance, and scipy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from pluralign_core.analysis import (
    AnalysisFilter,
    group_means,
    percent_differences,
    score_distribution,
)
from pluralign_core.analysis.effects import adjust_p_values
from pluralign_core.ratings.schema import STUDY_DIMENSIONS, Attribute, DatasetInfo, Scale
from pluralign_core.store.database import DatasetBundle, Store
from pluralign_core.store.selection import RaterSelection
from tests.factories import tiny_bundle


def unbalanced_bundle(dataset_id: str = "unbal", n_raters: int = 36, seed: int = 1, keep: float = 0.7):
    """tiny_bundle with a random ~30% of ratings removed and rater-level leniency, so clustering matters."""
    bundle = tiny_bundle(dataset_id, n_raters=n_raters, seed=seed)
    rng = np.random.default_rng(seed)
    ratings = bundle.ratings
    leniency = dict(zip(bundle.raters.rater_id, rng.integers(-1, 2, n_raters), strict=True))
    ratings["score"] = np.clip(ratings.score + ratings.rater_id.map(leniency), 1, 5)
    bundle.ratings = ratings[rng.random(len(ratings)) < keep].reset_index(drop=True)
    return bundle


def raw_rows(bundle: DatasetBundle, attribute: str) -> pd.DataFrame:
    """Ratings joined to one attribute, a rater repeated once per value (pandas only)."""
    attrs = bundle.rater_attributes[bundle.rater_attributes.attribute == attribute]
    return bundle.ratings.merge(
        attrs[["rater_id", "value"]].rename(columns={"value": "group"}), on="rater_id"
    )


def cluster_ols(rows: pd.DataFrame, formula: str):
    return smf.ols(formula, rows).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(rows.rater_id)[0]}, use_t=True
    )


@pytest.fixture
def unbalanced(store: Store):
    bundle = unbalanced_bundle()
    store.write_dataset(bundle)
    return store, bundle


def one_dimension_bundle(scores_by_rater: list[list[int]], dataset_id: str = "known") -> DatasetBundle:
    """Rater i gives the scores in ``scores_by_rater[i]``, one per response, on toxicity only."""
    n_items = max(len(s) for s in scores_by_rater)
    raters = pd.DataFrame({"rater_id": [f"r{i}" for i in range(len(scores_by_rater))]})
    responses = pd.DataFrame(
        {
            "response_id": [f"a{j}" for j in range(n_items)],
            "prompt_id": None,
            "text": [f"answer {j}" for j in range(n_items)],
            "language": "en",
        }
    )
    ratings = pd.DataFrame(
        [
            (f"r{i}", f"a{j}", "toxicity", s)
            for i, row in enumerate(scores_by_rater)
            for j, s in enumerate(row)
        ],
        columns=["rater_id", "response_id", "dimension", "score"],
    )
    attrs = pd.DataFrame({"rater_id": raters.rater_id, "attribute": "gender", "value": "woman"})
    prompts = pd.DataFrame(columns=["prompt_id", "prompt_key", "text", "language", "topic", "split"])
    return DatasetBundle(
        DatasetInfo(dataset_id, "known case", scale=Scale()),
        [STUDY_DIMENSIONS[0]],
        [Attribute("gender", "Gender")],
        raters,
        attrs,
        prompts,
        responses,
        ratings,
    )


def test_ci_of_a_mean_matches_the_textbook_t_interval(store: Store):
    # Five raters, one rating each: 1..5. mean 3, s = sqrt(2.5), se = s/sqrt(5) = 0.70711,
    # t(0.975, 4) = 2.776445 -> CI 3 ± 1.963243.
    store.write_dataset(one_dimension_bundle([[1], [2], [3], [4], [5]]))
    row = group_means(store, "known", "gender", min_group_raters=1).iloc[0]
    assert row["mean"] == pytest.approx(3.0)
    assert row["se"] == pytest.approx(np.sqrt(0.5), rel=1e-12)
    assert row["ci_low"] == pytest.approx(1.036757, abs=1e-6)
    assert row["ci_high"] == pytest.approx(4.963243, abs=1e-6)
    assert row["sd"] == pytest.approx(np.sqrt(2.5))


def test_repeated_ratings_of_one_rater_do_not_shrink_the_interval(store: Store):
    # Each rater repeats their score on three responses: 15 ratings but still 5 independent raters,
    # so the clustered interval is exactly the one-rating-per-rater interval.
    store.write_dataset(one_dimension_bundle([[v] * 3 for v in range(1, 6)]))
    row = group_means(store, "known", "gender", min_group_raters=1).iloc[0]
    assert row["n_ratings"] == 15 and row["n_raters"] == 5
    assert row["ci_low"] == pytest.approx(1.036757, abs=1e-6)
    naive_se = np.std(np.repeat(np.arange(1, 6), 3), ddof=1) / np.sqrt(15)
    assert row["se"] > 1.5 * naive_se


def test_group_means_match_pandas_and_clustered_ols(unbalanced):
    store, bundle = unbalanced
    table = group_means(store, "unbal", "gender", min_group_raters=1)
    rows = raw_rows(bundle, "gender")
    assert len(table) == rows.groupby(["dimension", "group"]).ngroups
    for r in table.itertuples():
        sub = rows[(rows.dimension == r.dimension) & (rows.group == r.group)]
        fit = cluster_ols(sub, "score ~ 1")
        assert r.mean == pytest.approx(sub.score.mean())
        assert r.sd == pytest.approx(sub.score.std(ddof=1))
        assert r.n_ratings == len(sub) and r.n_raters == sub.rater_id.nunique()
        assert r.se == pytest.approx(fit.bse["Intercept"], rel=1e-9)
        t = stats.t.ppf(0.975, sub.rater_id.nunique() - 1)
        assert r.ci_low == pytest.approx(sub.score.mean() - t * fit.bse["Intercept"])


def test_multi_valued_attribute_counts_a_rater_in_each_group(unbalanced):
    store, bundle = unbalanced
    table = group_means(store, "unbal", "race", ["toxicity"], min_group_raters=1).set_index("group")
    rows = raw_rows(bundle, "race").query("dimension == 'toxicity'")
    expected = rows.groupby("group").agg(mean=("score", "mean"), raters=("rater_id", "nunique"))
    assert set(table.index) == {"White", "Black", "Asian"}
    assert table.n_raters.sum() > bundle.ratings.query("dimension == 'toxicity'").rater_id.nunique()
    for group, e in expected.iterrows():
        assert table.loc[group, "mean"] == pytest.approx(e["mean"])
        assert table.loc[group, "n_raters"] == e["raters"]


def test_filters_on_rater_and_prompt_attributes_match_pandas(unbalanced):
    store, bundle = unbalanced
    filt = AnalysisFilter(RaterSelection({"country": ("US",)}), splits=("train",))
    table = group_means(store, "unbal", "gender", filter=filt, min_group_raters=1)
    us = bundle.rater_attributes.query("attribute == 'country' and value == 'US'").rater_id
    train_prompts = bundle.prompts.query("split == 'train'").prompt_id
    train_responses = bundle.responses[bundle.responses.prompt_id.isin(train_prompts)].response_id
    rows = raw_rows(bundle, "gender")
    rows = rows[rows.rater_id.isin(us) & rows.response_id.isin(train_responses)]
    expected = rows.groupby(["dimension", "group"]).score.mean()
    got = table.set_index(["dimension", "group"])["mean"]
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)
    assert AnalysisFilter.from_pairs(["country=US", "split=train"]) == filt
    parsed = AnalysisFilter.from_pairs(["rater.language=de", "prompt.language=en|de", "topic=gender"])
    assert parsed.raters.filters == {"language": ("de",)} and parsed.languages == ("en", "de")
    with pytest.raises(ValueError, match="attribute=value"):
        AnalysisFilter.from_pairs(["country"])


def test_cross_of_two_attributes_matches_pandas(unbalanced):
    store, bundle = unbalanced
    table = group_means(store, "unbal", "gender", attribute2="country", min_group_raters=1)
    rows = raw_rows(bundle, "gender").merge(
        bundle.rater_attributes.query("attribute == 'country'")[["rater_id", "value"]], on="rater_id"
    )
    expected = rows.groupby(["dimension", "group", "value"]).score.mean()
    got = table.set_index(["dimension", "group", "group2"])["mean"]
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)


def test_small_groups_are_flagged_not_dropped(unbalanced):
    store, _ = unbalanced
    table = group_means(store, "unbal", "gender", min_group_raters=30)
    assert set(table.group) == {"woman", "man"} and table.small_group.all()
    assert not group_means(store, "unbal", "gender", min_group_raters=5).small_group.any()


def test_raters_without_a_value_form_their_own_group(store: Store):
    bundle = unbalanced_bundle("missing")
    drop = bundle.rater_attributes.rater_id.isin(["r000", "r001"]) & (
        bundle.rater_attributes.attribute == "gender"
    )
    bundle.rater_attributes = bundle.rater_attributes[~drop]
    store.write_dataset(bundle)
    table = group_means(store, "missing", "gender", ["toxicity"], min_group_raters=1)
    assert list(table.group) == ["woman", "man", "(not given)"]
    assert table.set_index("group").loc["(not given)", "n_raters"] == 2


def test_score_distribution_matches_value_counts(unbalanced):
    store, bundle = unbalanced
    table = score_distribution(store, "unbal", "gender")
    rows = raw_rows(bundle, "gender")
    expected = rows.groupby(["dimension", "group"]).score.value_counts(normalize=True)
    got = table.set_index(["dimension", "group", "score"]).share
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)
    assert list(table.group.unique()) == ["woman", "man"]


def test_percent_difference_matches_delta_method_on_clustered_ols(unbalanced):
    store, bundle = unbalanced
    table = percent_differences(store, "unbal", "race", reference="White", correction="none")
    rows = raw_rows(bundle, "race")
    for r in table.itertuples():
        sub = rows[(rows.dimension == r.dimension) & rows.group.isin([r.group, "White"])].copy()
        sub["g"] = (sub.group == r.group).astype(float)
        sub["ref"] = 1 - sub.g
        fit = cluster_ols(sub, "score ~ 0 + g + ref")  # overlapping raters appear in both groups
        m_g, m_r = fit.params["g"], fit.params["ref"]
        grad = np.array([100 / m_r, -100 * m_g / m_r**2])
        se = float(np.sqrt(grad @ fit.cov_params().loc[["g", "ref"], ["g", "ref"]].to_numpy() @ grad))
        assert r.pct_diff == pytest.approx(100 * (m_g / m_r - 1))
        assert r.pct_se == pytest.approx(se, rel=1e-9)
        contrast = fit.t_test("g - ref = 0")
        assert r.diff_se == pytest.approx(float(contrast.sd.squeeze()), rel=1e-9)
        t = r.diff / r.diff_se
        assert r.p_value == pytest.approx(2 * stats.t.sf(abs(t), sub.rater_id.nunique() - 1))


def test_percent_difference_reproduces_a_hand_computed_gap(store: Store):
    # Women rate 4 and 4 (mean 4), men 3 and 4 (mean 3.5): men rate 12.5% lower, as computed by hand.
    bundle = one_dimension_bundle([[4], [4], [3], [4]], "gap")
    bundle.rater_attributes = pd.DataFrame(
        {
            "rater_id": ["r0", "r1", "r2", "r3"],
            "attribute": "gender",
            "value": ["woman", "woman", "man", "man"],
        }
    )
    store.write_dataset(bundle)
    row = percent_differences(store, "gap", "gender", reference="woman").iloc[0]
    assert row.group == "man" and row.pct_diff == pytest.approx(-12.5)


def test_holm_and_bh_adjustments_match_hand_computation():
    p = pd.Series([0.01, 0.04, 0.03, 0.005])
    order = np.argsort(p.to_numpy())
    m = len(p)
    holm = np.maximum.accumulate([(m - i) * p.iloc[k] for i, k in enumerate(order)]).clip(max=1)
    expected_holm = pd.Series(holm, index=order).sort_index()
    np.testing.assert_allclose(adjust_p_values(p, "holm"), expected_holm)
    bh = np.minimum.accumulate([p.iloc[k] * m / (i + 1) for i, k in reversed(list(enumerate(order)))])[::-1]
    np.testing.assert_allclose(adjust_p_values(p, "bh"), pd.Series(bh, index=order).sort_index())
    np.testing.assert_allclose(adjust_p_values(p, "none"), p)


def test_percent_differences_table_adjusts_across_groups_and_dimensions(unbalanced):
    store, _ = unbalanced
    raw = percent_differences(store, "unbal", "race", reference="White", correction="none")
    holm = percent_differences(store, "unbal", "race", reference="White", correction="holm")
    np.testing.assert_allclose(holm.p_adjusted, adjust_p_values(raw.p_value, "holm"))
    assert len(holm) == 4 and (holm.p_adjusted >= holm.p_value - 1e-15).all()
    with pytest.raises(ValueError, match="reference group"):
        percent_differences(store, "unbal", "gender", reference="nobody")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), keep=st.floats(0.3, 1.0))
def test_group_means_property_sizes_add_up_and_means_match(store: Store, seed: int, keep: float):
    bundle = unbalanced_bundle(f"prop{seed}", n_raters=10, seed=seed, keep=keep)
    store.write_dataset(bundle, replace=True)
    table = group_means(store, f"prop{seed}", "gender", min_group_raters=1)
    rows = raw_rows(bundle, "gender")
    assert table.n_ratings.sum() == len(bundle.ratings)
    expected = rows.groupby(["dimension", "group"]).score.mean()
    got = table.set_index(["dimension", "group"])["mean"]
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)
    assert ((table.ci_low <= table["mean"]) | table.se.isna()).all()


def test_pooled_difference_pools_values_and_matches_pandas(unbalanced):
    store, bundle = unbalanced
    from pluralign_core.analysis.effects import pooled_difference

    single = percent_differences(store, "unbal", "gender", reference="woman", dimensions=["toxicity"]).iloc[0]
    same = pooled_difference(store, "unbal", "gender", "toxicity", ("man",), ("woman",))
    assert same["pct_diff"] == pytest.approx(single.pct_diff) and same["pct_se"] == pytest.approx(
        single.pct_se
    )
    pooled = pooled_difference(store, "unbal", "race", "toxicity", ("Black", "Asian"), ("White",))
    rows = raw_rows(bundle, "race").query("dimension == 'toxicity'")
    in_group = rows[rows.group.isin(["Black", "Asian"])].drop_duplicates(["rater_id", "response_id"])
    in_reference = rows[rows.group == "White"]
    assert pooled["pct_diff"] == pytest.approx(100 * (in_group.score.mean() / in_reference.score.mean() - 1))
    assert pooled["n_raters"] == in_group.rater_id.nunique()


def test_analyze_command_prints_and_writes_csv(unbalanced, tmp_path, capsys):
    from pluralign_core import cli

    out = tmp_path / "gender.csv"
    code = cli.main(
        ["analyze", "--dataset", "unbal", "--attribute", "gender", "--dimension", "toxicity",
         "--reference", "woman", "--filter", "country=US", "--csv", str(out)]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "country=US" in printed and "% difference vs woman" in printed
    table = pd.read_csv(out)
    assert list(table.group) == ["woman", "man"] and table.pct_diff.notna().sum() == 1
    assert table.diff_ci_low.notna().sum() == 1 and "scale points" in printed
    assert cli.main(["analyze", "--dataset", "unbal", "--attribute", "shoe_size"]) == 2
    assert "no attribute 'shoe_size'" in capsys.readouterr().err
