"""The unaligned start's SFT adapter shipped with the app, so a fresh install skips the SFT run.

Why: the SFT run that makes the deliberately unaligned teaching start (:mod:`.unaligned_start`) is 50
optimizer steps, several minutes of a demo grid's or ``pluralign demo``'s time on 2 CPU cores, and every
fresh home would repeat it on the same data with the same seed. ``pluralign demo --bundle-start`` copies the
adapter it built into ``data/unaligned_start/`` with a manifest; a later build uses that adapter instead of
training only when *everything the SFT run reads* is the same: the start config's fingerprint (base model,
dataset id, steps, rate, seed, ...) and a digest of the SFT examples themselves (so a re-simulated or
re-imported dataset with the same id never gets another dataset's start). The merge and the rudeness check
still run on the user's machine, so a shipped adapter that is not rude there still fails loudly.

The adapter folder holds only ``adapter_config.json`` and ``adapter_model.safetensors`` (LoRA weights,
no pickles); the manifest records who built it, with which package versions, and how long the SFT took.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd

from pluralign_core import paths

BUNDLE_DIR = paths.DATA_DIR / "unaligned_start"
MANIFEST = "manifest.json"
ADAPTER = "adapter"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def examples_digest(examples: pd.DataFrame) -> str:
    """SHA-256 of the SFT examples in order (prompt and completion texts, with their language)."""
    digest = hashlib.sha256()
    for row in examples[["language", "prompt", "completion"]].itertuples(index=False):
        for part in row:
            digest.update(str(part).encode("utf-8"))
            digest.update(b"\x00")
    return digest.hexdigest()


def read_manifest(root: Path | str = BUNDLE_DIR) -> dict[str, Any] | None:
    path = Path(root) / MANIFEST
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def bundled_adapter(fingerprint: str, digest: str, root: Path | str = BUNDLE_DIR) -> Path | None:
    """The shipped adapter folder when it was built from this exact config and these exact examples."""
    manifest = read_manifest(root)
    if (
        not manifest
        or manifest.get("fingerprint") != fingerprint
        or manifest.get("examples_digest") != digest
    ):
        return None
    folder = Path(root) / ADAPTER
    if not all((folder / name).is_file() for name in ADAPTER_FILES):
        return None
    return folder


def install_adapter(source: Path, target: Path) -> None:
    """Copy a shipped adapter into a start's run folder (staged, so a half copy is never used)."""
    with paths.staged_folder(target) as staging:
        for name in ADAPTER_FILES:
            shutil.copy2(source / name, staging / name)


def bundle_start(start_dir: Path, fingerprint: str, digest: str, root: Path | str = BUNDLE_DIR) -> Path:
    """Write the start built at ``start_dir`` (its ``run/adapter``, config and check) into ``root``.

    ``fingerprint`` and ``digest`` are the start config's and its SFT examples' (:func:`examples_digest`);
    a build uses the bundle only when both match its own.
    """
    from pluralign_core.experiments.reference_run import machine, package_versions

    start_dir = Path(start_dir)
    adapter = start_dir / "run" / ADAPTER
    check = start_dir / "check.json"
    for needed in (adapter / ADAPTER_FILES[1], check):
        if not needed.exists():
            raise FileNotFoundError(f"{needed} is missing: build the start first")
    status_path = start_dir / "run" / "status.json"
    status = json.loads(status_path.read_text(encoding="utf-8")) if status_path.exists() else {}
    trained = status.get("finished") and status.get("started")
    root = Path(root)
    with paths.staged_folder(root, replace=True) as staging:
        (staging / ADAPTER).mkdir()
        for name in ADAPTER_FILES:
            shutil.copy2(adapter / name, staging / ADAPTER / name)
        shutil.copy2(start_dir / "config.yaml", staging / "config.yaml")
        shutil.copy2(check, staging / "check.json")
        manifest = {
            "fingerprint": fingerprint,
            "examples_digest": digest,
            "sft_seconds": round(float(status["finished"]) - float(status["started"]), 1)
            if trained
            else None,
            "bundled": time.strftime("%Y-%m-%d %H:%M:%S"),
            "versions": package_versions(),
            "machine": machine(),
            "note": "LoRA SFT adapter of the deliberately unaligned teaching start; regenerate with "
            "`pluralign demo --bundle-start` on the default data",
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return root
