"""GridConfig composes the run and evaluation configs: presets, YAML round trip, per-cell fields."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from pluralign_core.evaluation.evaluate import EvaluationConfig
from pluralign_core.experiments import grid_config
from pluralign_core.experiments.plan import plan_cells
from pluralign_core.preferences.config import DISAGREEMENT, SCALES
from pluralign_core.training.config import ALIGNMENT_ALGORITHMS, RunConfig


def test_config_holds_the_run_and_evaluation_configs():
    config = grid_config.GridConfig()
    assert isinstance(config.training, RunConfig) and isinstance(config.evaluation, EvaluationConfig)
    own = {f.name for f in dataclasses.fields(grid_config.GridConfig)}
    assert own & {f.name for f in dataclasses.fields(RunConfig)} == set()  # no copied run settings
    assert own & {f.name for f in dataclasses.fields(EvaluationConfig)} == {"dataset_id"}


def test_presets_override_nested_values_and_keep_the_rest():
    demo, full = grid_config.preset("demo"), grid_config.preset("full")
    assert full.training.max_steps == 200 and demo.training.max_steps == 10
    assert full.evaluation.max_prompts == 0 and demo.evaluation.max_prompts == 0
    assert full.training.beta == grid_config.GridConfig().training.beta  # not overridden by the preset
    assert demo.start == "unaligned" and full.start == "instruct"
    tuned = grid_config.preset("full", dataset_id="ds", training={"max_steps": 3}, evaluation={"seed": 7})
    assert tuned.training.max_steps == 3 and tuned.training.lora_r == 16  # merged, not replaced
    assert tuned.evaluation.seed == 7 and tuned.evaluation.max_new_tokens == 160
    assert tuned.dataset_id == "ds"


def test_yaml_round_trip_with_nested_configs():
    config = grid_config.preset("full", dataset_id="ds", groups=["women"], training={"lora_dropout": 0.0})
    data = yaml.safe_load(config.to_yaml())
    assert data["training"]["lora_dropout"] == 0.0 and data["evaluation"]["max_new_tokens"] == 160
    assert "preference_set" not in data["training"] and "model_id" not in data["evaluation"]
    again = grid_config.GridConfig.from_dict(data)
    assert again == config
    assert [c.run for c in plan_cells(again, "ds")] == [c.run for c in plan_cells(config, "ds")]
    partial = grid_config.GridConfig.from_dict({"training": {"max_steps": 5}})
    assert partial.training.max_steps == 5 and partial.training.lora_r == 8  # the rest from the demo template


def test_config_refuses_what_the_planner_owns_and_unknown_keys():
    with pytest.raises(ValueError, match=r"GridConfig.training: \['preference_set'\] are set for each cell"):
        grid_config.GridConfig(training={"preference_set": "/data/pairs"})
    with pytest.raises(ValueError, match=r"GridConfig.evaluation: \['model_id'\]"):
        grid_config.GridConfig.from_dict({"evaluation": {"model_id": "adapter-x"}})
    with pytest.raises(ValueError, match=r"training\.max_stepz: unknown run config field"):
        grid_config.GridConfig.from_dict({"training": {"max_stepz": 5}})
    with pytest.raises(ValueError, match="num_generations"):
        grid_config.GridConfig(training={"num_generations": 1})


def test_word_lists_come_from_the_preference_stage():
    assert grid_config.SCALES is SCALES and grid_config.DISAGREEMENT is DISAGREEMENT  # not copies
    assert grid_config.ALIGNMENT_ALGORITHMS is ALIGNMENT_ALGORITHMS and not hasattr(
        grid_config, "DISAGREEMENTS"
    )
    grid_config.GridConfig(disagreements=list(DISAGREEMENT), scales=list(SCALES))
    with pytest.raises(ValueError, match="scales"):
        grid_config.GridConfig(scales=["7-point"])
    with pytest.raises(ValueError, match="optimizers"):
        grid_config.GridConfig(optimizers=["ppo"])
