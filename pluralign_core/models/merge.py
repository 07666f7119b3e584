"""Fold a LoRA adapter into its base model and save the result as a plain Hugging Face model folder.

A merged folder loads with ``AutoModelForCausalLM.from_pretrained`` and nothing else, so it can be the
*base* of later runs (the unaligned teaching start is an SFT adapter merged this way; DPO cells then tune
new adapters on it and use it as their reference model) or be shared without peft. The folder is written
to a unique staging name and renamed into place only when complete, so a crash never leaves half a model
where a later run would load it.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from pluralign_core.models.adapters import check_adapter_folder
from pluralign_core.models.base import load_model_and_tokenizer


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
