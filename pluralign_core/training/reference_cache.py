"""DPO's reference log-probabilities, computed once per reference model and reused across runs and seeds.

DPO compares the policy with a frozen reference on every pair, so a plain run spends about a third of each
step on a forward pass whose result never changes. In a grid every cell tunes from the same start, on pairs
drawn from the same few hundred (prompt, answer) texts, so the same reference forward is repeated by every
design and seed. trl's ``precompute_ref_log_probs`` computes them before training but caches per dataset;
this cache is keyed per *sequence*: the reference model's weights, the truncation settings, the precision,
and the token ids of prompt and answer. A log-prob of (prompt, answer) does not depend on the pair it
appears in (trl truncates each sequence on its own), so one entry serves every pair that contains it.

The cache is a JSON file per reference identity under ``$PLURALIGN_HOME/cache/reference_logps/``, written
atomically (a concurrent writer can lose entries, never corrupt the file).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

from pluralign_core import paths

CACHE_FOLDER = ("cache", "reference_logps")


def weights_fingerprint(model_folder: str | Path) -> str:
    """Size and modification time of every weights file: changes whenever the folder is rebuilt."""
    folder = Path(model_folder)
    if not folder.is_dir():
        return str(model_folder)  # a hub id: its name is all we know without a download
    parts = [str(folder.resolve())]
    for file in sorted(folder.glob("*.safetensors")):
        stat = file.stat()
        parts.append(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return "|".join(parts)


def reference_identity(model_folder: str | Path, **settings: object) -> str:
    """One hash for the reference model's weights and the settings that change its log-probs."""
    text = json.dumps({"weights": weights_fingerprint(model_folder), **settings}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def sequence_key(prompt_ids: Sequence[int], completion_ids: Sequence[int]) -> str:
    data = ",".join(map(str, prompt_ids)) + "|" + ",".join(map(str, completion_ids))
    return hashlib.sha1(data.encode()).hexdigest()


class ReferenceLogpCache:
    """Summed completion log-probs of (prompt, answer) token sequences under one reference model."""

    def __init__(self, identity: str, folder: Path | None = None) -> None:
        self.folder = folder or paths.home().joinpath(*CACHE_FOLDER)
        self.path = self.folder / f"{identity}.json"
        self.values: dict[str, float] = {}
        if self.path.exists():
            try:
                self.values = {k: float(v) for k, v in json.loads(self.path.read_text()).items()}
            except (OSError, ValueError):
                self.values = {}  # a damaged cache is recomputed, never trusted
        self.hits = 0
        self.misses = 0

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def __getitem__(self, key: str) -> float:
        return self.values[key]

    def count(self, keys: Iterable[str]) -> None:
        """Record hits and misses of a lookup of ``keys`` (for the run's card and the log)."""
        for key in keys:
            if key in self.values:
                self.hits += 1
            else:
                self.misses += 1

    def update(self, items: Iterable[tuple[str, float]]) -> None:
        self.values.update((k, float(v)) for k, v in items)

    def save(self) -> None:
        """Merge with what another process may have written meanwhile, then replace the file atomically."""
        self.folder.mkdir(parents=True, exist_ok=True)
        merged = dict(self.values)
        if self.path.exists():
            with contextlib.suppress(OSError, ValueError):
                merged = {**json.loads(self.path.read_text()), **merged}
        staging = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}")
        staging.write_text(json.dumps(merged))
        os.replace(staging, self.path)
