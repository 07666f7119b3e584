"""Exported preference sets: folder layout, card, registry, CLI, and acceptance by trl's DPOTrainer."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pluralign_core.preferences.build import PreferenceConfig, build_preferences
from pluralign_core.preferences.export import (
    SPLIT_FILES,
    dataset_card,
    export_preferences,
    load_config,
    load_preference_set,
    load_prompt_set,
    size_category,
)
from tests.factories import tiny_bundle


@pytest.fixture
def exported(store):
    store.write_dataset(tiny_bundle("t", n_prompts=4, n_raters=8))
    config = PreferenceConfig(
        "t",
        selection={"filters": {"country": ["US"]}},
        jury={"gender": {"woman": 0.5, "man": 0.5}},
        dimensions={"toxicity": 1.0, "emotional_awareness": 0.5},
        disagreement="soft",
    )
    result = build_preferences(store, config)
    folder, artifact_id = export_preferences(store, result, "US jury/soft")
    return store, result, folder, artifact_id


def _card_header(folder: Path) -> dict:
    text = (folder / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_export_writes_every_format_and_registers(exported, pluralign_home):
    store, result, folder, artifact_id = exported
    assert folder == pluralign_home / "preference_sets" / "US-jury-soft"
    loaded = load_preference_set(folder)
    assert set(loaded) == {"train", "test"}
    assert loaded["train"].num_rows == len(result.pairs)
    assert {"prompt", "chosen", "rejected", "weight", "probability", "agreement", "n_raters"} <= set(
        loaded["train"].column_names
    )
    assert loaded["train"][0]["prompt"][0]["role"] == "user"
    assert loaded["train"][0]["chosen"][0]["role"] == "assistant"
    assert set(loaded["test"]["prompt_id"]) == {"p3"} and "p3" not in set(loaded["train"]["prompt_id"])
    assert load_preference_set(folder)["train"].num_rows == len(result.pairs)
    prompts = load_prompt_set(folder)
    assert set(prompts["prompt_id"]) == {"p0", "p1", "p2"}
    assert {"target_toxicity", "target_emotional_awareness"} <= set(prompts.column_names)
    jsonl = [json.loads(line) for line in (folder / "pairs.jsonl").read_text().splitlines()]
    assert len(jsonl) == len(result.pairs) == len(pd.read_parquet(folder / "pairs.parquet"))
    assert load_config(folder) == result.config
    card = (folder / "README.md").read_text()
    fingerprint = store.datasets().set_index("dataset_id").loc["t", "fingerprint"]
    assert fingerprint in card and "disagreement: soft" in card and "country=US" in card
    assert yaml.safe_load((folder / "config.yaml").read_text())["jury"] == {
        "gender": {"woman": 0.5, "man": 0.5}
    }
    registered = store.artifacts("preference_set")
    assert list(registered.artifact_id) == [artifact_id]
    assert registered.iloc[0].path == str(folder)
    assert registered.iloc[0].metrics["pairs"] == len(result.pairs)
    assert registered.iloc[0].config["source_fingerprint"] == fingerprint
    _, again = export_preferences(store, result, "US jury/soft", include_test=False, overwrite=True)
    assert again == artifact_id and len(store.artifacts("preference_set")) == 1
    assert set(load_preference_set(folder)) == {"train"}
    assert [f["split"] for f in _card_header(folder)["configs"][0]["data_files"]] == ["train"]
    assert not (folder / SPLIT_FILES["test"]).exists()


def test_load_dataset_reads_both_splits_of_the_folder(exported, tmp_path):
    """``datasets.load_dataset(folder)`` follows the card's ``configs`` to the Parquet splits."""
    from datasets import load_dataset

    store, result, folder, _ = exported
    test = build_preferences(store, replace(result.config, split="heldout")).pairs
    loaded = load_dataset(str(folder), cache_dir=str(tmp_path / "cache"))
    assert set(loaded) == {"train", "test"}
    assert loaded["train"].num_rows == len(result.pairs) > 0
    assert loaded["test"].num_rows == len(test) > 0
    for split in ("train", "test"):
        assert loaded[split].column_names == list(result.pairs.columns)
    assert loaded["train"][0]["prompt"] == result.pairs.iloc[0]["prompt"]
    assert loaded["train"]["weight"] == pytest.approx(list(result.pairs.weight))
    assert set(loaded["test"]["prompt_id"]) == {"p3"}


