"""Fold a LoRA adapter into its base model and save the result as a plain Hugging Face model folder.

A merged folder loads with ``AutoModelForCausalLM.from_pretrained`` and nothing else, so it can be the
*base* of later runs (the unaligned teaching start is an SFT adapter merged this way; DPO cells then tune
new adapters on it and use it as their reference model) or be shared without peft (``pluralign export
ADAPTER --merged OUT``). The folder is written to a unique staging name and renamed into place only when
complete, so a crash never leaves half a model where a later run would load it.

The base an exported adapter was trained on is read from the run folder's ``config.yaml`` when the adapter
sits in one (the registry's source of truth, so the embedded model resolves to its local copy); otherwise
from ``adapter_config.json``, where pluralign records the embedded model by its Hub id and
:func:`~.base.local_ref` maps it back, so exporting never needs the Hub.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import yaml

from pluralign_core.models.adapters import CONFIG_FILE, check_adapter_folder
from pluralign_core.models.base import load_model_and_tokenizer, local_ref


def merge_adapter(base_ref: str, adapter_dir: Path | str, out_dir: Path | str, *, card: str = "") -> Path:
    """Merge ``adapter_dir`` into ``base_ref`` and write the merged model (safetensors) to ``out_dir``."""
    from peft import PeftModel

    adapter = check_adapter_folder(adapter_dir)
    out = Path(out_dir)
    if out.exists():
        raise FileExistsError(f"{out} exists already: remove it or choose another folder")
    model, tokenizer = load_model_and_tokenizer(base_ref)
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    staging = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.partial")
    staging.mkdir(parents=True)
    try:
        merged.save_pretrained(str(staging), safe_serialization=True)
        tokenizer.save_pretrained(str(staging))
        if card:
            (staging / "README.md").write_text(card, encoding="utf-8")
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


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


def merged_card(adapter: str | Path) -> str:
    """The adapter's card re-labelled for the merged model (a ``merge`` of the base, loaded without peft);
    empty when the adapter has no card."""
    path = Path(adapter) / "README.md"
    if not path.is_file():
        return ""
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---"):
        return text
    _, header_text, body = text.split("---", 2)
    header = yaml.safe_load(header_text) or {}
    header["base_model_relation"] = "merge"
    header["library_name"] = "transformers"
    header["tags"] = [*header.get("tags", []), "merged"]
    note = (
        "\n> Merged model: the LoRA adapter described below is folded into the base weights; load it with "
        "`AutoModelForCausalLM.from_pretrained(this_folder)`.\n"
    )
    return "---\n" + yaml.safe_dump(header, sort_keys=False, allow_unicode=True) + "---" + note + body
