"""The unaligned start's shipped SFT adapter: used only for the same config and answers, same merged model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from safetensors.torch import load_file

from pluralign_core.experiments import start_bundle, unaligned_start
from pluralign_core.experiments.unaligned_start import (
    UnalignedStartConfig,
    build_unaligned_start,
    sft_examples,
    start_folder,
)
from pluralign_core.store.database import Store
from pluralign_core.training import run as training_run
from tests.experiments.test_demo import leaning_bundle


def _config(model_dir: Path, **changes) -> UnalignedStartConfig:
    settings = dict(dataset_id="leaning", base_model=str(model_dir), max_steps=2, batch_size=2, lora_r=4)
    return UnalignedStartConfig(**{**settings, **changes, "max_length": 64})


def _merged_weights(folder: Path) -> dict:
    weights = {}
    for path in sorted(folder.glob("*.safetensors")):
        weights.update(load_file(str(path)))
    return weights


@pytest.fixture
def counted_training(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Real SFT runs, counted; the rudeness check passes (a random tiny model cannot be made rude)."""
    runs: list[str] = []
    real = training_run.run_training

    def counting(run_dir, *args, **kwargs):
        runs.append(str(run_dir))
        return real(run_dir, *args, **kwargs)

    monkeypatch.setattr(training_run, "run_training", counting)
    monkeypatch.setattr(
        unaligned_start, "rudeness_check", lambda *a, **k: {"passed": True, "languages": {}, "stub": True}
    )
    return runs


def test_a_shipped_adapter_replaces_the_sft_run_and_gives_the_same_model(
    store: Store, tiny_model_dir: Path, tmp_path: Path, counted_training: list[str]
) -> None:
    store.write_dataset(leaning_bundle())
    config = _config(tiny_model_dir)
    trained = build_unaligned_start(store, config, bundle_root=None)
    assert len(counted_training) == 1
    digest = start_bundle.examples_digest(sft_examples(store, config))
    root = start_bundle.bundle_start(start_folder(config), config.fingerprint(), digest, tmp_path / "bundle")
    manifest = start_bundle.read_manifest(root)
    assert manifest["fingerprint"] == config.fingerprint() and manifest["examples_digest"] == digest
    assert manifest["sft_seconds"] is not None and manifest["sft_seconds"] >= 0
    expected = _merged_weights(trained)

    shutil.rmtree(start_folder(config))  # a fresh home
    shipped = build_unaligned_start(store, config, bundle_root=root)
    assert len(counted_training) == 1  # no second SFT run
    got = _merged_weights(shipped)
    assert got.keys() == expected.keys()
    assert all((got[name] == expected[name]).all() for name in expected)


def test_the_shipped_adapter_is_ignored_for_another_config_or_other_answers(
    store: Store, tiny_model_dir: Path, tmp_path: Path, counted_training: list[str]
) -> None:
    store.write_dataset(leaning_bundle())
    config = _config(tiny_model_dir)
    build_unaligned_start(store, config, bundle_root=None)
    digest = start_bundle.examples_digest(sft_examples(store, config))
    root = start_bundle.bundle_start(start_folder(config), config.fingerprint(), digest, tmp_path / "bundle")
    assert start_bundle.bundled_adapter(config.fingerprint(), digest, root) is not None
    assert start_bundle.bundled_adapter(config.fingerprint(), "another dataset's answers", root) is None

    longer = _config(tiny_model_dir, max_steps=3)
    assert start_bundle.bundled_adapter(longer.fingerprint(), digest, root) is None
    build_unaligned_start(store, longer, bundle_root=root)
    assert len(counted_training) == 2  # trained, not taken from the bundle

    examples = sft_examples(store, config)
    changed = examples.assign(completion=examples.completion.str.upper())
    assert start_bundle.examples_digest(changed) != digest


def test_bundling_needs_a_built_start(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="build the start first"):
        start_bundle.bundle_start(tmp_path / "nothing", "f", "d", tmp_path / "bundle")


def test_the_shipped_start_is_the_demo_s_and_loads_on_the_embedded_model(
    store: Store, smollm2_dir: Path
) -> None:
    """data/unaligned_start/ comes from `pluralign demo --bundle-start` on the default data and presets."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from pluralign_core.experiments.demo import DemoConfig
    from pluralign_core.experiments.grid_config import preset
    from pluralign_core.experiments.plan import start_config
    from pluralign_core.store.bootstrap import DEFAULT_DATASET_ID, ensure_default_dataset

    manifest = start_bundle.read_manifest()
    assert manifest is not None, "data/unaligned_start/ is missing: run `pluralign demo --bundle-start`"
    ensure_default_dataset(store)
    config = DemoConfig(dataset_id=DEFAULT_DATASET_ID).start_config()
    assert start_config(preset("demo"), DEFAULT_DATASET_ID).fingerprint() == config.fingerprint()
    assert manifest["fingerprint"] == config.fingerprint(), "the start config changed: rerun --bundle-start"
    digest = start_bundle.examples_digest(sft_examples(store, config))
    assert manifest["examples_digest"] == digest, "the default data changed: rerun --bundle-start"
    folder = start_bundle.bundled_adapter(config.fingerprint(), digest)
    assert folder is not None

    base = AutoModelForCausalLM.from_pretrained(smollm2_dir)
    ids = torch.tensor([[1, 504, 3458, 314, 253, 1345]])
    with torch.inference_mode():
        before = base(input_ids=ids).logits
        tuned = PeftModel.from_pretrained(base, str(folder))
        after = tuned(input_ids=ids).logits
    assert torch.isfinite(after).all() and not torch.allclose(before, after, atol=1e-3)
