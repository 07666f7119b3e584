"""PreferenceConfig on the shared YAML config base: strict keys, the derived selection label, fingerprint."""

from __future__ import annotations

import pytest
import yaml

from pluralign_core.preferences.config import PreferenceConfig


def women_majority() -> PreferenceConfig:
    return PreferenceConfig(
        "t",
        selection={"filters": {"gender": ["woman"]}},
        jury={"country": {"US": 1, "DE": 1}},
        dimensions={"toxicity": 2, "helpfulness": 1},
        scale="3-point",
        max_pairs_per_prompt=4,
    )


def test_round_trip_through_yaml_keeps_config_and_fingerprint():
    config = women_majority()
    data = yaml.safe_load(config.to_yaml())
    assert data["selection_label"] == config.rater_selection.label == "gender=woman"
    again = PreferenceConfig.from_dict(data)
    assert again == config
    assert again.fingerprint() == config.fingerprint()


def test_derived_selection_label_is_ignored_not_trusted():
    data = {**women_majority().to_dict(), "selection_label": "a stale label"}
    assert PreferenceConfig.from_dict(data).to_dict()["selection_label"] == "gender=woman"


def test_unknown_keys_are_refused_by_name():
    data = {**women_majority().to_dict(), "disagrement": "soft", "seeed": 3}
    with pytest.raises(ValueError, match=r"unknown preference config fields 'disagrement', 'seeed'"):
        PreferenceConfig.from_dict(data)


def test_fingerprint_tells_configs_apart():
    config = women_majority()
    assert PreferenceConfig.from_dict({**config.to_dict(), "seed": 1}).fingerprint() != config.fingerprint()


def test_validation_runs_on_values_that_arrive_already_typed():
    config = PreferenceConfig.from_dict({"dataset_id": "t", "dimensions": {"toxicity": 1.0}, "seed": 2})
    assert config.dimensions == {"toxicity": 1.0} and config.seed == 2
    with pytest.raises(ValueError, match="scale"):
        PreferenceConfig.from_dict({"dataset_id": "t", "scale": "7-point"})