def test_card_header_has_hub_metadata(exported):
    header = _card_header(exported[2])
    assert header["license"] == "unknown"
    assert header["language"] == ["en"]
    assert header["task_categories"] == ["text-generation"]
    assert header["size_categories"] == ["n<1K"]
    assert {"dpo", "preference", "pluralistic-alignment", "soft"} <= set(header["tags"])
    assert header["configs"] == [
        {
            "config_name": "default",
            "data_files": [{"split": s, "path": SPLIT_FILES[s]} for s in ("train", "test")],
        }
    ]


def test_card_marks_simulated_sources_and_counts_both_splits(exported):
    _, result, _, _ = exported
    stats = {**result.stats, "pairs": 999}
    card = dataset_card("x", result.config, stats, {"simulated": True}, 1, ["de", "en", "de"])
    header = yaml.safe_load(card.split("---\n")[1])
    assert "simulated" in header["tags"] and header["language"] == ["de", "en"]
    assert header["size_categories"] == ["1K<n<10K"]
    plain = yaml.safe_load(dataset_card("x", result.config, result.stats, {}, 0).split("---\n")[1])
    assert "simulated" not in plain["tags"]
    assert [size_category(n) for n in (0, 999, 1_000, 99_999, 5_000_000)] == [
        "n<1K", "n<1K", "1K<n<10K", "10K<n<100K", "n>1M"
    ]  # fmt: skip


def test_folders_saved_with_save_to_disk_still_load(exported, tmp_path):
    """Exports from before the Parquet splits kept the pairs in ``hf/`` (``save_to_disk``)."""
    from datasets import Dataset, DatasetDict

    _, result, _, _ = exported
    old = tmp_path / "old"
    DatasetDict({"train": Dataset.from_pandas(result.pairs, preserve_index=False)}).save_to_disk(
        str(old / "hf")
    )
    assert load_preference_set(old)["train"].num_rows == len(result.pairs)
    assert load_preference_set(old / "hf")["train"].num_rows == len(result.pairs)


def test_training_helpers_read_the_export(exported):
    from pluralign_core.training import common

    _, result, folder, _ = exported
    assert common.load_preference_pairs(folder).num_rows == len(result.pairs)
    assert common.load_prompts(folder).num_rows == 3


def test_cli_builds_exports_and_registers(store, capsys):
    from pluralign_core.cli import main

    store.write_dataset(tiny_bundle("t", n_prompts=3, n_raters=8))
    code = main(
        [
            "preferences", "--dataset", "t", "--dimension", "toxicity=1", "--scale", "binary",
            "--neutral-as", "agree", "--disagreement", "preserve", "--filter", "gender=woman,man",
            "--jury", "gender=woman:0.5,man:0.5", "--name", "cli set",
        ]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "saved" in out and '"effective_sample_size"' in out
    row = store.artifacts("preference_set").iloc[0]
    assert (
        row["name"] == "cli-set"
        and row.config["scale"] == "binary"
        and row.config["disagreement"] == "preserve"
    )


def test_load_dataset_of_the_folder_trains_a_trl_dpo_step(exported, tiny_model_dir, tmp_path):
    import torch
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    torch.set_num_threads(1)
    _, _, folder, _ = exported
    data = load_dataset(str(folder), cache_dir=str(tmp_path / "cache"))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    args = DPOConfig(
        output_dir=str(tmp_path / "out"),
        max_steps=1,
        per_device_train_batch_size=2,
        report_to=[],
        use_cpu=True,
        max_length=64,
        save_strategy="no",
        logging_steps=1,
    )
    trainer = DPOTrainer(model=model, args=args, train_dataset=data["train"], processing_class=tokenizer)
    output = trainer.train()
    assert output.global_step == 1
    assert any("loss" in entry for entry in trainer.state.log_history)
