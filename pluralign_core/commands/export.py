"""``pluralign export ADAPTER --merged OUT``: write a trained adapter folded into its base model.

The adapter is a folder or a registered adapter's artifact id. The merged folder loads with
``AutoModelForCausalLM.from_pretrained(OUT)`` alone (see :mod:`pluralign_core.models.merge`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = (
    "Export a trained adapter (folder or artifact id) as a merged model: the LoRA weights folded into "
    "the base, saved as safetensors with its tokenizer, loadable without peft."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("adapter", metavar="ADAPTER", help="adapter folder, or a registered adapter's id")
    parser.add_argument(
        "--merged", required=True, metavar="OUT", help="new (or empty) folder for the merged model"
    )
    parser.add_argument(
        "--base-model",
        default="",
        help="base model reference (default: the one the adapter was trained on)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")


def _locate(adapter: str) -> tuple[Path, str]:
    """The adapter folder and its base model reference ('' = read it from the folder)."""
    folder = Path(adapter).expanduser()
    if folder.is_dir():
        return folder, ""
    from pluralign_core.store.database import Store

    try:
        artifact = Store().artifact(adapter)
    except KeyError:
        raise FileNotFoundError(
            f"{adapter} is neither an adapter folder nor a registered adapter id (see `pluralign jobs list`)"
        ) from None
    if artifact["kind"] != "adapter":
        raise ValueError(f"{adapter} is a {artifact['kind']}, not an adapter")
    return Path(str(artifact["path"])), str((artifact.get("config") or {}).get("base_model") or "")


def run(args: argparse.Namespace) -> int:
    from pluralign_core.models.merge import adapter_base_model, merge_adapter, merged_card

    folder, registered_base = _locate(args.adapter)
    base = args.base_model or registered_base or adapter_base_model(folder)
    target = Path(args.merged)
    if target.exists() and not (target.is_dir() and not any(target.iterdir())):
        raise ValueError(f"{target} exists and is not an empty folder: choose a new folder for the model")
    if target.exists():
        target.rmdir()  # an empty folder the user made for it: merge_adapter renames into place
    print(f"merging {folder} into {base} (loading the base model)", file=sys.stderr, flush=True)
    out = merge_adapter(base, folder, target, card=merged_card(folder))
    result = {"adapter": str(folder), "base_model": base, "merged": str(out)}
    print(json.dumps(result) if args.json else f"merged model written to {out} (base {base})")
    return 0
