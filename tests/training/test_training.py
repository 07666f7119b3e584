"""DPO and GRPO runs end to end on a tiny random model, the weighted loss, and the run config."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import torch

from tests.training_data import make_preference_set, make_prompt_set, make_reward_model, tiny_run_config

torch.set_num_threads(1)


def _run(config, run_dir):
    from pluralign_core.training.run import run_training

    run_dir.mkdir(parents=True)
    config.to_yaml(run_dir / "config.yaml")
    return run_training(run_dir)


def _reload_adapter(model_dir, adapter_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(model_dir)
    return PeftModel.from_pretrained(base, adapter_dir)


def test_dpo_run_logs_loss_changes_weights_and_reloads(tiny_model_dir, tmp_path):
    prefs = make_preference_set(tmp_path / "prefs")
    status = _run(tiny_run_config(tiny_model_dir, preference_set=str(prefs)), tmp_path / "run")
    assert status["state"] == "completed", status
    events = [json.loads(line) for line in (tmp_path / "run" / "trainer_log.jsonl").read_text().splitlines()]
    logs = [e for e in events if e["event"] == "log" and "loss" in e]
    assert [e["step"] for e in logs] == [1, 2] and all(math.isfinite(e["loss"]) for e in logs)
    assert logs[-1]["max_steps"] == 2 and "reward_margin" in logs[-1]
    assert events[0]["event"] == "start" and events[-1]["event"] == "end"

    model = _reload_adapter(tiny_model_dir, tmp_path / "run" / "adapter")
    lora_b = [p for name, p in model.named_parameters() if "lora_B" in name]
    assert lora_b and any(p.abs().sum() > 0 for p in lora_b), "LoRA B starts at zero; training must move it"
    card = (tmp_path / "run" / "adapter" / "README.md").read_text()
    for needle in (
        str(tiny_model_dir),
        "gender=woman",
        "toxicity: 1",
        "5-point",
        "preserve (aggregate: mean)",
        "Jury**: none",
        "AdamW",
        "train_loss",
    ):
        assert needle in card
    assert not status["facts"]["weighted_loss"]  # uniform weights and probabilities: plain DPO
    assert card.startswith(f"---\nbase_model: {tiny_model_dir}\n") and "- trl\n" in card
    adapter_config = json.loads((tmp_path / "run" / "adapter" / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == str(tiny_model_dir)


def test_grpo_run_with_reward_model(tiny_model_dir, tmp_path):
    prompts = make_prompt_set(tmp_path / "prompts")
    reward = make_reward_model(tmp_path / "reward")
    config = tiny_run_config(
        tiny_model_dir, algorithm="grpo", prompt_set=str(prompts), reward_models=[str(reward)]
    )
    status = _run(config, tmp_path / "run")
    assert status["state"] == "completed", status
    events = [json.loads(line) for line in (tmp_path / "run" / "trainer_log.jsonl").read_text().splitlines()]
    logs = [e for e in events if e["event"] == "log" and "loss" in e]
    assert len(logs) == 2 and all("reward_mean" in e for e in logs)
    assert 0.0 <= logs[-1]["reward_mean"] <= 1.0
    model = _reload_adapter(tiny_model_dir, tmp_path / "run" / "adapter")
    assert any(p.abs().sum() > 0 for name, p in model.named_parameters() if "lora_B" in name)


_LOSSES_SCRIPT = """
import json, sys
from pathlib import Path
import torch
torch.set_num_threads(1)
from pluralign_core.training import common
from pluralign_core.training.config import RunConfig
from pluralign_core.training.run import run_training
mode, run_dir = sys.argv[1], Path(sys.argv[2])
# the tiny model's tensors are far below the real threshold: map from 1 kB so that they move too
common.CPU_MMAP_THRESHOLD = None if mode == "heap" else 1024
status = run_training(run_dir)
assert status["state"] == "completed", status
events = [json.loads(line) for line in (run_dir / "trainer_log.jsonl").read_text().splitlines()]
print(json.dumps([e["loss"] for e in events if e["event"] == "log" and "loss" in e]))
"""


def test_mapped_large_allocations_leave_the_losses_unchanged(tiny_model_dir, tmp_path):
    """The CPU training memory settings (:data:`common.CPU_MMAP_THRESHOLD`, huge pages through
    :data:`common.JOB_ENVIRONMENT`) move tensors out of glibc's heap; each run in its own process (the
    settings are process-wide) logs exactly the same losses."""
    from pluralign_core.training.common import JOB_ENVIRONMENT

    prefs = make_preference_set(tmp_path / "prefs")
    losses = {}
    for mode in ("heap", "mapped"):
        run_dir = tmp_path / mode
        run_dir.mkdir()
        config = tiny_run_config(tiny_model_dir, preference_set=str(prefs), max_steps=3, lora_dropout=0.1)
        config.to_yaml(run_dir / "config.yaml")
        done = subprocess.run(
            [sys.executable, "-c", _LOSSES_SCRIPT, mode, str(run_dir)],
            capture_output=True,
            text=True,
            timeout=300,
            env={
                **{k: v for k, v in os.environ.items() if k not in JOB_ENVIRONMENT},
                **(JOB_ENVIRONMENT if mode == "mapped" else {}),
                "HF_HUB_OFFLINE": "1",
                "OMP_NUM_THREADS": "1",
            },
        )
        assert done.returncode == 0, done.stderr[-2000:]
        losses[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(losses["heap"]) == 3 and losses["mapped"] == losses["heap"]


def _first_batch_loss(tiny_model_dir, tmp_path, name, **kwargs):
    from pluralign_core.training import dpo

    prefs = make_preference_set(tmp_path / name, n=2, **kwargs)
    config = tiny_run_config(tiny_model_dir, preference_set=str(prefs))
    trainer = dpo.build_trainer(config, tmp_path / f"run-{name}")
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    with torch.no_grad():
        return trainer, float(trainer.compute_loss(trainer.model, batch))


def test_weighted_loss_scales_each_pair(tiny_model_dir, tmp_path):
    from pluralign_core.training.dpo import WeightedDPOTrainer

    plain_trainer, plain = _first_batch_loss(tiny_model_dir, tmp_path, "plain")
    weighted_trainer, weighted = _first_batch_loss(tiny_model_dir, tmp_path, "weighted", weights=[1.0, 3.0])
    assert not isinstance(plain_trainer, WeightedDPOTrainer)
    assert isinstance(weighted_trainer, WeightedDPOTrainer)
    # A fresh LoRA adapter is the identity, so every pair's DPO loss is log 2, and so is any weighted mean
    # of them: the loss is normalised by the summed weight (tests/training/test_weighted_dpo_loss.py).
    assert plain == pytest.approx(math.log(2), rel=1e-4)
    assert weighted == pytest.approx(math.log(2), rel=1e-4)


def test_soft_label_mixes_both_directions():
    from pluralign_core.training.dpo import _WeightedFunctional

    x = torch.tensor([2.0, -1.0])
    hard = _WeightedFunctional(None, torch.tensor([1.0, 1.0])).logsigmoid(x)
    soft = _WeightedFunctional(torch.tensor([1.0, 2.0]), torch.tensor([0.5, 0.75])).logsigmoid(x)
    ls = torch.nn.functional.logsigmoid
    assert torch.allclose(hard, ls(x))
    expected = torch.stack([0.5 * ls(x[0]) + 0.5 * ls(-x[0]), 2 * (0.75 * ls(x[1]) + 0.25 * ls(-x[1]))])
    assert torch.allclose(soft, expected)


def test_auto_weighting_follows_the_preference_set(tiny_model_dir, tmp_path):
    from datasets import Dataset

    from pluralign_core.training.dpo import uses_weighted_loss

    config = tiny_run_config(tiny_model_dir, preference_set="x")
    assert not uses_weighted_loss(
        config, Dataset.from_dict({"weight": [2.0, 2.0], "probability": [1.0, 1.0]})
    )
    assert uses_weighted_loss(config, Dataset.from_dict({"weight": [1.0, 2.0]}))
    assert uses_weighted_loss(config, Dataset.from_dict({"probability": [1.0, 0.8]}))
    config.weighted_loss = "off"
    assert not uses_weighted_loss(config, Dataset.from_dict({"weight": [1.0, 2.0]}))


def test_run_config_round_trips_and_rejects_bad_values(tmp_path):
    from pluralign_core.training.config import RunConfig

    config = RunConfig(preference_set="/p", lora_target_modules="q_proj, v_proj", max_steps=7)
    assert config.lora_target_modules == ["q_proj", "v_proj"]
    config.to_yaml(tmp_path / "run.yaml")
    assert RunConfig.from_yaml(tmp_path / "run.yaml") == config
    with pytest.raises(ValueError, match="preference_set"):
        RunConfig(algorithm="dpo")
    with pytest.raises(ValueError, match="reward model"):
        RunConfig(algorithm="grpo", prompt_set="/p")
    with pytest.raises(ValueError, match="multiple of num_generations"):
        RunConfig(
            algorithm="grpo",
            prompt_set="/p",
            reward_models=["/r"],
            per_device_train_batch_size=3,
            num_generations=2,
        )
    with pytest.raises(ValueError, match="unknown run config field"):
        RunConfig.from_dict({"preference_set": "/p", "bogus": 1})


@pytest.mark.integration
def test_dpo_trains_real_smollm2(smollm2_dir, tmp_path):
    prefs = make_preference_set(tmp_path / "prefs", weights=[1.0, 2.0] * 4)
    config = tiny_run_config(
        smollm2_dir,
        preference_set=str(prefs),
        per_device_train_batch_size=1,
        learning_rate=1e-4,
        lora_r=8,
        lora_alpha=16,
    )
    status = _run(config, tmp_path / "run")
    assert status["state"] == "completed", status
    assert status["facts"]["weighted_loss"]
    assert math.isfinite(status["metrics"]["train_loss"])
    model = _reload_adapter(smollm2_dir, tmp_path / "run" / "adapter")
    assert any(p.abs().sum() > 0 for name, p in model.named_parameters() if "lora_B" in name)


def test_cli_trains_in_the_foreground_and_registers(store, tiny_model_dir, tmp_path, capsys):
    from pluralign_core.cli import main

    prefs = make_preference_set(tmp_path / "prefs")
    tiny_run_config(tiny_model_dir, preference_set=str(prefs), name="cli run").to_yaml(tmp_path / "run.yaml")
    assert main(["train", "--config", str(tmp_path / "run.yaml")]) == 0
    out = capsys.readouterr().out
    assert "step 2/2" in out and "registered adapter-" in out
    adapters = store.artifacts("adapter")
    assert list(adapters.name) == ["cli run"] and adapters.iloc[0]["config"]["algorithm"] == "dpo"
    assert main(["jobs", "list"]) == 0
    assert "completed" in capsys.readouterr().out
    assert main(["train", "--config", str(tmp_path / "missing.yaml")]) == 2
