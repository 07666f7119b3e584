"""How long the server spends on each page run, logged when ``PLURALIGN_RUN_LOG`` names a JSONL file.

A page that feels slow in the browser is slow either on the server (the page's script: queries, figures,
serialising them) or after it (the network, the browser laying out and drawing the page). The browser
sees only the sum. :func:`timed_run` wraps one run of a page's script and appends one line per run::

    {"page": "explore", "started": 1764681600.1, "wall_s": 0.42, "cpu_s": 0.31, "outcome": "finished"}

``wall_s`` is the script's elapsed time; ``cpu_s`` the CPU its thread used (``time.thread_time``), so
``wall_s - cpu_s`` is time the script waited: for the CPU (other processes), for the GIL (other sessions'
scripts), for DuckDB's threads or for a cache another session was filling. ``outcome`` is ``finished`` or
the exception that ended the run (Streamlit ends a run early with ``RerunException`` / ``StopException``).

Unset (the default), nothing is measured or written. Lines are appended with one ``write`` on a file
opened in append mode, so concurrent sessions' lines do not interleave.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RUN_LOG_ENV = "PLURALIGN_RUN_LOG"


def run_log_path() -> Path | None:
    """The JSONL file page runs are logged to, or None (the default: no logging)."""
    configured = os.environ.get(RUN_LOG_ENV, "").strip()
    return Path(configured).expanduser() if configured else None


@contextmanager
def timed_run(page: str) -> Iterator[None]:
    """Time the block (one run of ``page``'s script) into the run log, when one is configured."""
    path = run_log_path()
    if path is None:
        yield
        return
    started, wall, cpu = time.time(), time.perf_counter(), time.thread_time()
    outcome = "finished"
    try:
        yield
    except BaseException as error:
        outcome = type(error).__name__
        raise
    finally:
        line = {
            "page": page,
            "started": round(started, 3),
            "wall_s": round(time.perf_counter() - wall, 4),
            "cpu_s": round(time.thread_time() - cpu, 4),
            "outcome": outcome,
        }
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(line) + "\n")


def read_run_log(path: Path) -> list[dict]:
    """The runs logged in ``path`` (none when it does not exist)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
