"""Helpers for tests/test_faults.py: big input files, child processes to kill, and corrupted adapters.

The child-process entry points (:func:`traced_import`, :func:`serve_queue`) run under
``python -c "from tests.fault_helpers import ...; ..."`` with the repository root as working directory and
``PLURALIGN_HOME`` inherited from the test, so they use pluralign's public API exactly as the app does.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from pluralign_core import paths
from pluralign_core.store.database import DATASET_TABLES

TRAINING_MODULE = "pluralign_core.training.run"
TABLES = (*DATASET_TABLES, "artifacts")


def wait_for(predicate: Callable[[], Any], timeout: float = 120.0, every: float = 0.2, what: str = "") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or predicate}")


# ------------------------------------------------------------------------------------------ big import
def write_ratings_csv(path: Path, n_raters: int, n_items: int) -> int:
    """A wide ratings CSV with ``n_raters × n_items`` rows (two dimensions, one demographic)."""
    lines = ["rater,item,prompt,response,gender,toxicity,helpfulness"]
    for r in range(n_raters):
        gender = "woman" if r % 2 else "man"
        for i in range(n_items):
            lines.append(
                f"r{r},i{i},Prompt {i % 10}?,Answer number {i}.,{gender},{(r + i) % 5 + 1},{i % 5 + 1}"
            )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines) - 1


def ratings_spec(dataset_id: str):
    """The import mapping of :func:`write_ratings_csv` files."""
    from pluralign_core.ratings.importing import DemographicSpec, DimensionSpec, ImportSpec

    return ImportSpec(
        dataset_id=dataset_id,
        rater_id="rater",
        item_id="item",
        prompt_text="prompt",
        response_text="response",
        dimensions=[DimensionSpec.guess("toxicity"), DimensionSpec.guess("helpfulness")],
        demographics=[DemographicSpec("gender")],
        scale_kind="numeric",
    )


class _TracedConnection:
    """A DuckDB connection that prints every statement it runs and holds after ``hold_after``."""

    def __init__(self, connection: Any, hold_after: str) -> None:
        self._connection = connection
        self._hold_after = hold_after

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        head = " ".join(sql.split())[:48]
        print(f"executing {head}", flush=True)
        result = self._connection.execute(sql, *args, **kwargs)
        print(f"executed {head}", flush=True)
        if head.startswith(self._hold_after):
            # Never let the transaction reach COMMIT on its own: the parent kills this process first.
            print("holding before commit", flush=True)
            threading.Event().wait()
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


def traced_import(csv_path: str, spec_path: str, hold_after: str = "INSERT INTO ratings") -> None:
    """Child process: import ``csv_path`` with pluralign's import API, printing progress through the write.

    ``Store.transaction`` is wrapped so that each SQL statement of the dataset write is announced on
    stdout before and after it runs; after ``hold_after`` has run the process waits (still inside the
    transaction) so a SIGKILL from the parent always lands before COMMIT, however loaded the machine.
    """
    from pluralign_core.ratings.importing import ImportSpec, import_dataset
    from pluralign_core.store.database import Store

    original = Store.transaction

    @contextmanager
    def traced(self: Store) -> Iterator[Any]:
        with original(self) as connection:
            print("transaction begun", flush=True)
            yield _TracedConnection(connection, hold_after)
        print("committed", flush=True)

    Store.transaction = traced  # type: ignore[method-assign]
    print(f"reading {csv_path}", flush=True)
    report = import_dataset(Store(), csv_path, ImportSpec.from_yaml(Path(spec_path)))
    print(f"import finished written={report.written}", flush=True)


class LineReader:
    """Collects a child's stdout lines on a thread so the test can wait for a marker without blocking."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(process,), daemon=True)
        self._thread.start()

    def _pump(self, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            self._queue.put(raw.decode("utf-8", errors="replace").rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, marker: str, timeout: float) -> str:
        """The first line starting with ``marker``; AssertionError with the output on EOF or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self._queue.get(timeout=max(remaining, 0.01))
            except queue.Empty:
                raise AssertionError(f"no {marker!r} within {timeout:.0f} s:\n{self.text()}") from None
            if line is None:
                raise AssertionError(f"the child ended before {marker!r}:\n{self.text()}")
            self.lines.append(line)
            if line.startswith(marker):
                return line

    def finish(self, timeout: float = 10.0) -> str:
        """Everything the child wrote (call after it has exited)."""
        self._thread.join(timeout)
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return self.text()

    def text(self) -> str:
        return "\n".join(self.lines)


def python_child(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``python -c code args...`` from the repository root, stdout and stderr merged into one pipe."""
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=str(paths.REPO_ROOT),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


def kill(process: subprocess.Popen) -> int:
    """SIGKILL a child we started and reap it; returns its exit status (-9)."""
    with suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGKILL)
    return process.wait(timeout=30)


def store_snapshot(store: Any) -> dict[str, Any]:
    """Row counts of every table and a content hash of every dataset's ratings (one connection)."""
    with store.connect(read_only=True) as connection:
        counts = {t: connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
        hashes = connection.execute(
            "SELECT dataset_id, count(*), bit_xor(hash(rater_id, response_id, dimension, score)) "
            "FROM ratings GROUP BY dataset_id ORDER BY dataset_id"
        ).fetchall()
    return {"counts": counts, "ratings": hashes}


def rows_of(store: Any, dataset_id: str) -> dict[str, int]:
    """How many rows each dataset table holds for ``dataset_id`` (all zero when it is absent)."""
    with store.connect(read_only=True) as connection:
        return {
            t: connection.execute(f"SELECT count(*) FROM {t} WHERE dataset_id = ?", [dataset_id]).fetchone()[
                0
            ]
            for t in TABLES
            if t != "artifacts"
        }


# ------------------------------------------------------------------------------------------ job queue
def serve_queue(root: str, env_json: str) -> None:
    """Child process: the app's side of the job queue, polling like the Train page's fragment."""
    from pluralign_core.training.jobs import JobQueue

    jobs = JobQueue(Path(root), max_concurrent=1, env=json.loads(env_json))
    print(f"app pid {os.getpid()}", flush=True)
    while True:
        for run_id in jobs.poll():
            print(f"started {run_id} pid {jobs.status(run_id)['pid']}", flush=True)
        time.sleep(0.2)


def training_processes(root: Path) -> list[Any]:
    """Live (non-zombie) training processes of runs under ``root``."""
    import psutil

    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = process.info.get("cmdline") or []
        if process.info.get("status") == psutil.STATUS_ZOMBIE or TRAINING_MODULE not in cmdline:
            continue
        if any(str(root) in part for part in cmdline):
            found.append(process)
    return found


def kill_training_processes(root: Path) -> None:
    """SIGKILL the process group of every training process this test started under ``root``."""
    for process in training_processes(root):
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


# ------------------------------------------------------------------------------------------ adapters
def truncate_file(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def garble_file(path: Path, seed: int = 0) -> None:
    import random

    path.write_bytes(random.Random(seed).randbytes(max(path.stat().st_size, 4096)))
