"""Adapters that load in Hugging Face tools: a Hub-id base in card and config, and the merged export."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from pluralign_core import cli
from pluralign_core.models.base import EMBEDDED_HUB_ID, EMBEDDED_MODEL
from tests.training_data import tiny_run_config

torch.set_num_threads(1)


def _make_adapter(base_dir, folder, seed=1):
    """A LoRA adapter on the tiny model with random non-zero B matrices (so merging changes the output)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base_dir),
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    )
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.5)
    model.save_pretrained(folder)
    return folder


def _header(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---", 2)[1])


def test_card_and_adapter_config_name_the_embedded_model_by_its_hub_id(tiny_model_dir, tmp_path, monkeypatch):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from pluralign_core.models.merge import adapter_base_model
    from pluralign_core.training import modelcard

    adapter = _make_adapter(tiny_model_dir, tmp_path / "adapter")
    config = tiny_run_config(EMBEDDED_MODEL, preference_set=str(tmp_path / "prefs-en"))
    modelcard.write(adapter, config, "run-1", {"train_loss": 0.5}, {})
    header = _header((adapter / "README.md").read_text())
    assert header["base_model"] == EMBEDDED_HUB_ID
    assert header["library_name"] == "peft" and header["license"] == "apache-2.0"
    assert {"trl", "dpo", "lora"} <= set(header["tags"]) and header["datasets"] == ["prefs-en"]
    adapter_config = json.loads((adapter / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == EMBEDDED_HUB_ID
    # Without a run folder around it, pluralign maps the Hub id back to its local embedded copy.
    assert adapter_base_model(adapter) == EMBEDDED_MODEL
    # Local loading (what chat and evaluation do) passes the base in and never reads the recorded id.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), adapter)
    assert any(p.abs().sum() > 0 for n, p in loaded.named_parameters() if "lora_B" in n)


def test_card_for_a_local_base_keeps_the_folder_and_reads_its_license(tiny_model_dir, tmp_path):
    from pluralign_core.training import modelcard

    base = tmp_path / "base"
    base.mkdir()
    (base / "README.md").write_text("---\nlicense: mit\n---\n# a model\n")
    config = tiny_run_config(base, algorithm="grpo", prompt_set="/p/prompts", reward_models=["/r"])
    header = modelcard.metadata(config)
    assert header["base_model"] == str(base) and header["license"] == "mit"
    assert "grpo" in header["tags"] and header["datasets"] == ["prompts"]
    assert modelcard.metadata(tiny_run_config(tiny_model_dir, preference_set="/p"))["license"] == "other"


def test_export_merged_loads_with_auto_model_and_matches_the_adapter(tiny_model_dir, tmp_path, capsys):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    run_dir = tmp_path / "run"
    adapter = _make_adapter(tiny_model_dir, run_dir / "adapter")
    tiny_run_config(tiny_model_dir, preference_set="/p").to_yaml(run_dir / "config.yaml")
    out = tmp_path / "merged"
    assert cli.main(["export", str(adapter), "--merged", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result == {"adapter": str(adapter), "base_model": str(tiny_model_dir), "merged": str(out)}
    assert "merging " in captured.err  # progress on stderr, stdout is the JSON alone
    assert (out / "model.safetensors").is_file() and not list(out.glob("*.bin"))
    assert not (out / "adapter_config.json").exists()

    merged = AutoModelForCausalLM.from_pretrained(out).eval()
    with_adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), adapter)
    plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    ids = torch.tensor([[5, 17, 42, 99, 7]])
    with torch.no_grad():
        expected = with_adapter.eval()(ids).logits
        got = merged(ids).logits
        unchanged = plain(ids).logits
    assert torch.allclose(got, expected, atol=1e-4)
    assert not torch.allclose(got, unchanged, atol=1e-3), "the adapter must change the merged weights"
    card = _header((out / "README.md").read_text())
    assert card["base_model_relation"] == "merge" and card["library_name"] == "transformers"


def test_export_refuses_a_non_empty_target_and_an_unknown_adapter(tiny_model_dir, tmp_path, capsys, store):
    adapter = _make_adapter(tiny_model_dir, tmp_path / "adapter")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    args = ["export", str(adapter), "--merged", str(out), "--base-model", str(tiny_model_dir)]
    assert cli.main(args) == 2
    assert "not an empty folder" in capsys.readouterr().err
    assert cli.main(["export", "no-such-adapter", "--merged", str(tmp_path / "o2")]) == 2
    assert "neither an adapter folder nor a registered adapter id" in capsys.readouterr().err


def test_version_flag(capsys):
    from pluralign_core import __version__

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"pluralign {__version__}"
