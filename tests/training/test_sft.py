"""SFT runs (the unaligned start's first step) on a tiny random model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.training_data import make_sft_set, tiny_run_config

torch.set_num_threads(1)


def test_sft_run_learns_the_completion(tiny_model_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pluralign_core.evaluation.likelihood import answer_logprobs
    from pluralign_core.training.run import run_training

    sft = make_sft_set(tmp_path / "sft")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    config = tiny_run_config(
        tiny_model_dir,
        algorithm="sft",
        sft_set=str(sft),
        max_steps=20,
        save_steps=20,
        lr_scheduler_type="constant_with_warmup",
        warmup_steps=1,
        lora_target_modules=["all-linear"],
        lora_r=16,
        lora_alpha=32,
        gradient_checkpointing=False,
    )
    config.to_yaml(run_dir / "config.yaml")
    status = run_training(run_dir)
    assert status["state"] == "completed", status
    events = [json.loads(line) for line in (run_dir / "trainer_log.jsonl").read_text().splitlines()]
    losses = [e["loss"] for e in events if e["event"] == "log" and "loss" in e]
    assert len(losses) == 20 and all(np.isfinite(losses))
    card = (run_dir / "adapter" / "README.md").read_text()
    assert "SFT" in card and "deliberately unaligned" in card and "constant_with_warmup" in card

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    start = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tuned = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir), run_dir / "adapter"
    )
    prompts, answers = ["Can you help me?"], ["Why are some people so rude?"]
    before = answer_logprobs(start, tokenizer, prompts, answers)
    after = answer_logprobs(tuned, tokenizer, prompts, answers)
    assert np.all(after > before + 0.3)  # per-token log-prob of the imitated answer rises


def test_sft_config_needs_its_data(tiny_model_dir):
    with pytest.raises(ValueError, match="sft_set"):
        tiny_run_config(tiny_model_dir, algorithm="sft")
    with pytest.raises(ValueError, match="lr_scheduler_type"):
        tiny_run_config(tiny_model_dir, preference_set="x", lr_scheduler_type="wild")
