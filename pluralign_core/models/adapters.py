"""Checks on a PEFT adapter folder before it is loaded onto a shared base model.

Adapter folders come from training runs, but they live on disk where a crash, a full disk or a hand edit
can break them. peft's own errors for a broken folder (safetensors' ``SafetensorError``, a JSON decode error,
a "repo id" validation error) name neither the folder nor the file, and some are not ``ValueError``s, so a
page cannot tell them from a bug. :func:`check_adapter_folder` turns every such problem into one
``ValueError`` that names the folder, the file and what to do.
"""

from __future__ import annotations

import json
from pathlib import Path

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"


def _broken(folder: Path, file: str, problem: str) -> ValueError:
    return ValueError(
        f"adapter folder {folder}: {file} {problem}; train the adapter again or delete it from the registry"
    )


def check_adapter_folder(path: str | Path) -> Path:
    """Return the folder when its config parses and its safetensors weights open; else raise ``ValueError``.

    Only ``adapter_model.safetensors`` is accepted: pickled ``.bin`` weights are never loaded.
    """
    from safetensors import safe_open

    folder = Path(path)
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        raise _broken(folder, CONFIG_FILE, "is missing")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _broken(folder, CONFIG_FILE, f"is unreadable ({error})") from error
    if not isinstance(config, dict) or "peft_type" not in config:
        raise _broken(folder, CONFIG_FILE, "is not a PEFT adapter config (no 'peft_type')")
    weights_path = folder / WEIGHTS_FILE
    if not weights_path.is_file():
        raise _broken(folder, WEIGHTS_FILE, "is missing")
    try:
        with safe_open(str(weights_path), framework="pt") as weights:
            if not list(weights.keys()):
                raise _broken(folder, WEIGHTS_FILE, "holds no tensors")
    except ValueError:
        raise
    except Exception as error:  # SafetensorError derives from Exception only
        raise _broken(folder, WEIGHTS_FILE, f"is unreadable ({error})") from error
    return folder


def record_base_model(path: str | Path, base_model: str) -> None:
    """Set ``base_model_name_or_path`` in the adapter's config (after peft saved it).

    peft records the folder the base was loaded from, which exists on this machine only; a Hub id lets
    ``AutoPeftModelForCausalLM`` load the adapter anywhere. It is written after saving because peft's save
    would look the id up on the Hub. pluralign itself never reads this field to load a base: the registry's
    run config names the base (the embedded copy, for the embedded model).
    """
    config_path = Path(path) / CONFIG_FILE
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = base_model
    staging = config_path.with_suffix(".json.partial")
    staging.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    staging.replace(config_path)
