"""Catalogue questions the pages ask: they answer for one dataset only and agree with the bundle written."""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pluralign_core.store import catalog
from pluralign_core.store.database import Store
from tests.factories import tiny_bundle


def _bundle_with_gaps(dataset_id: str = "t"):
    """A tiny bundle where rater r001 states no gender and prompt p1 is German with no topic."""
    bundle = tiny_bundle(dataset_id, n_raters=6, n_prompts=3)
    attrs = bundle.rater_attributes
    bundle.rater_attributes = attrs[~((attrs.rater_id == "r001") & (attrs.attribute == "gender"))]
    bundle.prompts.loc[bundle.prompts.prompt_id == "p1", ["language", "topic"]] = ["de", None]
    return bundle


def test_fingerprint_is_empty_for_a_missing_dataset_and_changes_with_the_rows(store: Store):
    assert catalog.dataset_fingerprint(store, "t") == ""
    store.write_dataset(tiny_bundle("t", seed=0))
    first = catalog.dataset_fingerprint(store, "t")
    assert first and first == store.datasets().set_index("dataset_id").fingerprint["t"]
    store.write_dataset(tiny_bundle("t", seed=1), replace=True)
    assert catalog.dataset_fingerprint(store, "t") not in ("", first)


def test_attribute_value_counts_count_distinct_raters_per_value(store: Store):
    bundle = _bundle_with_gaps()
    store.write_dataset(bundle)
    store.write_dataset(tiny_bundle("other", n_raters=2))
    counts = catalog.attribute_value_counts(store, "t")
    expected = (
        bundle.rater_attributes.groupby(["attribute", "value"]).rater_id.nunique().rename("n").reset_index()
    )
    assert counts.to_dict("records") == expected.sort_values(["attribute", "value"]).to_dict("records")
    assert counts.set_index(["attribute", "value"]).n[("gender", "man")] == 2


def test_attribute_composition_counts_silent_raters_as_not_stated(store: Store):
    store.write_dataset(_bundle_with_gaps())
    gender = catalog.attribute_composition(store, "t", "gender", "not stated").set_index("value").raters
    assert gender.to_dict() == {"woman": 3, "man": 2, "not stated": 1}
    race = catalog.attribute_composition(store, "t", "race", "not stated").set_index("value").raters
    assert race["Asian"] == 2 and "not stated" not in race
    assert catalog.attribute_composition(store, "t", "unknown", "n/a").to_dict("records") == [
        {"value": "n/a", "raters": 6}
    ]


def test_prompt_facets_list_sorted_values_without_gaps(store: Store):
    store.write_dataset(_bundle_with_gaps())
    assert catalog.prompt_facets(store, "t") == {
        "language": ["de", "en"],
        "topic": ["gender"],
        "split": ["heldout", "train"],
    }
    assert catalog.prompt_facets(store, "absent") == {"language": [], "topic": [], "split": []}


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(n_prompts=st.integers(1, 4), per_prompt=st.integers(1, 3))
def test_response_texts_match_the_bundle(tmp_path_factory, n_prompts, per_prompt):
    store = Store(tmp_path_factory.mktemp("catalog") / "store.duckdb")
    bundle = tiny_bundle("t", n_raters=2, n_prompts=n_prompts, responses_per_prompt=per_prompt)
    store.write_dataset(bundle)
    store.write_dataset(tiny_bundle("other", n_raters=2, n_prompts=1))
    texts = catalog.response_texts(store, "t")
    assert texts == dict(zip(bundle.responses.response_id, bundle.responses.text, strict=True))
    assert pd.Series(list(texts)).str.startswith("p").all()
