"""The between-group share of disagreement is near 0 when groups do not differ, however many groups there
are, and clearly positive when they do."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pluralign_core.analysis import disagreement_decomposition
from pluralign_core.ratings.schema import Attribute
from pluralign_core.store.database import DatasetBundle, Store
from tests.factories import tiny_bundle

AGE_BANDS = ("18-29", "30-44", "45-59", "60-74", "75+")


def age_bundle(dataset_id: str, effect: float, seed: int) -> DatasetBundle:
    """300 raters in five age bands, 60 responses with 10 ratings each; the oldest band rates ``effect``
    points higher, nothing else depends on age."""
    rng = np.random.default_rng(seed)
    bundle = tiny_bundle(dataset_id, n_raters=300, n_prompts=20, responses_per_prompt=3, seed=seed)
    band = dict(zip(bundle.raters.rater_id, rng.choice(AGE_BANDS, 300), strict=True))
    ages = pd.DataFrame({"rater_id": list(band), "attribute": "age", "value": list(band.values())})
    bundle.rater_attributes = pd.concat([bundle.rater_attributes, ages], ignore_index=True)
    bundle.attributes = [*bundle.attributes, Attribute("age", "Age band", True, False, AGE_BANDS)]
    responses = bundle.responses.response_id.to_numpy()
    rows = [(rater, r) for r in responses for rater in rng.choice(bundle.raters.rater_id, 10, replace=False)]
    ratings = pd.DataFrame(rows, columns=["rater_id", "response_id"])
    ratings = pd.concat([ratings.assign(dimension=d.name) for d in bundle.dimensions], ignore_index=True)
    level = dict(zip(responses, rng.normal(3, 0.8, len(responses)), strict=True))
    latent = (
        ratings.response_id.map(level)
        + effect * (ratings.rater_id.map(band) == "75+")
        + rng.normal(0, 0.9, len(ratings))
    )
    ratings["score"] = np.clip(np.rint(latent), 1, 5).astype(int)
    bundle.ratings = ratings
    return bundle


@pytest.mark.parametrize("seed", [1, 2])
def test_no_group_effect_gives_a_share_near_zero(store: Store, seed: int):
    store.write_dataset(age_bundle(f"null{seed}", effect=0.0, seed=seed))
    table = disagreement_decomposition(store, f"null{seed}", "age")
    assert (table.share_between_raw > 0.3).all()  # the chance scatter of five small group means
    assert (table.share_between.abs() <= 0.05).all(), table
    np.testing.assert_allclose(table.share_within, 1 - table.share_between)


def test_a_group_effect_gives_a_clearly_positive_share(store: Store):
    store.write_dataset(age_bundle("effect", effect=2.0, seed=3))
    table = disagreement_decomposition(store, "effect", "age")
    assert (table.share_between > 0.15).all(), table
    assert (table.share_between < table.share_between_raw).all()
