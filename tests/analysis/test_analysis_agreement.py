"""Krippendorff's alpha against the published worked example and raw-row recomputation; the
between/within decomposition against pandas; the mixed model against a planted effect."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pluralign_core.analysis import alpha_by_group, disagreement_decomposition, mixed_model
from pluralign_core.analysis.agreement import alpha_from_reliability_data, krippendorff_alpha
from pluralign_core.store.database import Store
from tests.analysis.test_analysis import raw_rows, unbalanced_bundle
from tests.factories import tiny_bundle

NAN = np.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers, 12 units,
# missing values; published alpha: nominal 0.743, ordinal 0.815, interval 0.849.
KRIPPENDORFF_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
        [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
    ]
)


@pytest.mark.parametrize(
    ("metric", "published"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)]
)
def test_alpha_reproduces_krippendorff_2011(metric: str, published: float):
    assert alpha_from_reliability_data(KRIPPENDORFF_2011, metric) == pytest.approx(published, abs=5e-4)


def test_alpha_is_one_for_perfect_agreement_and_ignores_unpairable_units():
    counts = np.array([[0, 3, 0], [2, 0, 0], [0, 0, 4], [0, 1, 0]])  # last unit has one rating only
    assert krippendorff_alpha(counts, np.array([1, 2, 3])) == pytest.approx(1.0)


def _alpha_from_rows(rows: pd.DataFrame) -> float:
    matrix = rows.pivot_table(index="rater_id", columns="response_id", values="score", aggfunc="first")
    return alpha_from_reliability_data(matrix.to_numpy(dtype=float), "ordinal")


def test_alpha_by_group_matches_raw_row_computation(store: Store):
    bundle = unbalanced_bundle("agree", n_raters=24)
    store.write_dataset(bundle)
    table = alpha_by_group(store, "agree", "gender").set_index(["dimension", "group"])
    rows = raw_rows(bundle, "gender")
    for dimension in ("toxicity", "emotional_awareness"):
        one = bundle.ratings[bundle.ratings.dimension == dimension]
        assert table.loc[(dimension, "all raters"), "alpha"] == pytest.approx(_alpha_from_rows(one))
        for group in ("woman", "man"):
            sub = rows[(rows.dimension == dimension) & (rows.group == group)]
            assert table.loc[(dimension, group), "alpha"] == pytest.approx(_alpha_from_rows(sub))
            assert table.loc[(dimension, group), "n_raters"] == sub.rater_id.nunique()


def test_disagreement_decomposition_matches_pandas(store: Store):
    bundle = unbalanced_bundle("decomp", n_raters=24)
    store.write_dataset(bundle)
    table = disagreement_decomposition(store, "decomp", "gender").set_index("dimension")
    rows = raw_rows(bundle, "gender")
    for dimension, one in rows.groupby("dimension"):
        item_mean = one.groupby("response_id").score.transform("mean")
        cell_mean = one.groupby(["response_id", "group"]).score.transform("mean")
        total = ((one.score - item_mean) ** 2).sum()
        between = ((cell_mean - item_mean) ** 2).sum()
        within = ((one.score - cell_mean) ** 2).groupby(one.response_id).sum()
        units = one.groupby("response_id").agg(n=("score", "size"), k=("group", "nunique"))
        df = units.n - units.k
        mean_square = (within / df).where(df > 0, within.sum() / df.sum())
        null = ((units.k - 1) * mean_square).sum()
        assert table.loc[dimension, "ss_total"] == pytest.approx(total)
        assert table.loc[dimension, "share_between_raw"] == pytest.approx(between / total)
        assert table.loc[dimension, "ss_between_null"] == pytest.approx(null)
        assert table.loc[dimension, "share_between"] == pytest.approx(max(0.0, (between - null) / total))


def test_group_gap_shows_up_as_between_group_disagreement(store: Store):
    bundle = tiny_bundle("gap", n_raters=20)
    women = bundle.rater_attributes.query("attribute == 'gender' and value == 'woman'").rater_id
    bundle.ratings["score"] = np.where(bundle.ratings.rater_id.isin(women), 4, 2)
    store.write_dataset(bundle)
    table = disagreement_decomposition(store, "gap", "gender")
    assert table.share_between.to_numpy() == pytest.approx(1.0)
    alphas = alpha_by_group(store, "gap", "gender").set_index("group").alpha
    assert (alphas.drop("all raters").isna() | (alphas.drop("all raters") >= 0.99)).all()
    assert (alphas.loc["all raters"] < 0.2).all()


def test_mixed_model_recovers_a_planted_group_effect(store: Store):
    rng = np.random.default_rng(3)
    bundle = tiny_bundle("planted", n_raters=60, n_prompts=4, seed=3)
    men = set(bundle.rater_attributes.query("attribute == 'gender' and value == 'man'").rater_id)
    leniency = {r: rng.normal(0, 0.4) for r in bundle.raters.rater_id}
    item = {r: rng.normal(0, 0.5) for r in bundle.responses.response_id}
    latent = (
        3.0
        + bundle.ratings.rater_id.map(lambda r: -0.8 if r in men else 0.0)
        + bundle.ratings.rater_id.map(leniency)
        + bundle.ratings.response_id.map(item)
        + rng.normal(0, 0.5, len(bundle.ratings))
    )
    bundle.ratings["score"] = np.clip(np.rint(latent), 1, 5).astype(int)
    store.write_dataset(bundle)
    table = mixed_model(store, "planted", "gender", reference="woman", dimensions=["toxicity"])
    row = table.iloc[0]
    assert row.group == "man" and row.reference == "woman"
    assert row.ci_low < -0.8 < row.ci_high or abs(row.coef + 0.8) < 0.15
    assert row.p_value < 1e-6 and row.note == ""
    capped = mixed_model(store, "planted", "gender", dimensions=["toxicity"], max_raters=40)
    assert "random sample of 40" in capped.note.iloc[0]


def test_unit_value_counts_matches_a_pivot_table_and_drops_off_scale_scores() -> None:
    from pluralign_core.analysis.agreement import unit_value_counts

    rng = np.random.default_rng(3)
    rows = pd.DataFrame(
        {
            "unit": rng.choice([f"r{i}" for i in range(40)], 300),
            "score": rng.integers(0, 7, 300),  # 0 and 6 lie off the 1..5 scale
            "n": rng.integers(1, 4, 300),
        }
    )
    scale_values = np.arange(1, 6)
    pivot = rows.pivot_table(index="unit", columns="score", values="n", aggfunc="sum", fill_value=0)
    pivot = pivot.reindex(index=pd.unique(rows.unit), columns=scale_values, fill_value=0)
    np.testing.assert_array_equal(unit_value_counts(rows, scale_values), pivot.to_numpy())
