"""Fold a LoRA adapter into its base model and save the result as a plain Hugging Face model folder.

A merged folder needs neither peft nor pluralign: ``AutoModelForCausalLM.from_pretrained(folder)`` loads
it, and serving tools (vLLM, llama.cpp's converter, TGI) take it as they take any model. The base an adapter
was trained on is read from the run folder's ``config.yaml`` when the adapter sits in one (the registry's
source of truth, so the embedded model resolves to its local copy); otherwise from ``adapter_config.json``,
where pluralign records the embedded model by its Hub id and :func:`~.base.local_ref` maps it back.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from pluralign_core.models.adapters import CONFIG_FILE, check_adapter_folder
from pluralign_core.models.base import ProgressCallback, hub_id, load_model_and_tokenizer, local_ref


def adapter_base_model(adapter: str | Path) -> str:
    """The base model reference an adapter folder was trained on (see the module docstring)."""
    folder = Path(adapter)
    run_config = folder.parent / "config.yaml"
    if run_config.is_file():
        data = yaml.safe_load(run_config.read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get("base_model"):
            return str(data["base_model"])
    config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    base = config.get("base_model_name_or_path")
    if not base:
        raise ValueError(
            f"adapter folder {folder}: {CONFIG_FILE} names no base model; pass the base model explicitly"
        )
    return local_ref(str(base))


def merge_adapter(
    adapter: str | Path,
    out: str | Path,
    *,
    base_model: str | None = None,
    progress: ProgressCallback | None = None,
) -> Path:
    """Write base + adapter, merged, to ``out`` (safetensors weights, config, tokenizer); returns ``out``.

    ``out`` must not exist or be empty, so an export never mixes with an older model's files. The folder is
    written beside ``out`` first and renamed into place, so a crash leaves no half-written model.
    """
    from peft import PeftModel

    folder = check_adapter_folder(adapter)
    target = Path(out)
    if target.exists() and any(target.iterdir()):
        raise ValueError(f"{target} exists and is not empty: choose a new folder for the merged model")
    base_ref = base_model or adapter_base_model(folder)
    report = progress or (lambda fraction, message: None)
    report(0.1, f"Loading the base model {base_ref}")
    model, tokenizer = load_model_and_tokenizer(base_ref, progress=progress)
    report(0.5, f"Applying and merging the adapter {folder}")
    merged = PeftModel.from_pretrained(model, str(folder)).merge_and_unload()
    merged.config.name_or_path = hub_id(base_ref)
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    report(0.8, f"Writing the merged model to {target}")
    merged.save_pretrained(staging)  # transformers 5 writes safetensors only
    tokenizer.save_pretrained(staging)
    card = folder / "README.md"
    if card.is_file():
        (staging / "README.md").write_text(_merged_card(card.read_text(encoding="utf-8")), "utf-8")
    if target.exists():
        target.rmdir()
    staging.rename(target)
    report(1.0, "Merged model written")
    return target


def _merged_card(adapter_card: str) -> str:
    """The adapter's card, re-labelled: a merged model is a ``merge`` of the base, loaded without peft."""
    if not adapter_card.startswith("---"):
        return adapter_card
    _, header_text, body = adapter_card.split("---", 2)
    header = yaml.safe_load(header_text) or {}
    header["base_model_relation"] = "merge"
    header["library_name"] = "transformers"
    header["tags"] = [*header.get("tags", []), "merged"]
    note = "\n> Merged model: the LoRA adapter below is folded into the base weights; load it with " + (
        "`AutoModelForCausalLM.from_pretrained(this_folder)`.\n"
    )
    return "---\n" + yaml.safe_dump(header, sort_keys=False, allow_unicode=True) + "---" + note + body
