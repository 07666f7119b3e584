"""The store writes datasets atomically and refuses inconsistent ones."""

from __future__ import annotations

import pandas as pd
import pytest

from pluralign_core.store.database import DatasetError, Store
from tests.factories import tiny_bundle


def _counts(store: Store) -> dict[str, int]:
    tables = ["raters", "rater_attributes", "prompts", "responses", "ratings", "datasets"]
    return {t: int(store.query(f"SELECT count(*) FROM {t}").iloc[0, 0]) for t in tables}


def test_write_and_read_back(store: Store) -> None:
    bundle = tiny_bundle()
    fingerprint = store.write_dataset(bundle)
    assert len(fingerprint) == 16
    listed = store.datasets().set_index("dataset_id").loc["tiny"]
    assert listed.n_raters == 12
    assert listed.n_ratings == len(bundle.ratings)
    assert [d.name for d in store.dimensions("tiny")] == [d.name for d in bundle.dimensions]
    wide = store.raters_wide("tiny").set_index("rater_id")
    assert wide.loc["r000", "race"] == "Asian; White"
    assert store.active_dataset() == "tiny"


def test_datasets_live_side_by_side_and_active_is_remembered(store: Store) -> None:
    store.write_dataset(tiny_bundle("a"))
    store.write_dataset(tiny_bundle("b", seed=1))
    store.set_active_dataset("a")
    assert Store(store.path).active_dataset() == "a"
    assert set(store.datasets().dataset_id) == {"a", "b"}
    store.delete_dataset("a")
    assert store.active_dataset() == "b"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b.ratings.__setitem__("score", 9), "outside"),
        (lambda b: setattr(b, "raters", pd.concat([b.raters, b.raters.head(1)])), "duplicate rater"),
        (lambda b: b.ratings.__setitem__("dimension", "nonsense"), "dimensions"),
        (lambda b: b.ratings.__setitem__("rater_id", "ghost"), "unknown raters"),
        (lambda b: setattr(b, "ratings", pd.concat([b.ratings, b.ratings.head(1)])), "more than once"),
    ],
)
def test_inconsistent_dataset_leaves_store_unchanged(store: Store, mutate, message: str) -> None:
    store.write_dataset(tiny_bundle("kept"))
    before = _counts(store)
    bad = tiny_bundle("bad")
    mutate(bad)
    with pytest.raises(DatasetError, match=message):
        store.write_dataset(bad)
    assert _counts(store) == before


def test_existing_id_needs_replace(store: Store) -> None:
    store.write_dataset(tiny_bundle())
    with pytest.raises(DatasetError, match="exists already"):
        store.write_dataset(tiny_bundle())
    store.write_dataset(tiny_bundle(n_raters=4), replace=True)
    assert store.datasets().n_raters.tolist() == [4]


def test_artifact_registry_roundtrip(store: Store) -> None:
    artifact_id = store.register_artifact("adapter", "women-dpo", path="/tmp/x", config={"beta": 0.1})
    store.register_artifact("adapter", "women-dpo", artifact_id=artifact_id, status="failed")
    row = store.artifact(artifact_id)
    assert row["config"] == {"beta": 0.1} and row["status"] == "failed" and row["path"] == "/tmp/x"
    with pytest.raises(ValueError, match="unknown artifact kind"):
        store.register_artifact("nonsense", "x")
