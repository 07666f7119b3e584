"""The mixed model against statsmodels MixedLM with one dummy per response, on data where centring only
the score (the old shortcut) shrinks the coefficient; attributes that do not vary within a response."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from pluralign_core.analysis import mixed_model
from pluralign_core.analysis.regression import COLLINEAR, NOT_WITHIN
from pluralign_core.store.database import DatasetBundle, Store
from tests.factories import tiny_bundle


def sparse_bundle(dataset_id: str, *, per_rater: int = 7, language_split: bool = False) -> DatasetBundle:
    """100 raters, 72 responses, each rater rates ``per_rater`` of them (about 10 ratings per response),
    with a planted men-vs-women gap of −0.45, rater leniency and response levels. With
    ``language_split`` US raters rate only the first half of the responses and DE raters the second."""
    rng = np.random.default_rng(7)
    bundle = tiny_bundle(dataset_id, n_raters=100, n_prompts=24, responses_per_prompt=3, seed=7)
    responses = bundle.responses.response_id.to_numpy()
    country = bundle.rater_attributes.query("attribute == 'country'").set_index("rater_id").value
    gender = bundle.rater_attributes.query("attribute == 'gender'").set_index("rater_id").value
    rows = []
    for rater in bundle.raters.rater_id:
        pool = responses
        if language_split:
            half = len(responses) // 2
            pool = responses[:half] if country[rater] == "US" else responses[half:]
        rows += [(rater, r) for r in rng.choice(pool, per_rater, replace=False)]
    ratings = pd.DataFrame(rows, columns=["rater_id", "response_id"]).assign(dimension="toxicity")
    level = dict(zip(responses, rng.normal(0, 0.8, len(responses)), strict=True))
    leniency = dict(zip(bundle.raters.rater_id, rng.normal(0, 0.5, 100), strict=True))
    latent = (
        3.0
        + ratings.response_id.map(level)
        + ratings.rater_id.map(leniency)
        - 0.45 * (ratings.rater_id.map(gender) == "man")
        + rng.normal(0, 0.6, len(ratings))
    )
    ratings["score"] = np.clip(np.rint(latent), 1, 5).astype(int)
    bundle.ratings = ratings
    bundle.dimensions = bundle.dimensions[:1]
    return bundle


def dummy_per_response_fit(bundle: DatasetBundle, attribute: str, group: str):
    values = bundle.rater_attributes.query("attribute == @attribute").set_index("rater_id").value
    rows = bundle.ratings.assign(g=(bundle.ratings.rater_id.map(values) == group).astype(float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smf.mixedlm("score ~ g + C(response_id)", rows, groups=rows.rater_id).fit(reml=True)


def test_coefficient_matches_a_fit_with_one_dummy_per_response(store: Store):
    bundle = sparse_bundle("sparse")
    store.write_dataset(bundle)
    row = mixed_model(store, "sparse", "gender", reference="woman").iloc[0]
    reference = dummy_per_response_fit(bundle, "gender", "man")
    assert bundle.ratings.response_id.nunique() > 60  # where the old shortcut centred the score only
    assert row.identified and row.group == "man"
    assert row.coef == pytest.approx(reference.params["g"], rel=0.01)
    assert row.se == pytest.approx(reference.bse["g"], rel=0.01)
    assert row.p_value == pytest.approx(reference.pvalues["g"], rel=0.05, abs=1e-12)


def test_attribute_constant_within_every_response_is_not_identified(store: Store):
    bundle = sparse_bundle("split", language_split=True)
    store.write_dataset(bundle)
    country = mixed_model(store, "split", "country", reference="US").iloc[0]
    assert not country.identified and country.group == "DE"
    assert np.isnan([country.coef, country.se, country.p_value, country.ci_low]).all()
    assert country.note == NOT_WITHIN
    gender = mixed_model(store, "split", "gender", reference="woman").iloc[0]
    assert gender.identified and gender.ci_low < -0.45 < gender.ci_high


def test_few_responses_country_case_reports_not_identified_instead_of_collinear_error(store: Store):
    bundle = tiny_bundle("lang", n_raters=12, n_prompts=2, responses_per_prompt=2)
    us = set(bundle.rater_attributes.query("attribute == 'country' and value == 'US'").rater_id)
    first_half = {"p0-a0", "p0-a1"}
    keep = bundle.ratings.rater_id.isin(us) == bundle.ratings.response_id.isin(first_half)
    bundle.ratings = bundle.ratings[keep].reset_index(drop=True)
    store.write_dataset(bundle)
    table = mixed_model(store, "lang", "country", reference="US")
    assert len(table) == 2 and not table.identified.any() and (table.note == NOT_WITHIN).all()


def test_groups_that_add_up_to_everyone_leave_one_not_identified(store: Store):
    # Every rater is White or Black (a third also list Asian): with Asian as reference the White and
    # Black indicators sum to 1 on every row, so one of them cannot be separated from the response effects.
    store.write_dataset(tiny_bundle("race", n_raters=24))
    table = mixed_model(store, "race", "race", reference="Asian", dimensions=["toxicity"]).set_index("group")
    assert table.identified.tolist() == [True, False]
    assert table.note.iloc[1] == COLLINEAR and np.isnan(table.coef.iloc[1])


def test_default_reference_is_the_group_with_most_raters(store: Store):
    bundle = tiny_bundle("sizes", n_raters=12)
    bundle.rater_attributes.loc[
        (bundle.rater_attributes.attribute == "gender") & bundle.rater_attributes.rater_id.isin(["r000"]),
        "value",
    ] = "man"
    store.write_dataset(bundle)  # 5 women, 7 men
    assert set(mixed_model(store, "sizes", "gender").reference) == {"man"}
