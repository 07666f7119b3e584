"""Running one measurement in a fresh Python process: a benchmark's ``--worker`` mode prints its result as
one ``WORKER {...}`` JSON line, which :func:`run_worker` reads back (so peak memory and imports are that
process's own, and one variant's state cannot leak into another's timing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PREFIX = "WORKER "


def report(result: dict) -> None:
    """Print the worker's result for :func:`run_worker`."""
    print(PREFIX + json.dumps(result), flush=True)


def run_worker(module: str, arguments: list[str], env: dict[str, str], label: str, timeout: float) -> dict:
    """``python -m module *arguments`` offline with ``env`` added; its ``WORKER`` result, or an error with
    the tail of its output."""
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **env}
    done = subprocess.run(
        [sys.executable, "-m", module, *arguments],
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPO_ROOT,
        timeout=timeout,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(PREFIX)]
    if done.returncode or not lines:
        raise RuntimeError(f"{label} worker failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len(PREFIX) :])
