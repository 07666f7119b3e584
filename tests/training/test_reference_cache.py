"""DPO reference log-probs from the per-sequence cache: same losses as trl's own reference pass, reused
across runs on the same reference, recomputed when anything that changes them changes."""

from __future__ import annotations

import json

import pytest
import torch
from datasets import Dataset, DatasetDict

from tests.training_data import PROMPTS, make_preference_set, moved_adapter, tiny_run_config

torch.set_num_threads(1)


def _pairs(folder, rejected: list[str], weights: list[float] | None = None):
    n = len(rejected)
    rows = {
        "prompt": [[{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}] for i in range(n)],
        "chosen": [[{"role": "assistant", "content": "Of course, I am here to listen."}] for _ in range(n)],
        "rejected": [[{"role": "assistant", "content": text}] for text in rejected],
        "weight": weights or [1.0] * n,
        "probability": [1.0] * n,
    }
    DatasetDict({"train": Dataset.from_dict(rows)}).save_to_disk(str(folder))
    return folder


def _loss(trainer, indices) -> float:
    examples = [dict(trainer.train_dataset[i]) for i in indices]
    for example in examples:
        example.pop("weight", None)
        example.pop("probability", None)
    with torch.no_grad():
        return float(trainer.compute_loss(trainer.model, trainer.data_collator(examples)))


def test_cached_reference_gives_trls_loss(tiny_model_dir, tmp_path, pluralign_home):
    from pluralign_core.training import dpo

    prefs = make_preference_set(tmp_path / "prefs", n=4)
    plain = moved_adapter(
        dpo.build_trainer(tiny_run_config(tiny_model_dir, preference_set=str(prefs)), tmp_path / "a")
    )
    cached_config = tiny_run_config(tiny_model_dir, preference_set=str(prefs), cache_reference_logps=True)
    cached = moved_adapter(dpo.build_trainer(cached_config, tmp_path / "b"))
    assert isinstance(cached, dpo.CachedReferenceMixin) and not isinstance(plain, dpo.CachedReferenceMixin)
    assert "ref_chosen_logps" in cached.train_dataset.column_names
    losses = [_loss(plain, [0, 1, 2, 3]), _loss(cached, [0, 1, 2, 3])]
    assert abs(losses[0] - 0.6931) > 1e-3, "the adapter must have moved, or the reference could not matter"
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)


def test_a_second_run_on_the_same_reference_computes_only_new_sequences(
    tiny_model_dir, tmp_path, pluralign_home
):
    from pluralign_core.training import dpo

    first = _pairs(tmp_path / "first", ["Why are some people so rude?", "No."])
    second = _pairs(tmp_path / "second", ["Why are some people so rude?", "Go away."])
    build = lambda prefs, run, **kw: dpo.build_trainer(  # noqa: E731
        tiny_run_config(tiny_model_dir, preference_set=str(prefs), cache_reference_logps=True, **kw),
        tmp_path / run,
    )
    trainer = build(first, "one")
    assert (trainer.reference_cache.hits, trainer.reference_cache.misses) == (0, 4)
    again = build(first, "two")
    assert (again.reference_cache.hits, again.reference_cache.misses) == (4, 0)
    assert again.train_dataset["ref_rejected_logps"] == pytest.approx(
        trainer.train_dataset["ref_rejected_logps"]
    )
    other = build(second, "three")
    assert (other.reference_cache.hits, other.reference_cache.misses) == (3, 1)
    longer = build(first, "four", max_length=48)  # another truncation is another reference identity
    assert longer.reference_cache.path != trainer.reference_cache.path
    assert longer.reference_cache.misses == 4


def test_a_damaged_cache_file_is_recomputed(tiny_model_dir, tmp_path, pluralign_home):
    from pluralign_core.training import dpo

    prefs = make_preference_set(tmp_path / "prefs", n=2)
    config = tiny_run_config(tiny_model_dir, preference_set=str(prefs), cache_reference_logps=True)
    trainer = dpo.build_trainer(config, tmp_path / "a")
    expected = trainer.train_dataset["ref_chosen_logps"]
    trainer.reference_cache.path.write_text("{not json")
    again = dpo.build_trainer(config, tmp_path / "b")
    assert again.reference_cache.misses == 4
    assert again.train_dataset["ref_chosen_logps"] == pytest.approx(expected)
    assert json.loads(again.reference_cache.path.read_text())  # rewritten whole


def test_training_with_the_cache_follows_the_plain_trajectory(tiny_model_dir, tmp_path, pluralign_home):
    """Weighted loss + cache through the whole run path: same logged losses as without the cache."""
    from pluralign_core.training.jobs import JobQueue
    from pluralign_core.training.run import run_training

    prefs = make_preference_set(tmp_path / "prefs", n=4, weights=[0.5, 1.0, 2.0, 1.0])
    queue = JobQueue(tmp_path / "runs")
    losses = {}
    for name, cached in (("plain", False), ("cached", True)):
        config = tiny_run_config(
            tiny_model_dir, preference_set=str(prefs), cache_reference_logps=cached, logging_steps=1
        )
        queue.submit(config, run_id=name, foreground=True)
        status = run_training(tmp_path / "runs" / name)
        assert status["state"] == "completed", status
        log = [
            json.loads(line)
            for line in (tmp_path / "runs" / name / "trainer_log.jsonl").read_text().splitlines()
        ]
        losses[name] = [event["loss"] for event in log if event.get("loss") is not None]
    assert len(losses["plain"]) == 2
    assert losses["cached"] == pytest.approx(losses["plain"], rel=1e-4)
    card = (tmp_path / "runs" / "cached" / "adapter" / "README.md").read_text()
    assert "reference log-probs from the cache: 0 of 8" in card
    assert "**Precision**: fp32" in card


def test_precision_auto_uses_bf16_only_with_native_support(monkeypatch):
    from pluralign_core.training import common
    from pluralign_core.training.config import RunConfig

    monkeypatch.setattr(common, "has_native_bf16", lambda: False)
    assert common.resolve_precision("auto") == "fp32"
    monkeypatch.setattr(common, "has_native_bf16", lambda: True)
    assert common.resolve_precision("auto") == "bf16"
    assert common.resolve_precision("fp32") == "fp32"
    with pytest.raises(ValueError, match="precision"):
        RunConfig(precision="fp16")
