"""Unpaired (KTO) labels on standalone texts: counts add up, lower-is-better is oriented, trl's format."""

from __future__ import annotations

import pandas as pd
from datasets import load_from_disk

from pluralign_core.preferences.build import build_preferences
from pluralign_core.preferences.config import PreferenceConfig
from pluralign_core.preferences.export import export_preferences
from pluralign_core.preferences.unpaired import build_unpaired, export_unpaired, saved_sets, why_no_pairs
from pluralign_core.ratings.importing import import_dataset, infer_spec
from pluralign_core.ratings.reading import ImportSource
from pluralign_core.store.catalog import dataset_shape
from pluralign_core.store.database import Store
from pluralign_core.store.selection import RaterSelection
from tests.factories import tiny_bundle
from tests.fixtures_shapes import standalone


def _standalone(store: Store, *, lower_is_better: bool) -> None:
    shape = standalone()
    spec = infer_spec(shape.frame, "standalone")
    spec.dimensions[0].higher_is_better = not lower_is_better
    assert import_dataset(store, ImportSource("s.csv", shape.csv()), spec).written


def test_standalone_texts_explain_why_no_pairs_and_get_labels(store: Store) -> None:
    _standalone(store, lower_is_better=True)
    shape = dataset_shape(store, "standalone")
    assert shape.n_prompts == 0 and not shape.has_pairs and shape.n_standalone == 16
    assert "no prompts" in why_no_pairs(shape.n_prompts, shape.n_shared_prompts)
    result = build_unpaired(store, "standalone", "offensiveness")
    stats = result.stats
    assert stats["texts"] == 16 and stats["labelled"] + stats["ties_dropped"] == stats["texts"]
    assert stats["desirable"] + stats["undesirable"] == stats["labelled"] == len(result.labels)
    assert stats["raters_used"] == stats["raters_selected"] == 30
    ratings = store.query("SELECT response_id, avg(score) AS m FROM ratings GROUP BY 1").set_index(
        "response_id"
    )
    expected = ratings.m.loc[result.labels.response_id] < 3  # lower is better: a low mean is desirable
    assert result.labels.label.tolist() == expected.tolist()
    assert result.labels.agreement.between(0.5, 1.0).all()


def test_selection_narrows_the_raters_and_higher_is_better_flips_labels(store: Store) -> None:
    _standalone(store, lower_is_better=False)
    women = build_unpaired(store, "standalone", "offensiveness", RaterSelection({"gender": ("woman",)}))
    n_women = int(standalone().frame.drop_duplicates("worker_id").gender.eq("woman").sum())
    assert women.stats["raters_selected"] == n_women and women.labels.n_raters.max() <= n_women
    everyone = build_unpaired(store, "standalone", "offensiveness")
    means = store.query("SELECT response_id, avg(score) AS m FROM ratings GROUP BY 1").set_index(
        "response_id"
    )
    assert everyone.labels.label.tolist() == (means.m.loc[everyone.labels.response_id] > 3).tolist()


def test_export_is_trl_unpaired_preference_format(store: Store, tmp_path) -> None:
    _standalone(store, lower_is_better=True)
    result = build_unpaired(store, "standalone", "offensiveness")
    folder, _ = export_unpaired(store, result, "offensive-kto", folder=tmp_path / "kto", register=False)
    data = load_from_disk(str(folder / "hf"))
    assert data.column_names == ["prompt", "completion", "label"]
    assert data.features["label"].dtype == "bool" and data.num_rows == result.stats["labelled"]
    lines = pd.read_json(folder / "unpaired.jsonl", lines=True)
    assert set(lines.completion) <= set(store.query("SELECT text FROM responses").text)
    from trl.data_utils import maybe_unpair_preference_dataset

    assert maybe_unpair_preference_dataset(data) is data  # already unpaired: trl leaves it as it is


def test_saved_unpaired_set_is_registered_and_listed_with_the_preference_sets(store: Store) -> None:
    """An unpaired set is an artifact of its own kind: listed beside the paired sets of its dataset, kept
    out of the DPO / GRPO picker, and saved again under its name it updates its entry."""
    _standalone(store, lower_is_better=True)
    result = build_unpaired(store, "standalone", "offensiveness")
    folder, artifact_id = export_unpaired(store, result, "offensive kto")
    entry = store.artifact(artifact_id)
    assert entry["kind"] == "unpaired_set" and entry["dataset_id"] == "standalone"
    assert entry["path"] == str(folder) and entry["name"] == folder.name
    assert entry["metrics"]["labelled"] == len(result.labels)
    assert entry["config"]["dimension"] == "offensiveness"
    assert store.artifacts("preference_set").empty  # not offered where pairs are needed

    again, same_id = export_unpaired(store, result, "offensive kto")
    assert (again, same_id) == (folder, artifact_id) and len(store.artifacts("unpaired_set")) == 1
    assert saved_sets(store, "other-dataset").empty
    listed = saved_sets(store, "standalone")
    assert listed.artifact_id.tolist() == [artifact_id] and listed.kind.tolist() == ["unpaired_set"]


def test_paired_and_unpaired_sets_are_listed_together(store: Store) -> None:
    store.write_dataset(tiny_bundle("tiny", n_raters=12))
    paired = build_preferences(store, PreferenceConfig(dataset_id="tiny"))
    _, paired_id = export_preferences(store, paired, "tiny-pairs")
    unpaired = build_unpaired(store, "tiny", "toxicity")
    _, unpaired_id = export_unpaired(store, unpaired, "tiny-kto")
    listed = saved_sets(store, "tiny")
    assert dict(zip(listed.artifact_id, listed.kind, strict=True)) == {
        paired_id: "preference_set",
        unpaired_id: "unpaired_set",
    }
