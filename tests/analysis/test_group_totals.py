"""Group means read from the totals stored with a dataset equal those aggregated from its rows.

``write_dataset`` stores per-(attribute value, dimension) totals (:mod:`pluralign_core.store.group_totals`)
and unfiltered group means read them; these tests pin that the stored path gives exactly the live
aggregation's table and statsmodels' clustered OLS, on data shaped unlike the study: its own dimension
names and scale, a multi-valued attribute, a one-rater group, raters without a value, unequal rating
counts per rater.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from pluralign_core.analysis import AnalysisFilter, group_means
from pluralign_core.analysis.slices import NOT_GIVEN
from pluralign_core.ratings.schema import Attribute, DatasetInfo, Dimension, Scale
from pluralign_core.store.database import DatasetBundle, Store

DIMENSIONS = [Dimension("offensive", "Offensive", False), Dimension("funny", "Funny", True)]


def odd_bundle(dataset_id: str = "odd", seed: int = 4) -> DatasetBundle:
    """A 0..6 scale, two dimensions not in the study, texts without prompts, ragged ratings, a lone
    'Pacific Islander', raters listing two races, and raters who never gave their age band."""
    rng = np.random.default_rng(seed)
    n_raters, n_texts = 23, 9
    raters = pd.DataFrame({"rater_id": [f"w{i}" for i in range(n_raters)]})
    rows = []
    for i, rater in enumerate(raters.rater_id):
        rows.append((rater, "race", "Pacific Islander" if i == 0 else ["White", "Black", "Asian"][i % 3]))
        if i % 4 == 1:
            rows.append((rater, "race", "Hispanic"))
        if i % 5:
            rows.append((rater, "age_band", ["18-24", "25-34", "65+"][i % 3]))
    attributes = pd.DataFrame(rows, columns=["rater_id", "attribute", "value"])
    responses = pd.DataFrame(
        {
            "response_id": [f"t{j}" for j in range(n_texts)],
            "prompt_id": None,
            "text": [f"text {j}" for j in range(n_texts)],
            "language": "en",
        }
    )
    ratings = [
        (rater, f"t{j}", d.name, int(rng.integers(0, 7)))
        for i, rater in enumerate(raters.rater_id)
        for j in rng.choice(n_texts, 1 + i % 6, replace=False)
        for d in DIMENSIONS
        if rng.random() < 0.8
    ]
    prompts = pd.DataFrame(columns=["prompt_id", "prompt_key", "text", "language", "topic", "split"])
    return DatasetBundle(
        DatasetInfo(dataset_id, "odd shape", scale=Scale(0, 6, tuple(str(v) for v in range(7)))),
        DIMENSIONS,
        [Attribute("race", "Race", False, True, ("White", "Black")), Attribute("age_band", "Age band")],
        raters,
        attributes,
        prompts,
        responses,
        pd.DataFrame(ratings, columns=["rater_id", "response_id", "dimension", "score"]),
    )


def live(store: Store, dataset_id: str, attribute: str, **kwargs) -> pd.DataFrame:
    """Group means aggregated from the rows: once on request, once with the stored totals deleted."""
    asked = group_means(store, dataset_id, attribute, min_group_raters=1, stored_totals=False, **kwargs)
    with store.transaction() as con:
        con.execute("DELETE FROM group_totals WHERE dataset_id = ?", [dataset_id])
    fallen_back = group_means(store, dataset_id, attribute, min_group_raters=1, **kwargs)
    pd.testing.assert_frame_equal(asked, fallen_back, check_exact=True)
    return fallen_back


@pytest.mark.parametrize("attribute", ["race", "age_band", "undeclared"])
@pytest.mark.parametrize("dimensions", [None, ["funny"]])
def test_stored_totals_give_exactly_the_live_table(store: Store, attribute, dimensions):
    store.write_dataset(odd_bundle())
    stored = group_means(store, "odd", attribute, dimensions, min_group_raters=1)
    pd.testing.assert_frame_equal(
        stored, live(store, "odd", attribute, dimensions=dimensions), check_exact=True
    )
    assert len(stored) > 0


def test_stored_totals_match_clustered_ols_on_the_odd_shape(store: Store):
    bundle = odd_bundle()
    store.write_dataset(bundle)
    table = group_means(store, "odd", "age_band", min_group_raters=1)
    given = bundle.rater_attributes[bundle.rater_attributes.attribute == "age_band"]
    rows = bundle.ratings.merge(given[["rater_id", "value"]], on="rater_id", how="left")
    rows["value"] = rows["value"].fillna(NOT_GIVEN)
    assert NOT_GIVEN in set(table.group)
    for r in table.itertuples():
        sub = rows[(rows.dimension == r.dimension) & (rows.value == r.group)]
        fit = smf.ols("score ~ 1", sub).fit(
            cov_type="cluster", cov_kwds={"groups": pd.factorize(sub.rater_id)[0]}, use_t=True
        )
        assert r.mean == pytest.approx(sub.score.mean(), rel=1e-12)
        assert r.n_raters == sub.rater_id.nunique() and r.n_ratings == len(sub)
        assert r.se == pytest.approx(fit.bse["Intercept"], rel=1e-9)


def test_unfiltered_means_read_the_stored_totals_and_filtered_ones_the_rows(store: Store):
    store.write_dataset(odd_bundle())
    with store.transaction() as con:  # a marker only the stored path can return
        con.execute("UPDATE group_totals SET total = 0 WHERE dataset_id = 'odd' AND attribute = 'race'")
    assert (group_means(store, "odd", "race", min_group_raters=1)["mean"] == 0).all()
    by_rows = group_means(store, "odd", "race", filter=AnalysisFilter.from_pairs(["age_band=65+"]))
    assert (by_rows["mean"] > 0).all()


def test_replacing_and_deleting_a_dataset_keep_the_totals_in_step(store: Store):
    store.write_dataset(odd_bundle(seed=4))
    store.write_dataset(odd_bundle(seed=5), replace=True)
    stored = group_means(store, "odd", "race", min_group_raters=1)
    pd.testing.assert_frame_equal(stored, live(store, "odd", "race"), check_exact=True)
    store.delete_dataset("odd")
    assert store.query("SELECT count(*) AS n FROM group_totals").n.iloc[0] == 0


def test_a_store_from_before_the_table_gets_totals_once_reopened(store: Store):
    store.write_dataset(odd_bundle())
    expected = group_means(store, "odd", "race", min_group_raters=1)
    with store.transaction() as con:
        con.execute("DROP TABLE group_totals")
    reopened = Store(store.path)
    assert reopened.query("SELECT count(*) AS n FROM group_totals").n.iloc[0] > 0
    pd.testing.assert_frame_equal(group_means(reopened, "odd", "race", min_group_raters=1), expected)
