"""The store attaches its file per operation: other processes get it between operations, threads share it."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pluralign_core.store.database import Store, StoreBusyError

HOLD_FILE = """
import sys, time, duckdb
connection = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
connection.close()
"""

WRITE_FROM_OTHER_PROCESS = """
import sys, duckdb
with duckdb.connect(sys.argv[1]) as connection:
    connection.execute("INSERT INTO settings VALUES ('written_by', 'other process')")
"""


def _hold_file(path: Path, seconds: float) -> subprocess.Popen:
    """Start a process that opens ``path`` for writing and keeps it for ``seconds``."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_FILE, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "holding"
    return holder


def _write_from_other_process(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", WRITE_FROM_OTHER_PROCESS, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _setting(store: Store, key: str) -> str | None:
    rows = store.query("SELECT value FROM settings WHERE key = ?", [key])
    return None if rows.empty else rows.iloc[0, 0]


def test_other_process_can_write_between_operations(store: Store) -> None:
    store.register_artifact("run", "mine")
    assert store.artifacts().name.tolist() == ["mine"]
    written = _write_from_other_process(store.path)
    assert written.returncode == 0, written.stderr
    assert _setting(store, "written_by") == "other process"


def test_failed_operation_still_releases_the_file(store: Store) -> None:
    with pytest.raises(Exception, match="no_such_table"):
        store.query("SELECT * FROM no_such_table")
    with pytest.raises(ZeroDivisionError), store.transaction() as con:
        con.execute("INSERT INTO settings VALUES ('rolled', 'back')")
        raise ZeroDivisionError
    assert _setting(store, "rolled") is None
    written = _write_from_other_process(store.path)
    assert written.returncode == 0, written.stderr


def test_waits_while_another_process_holds_the_file(store: Store) -> None:
    holder = _hold_file(store.path, 1.0)
    started = time.monotonic()
    store.register_artifact("run", "after the other process")
    assert time.monotonic() - started > 0.3
    holder.wait(timeout=30)
    assert store.artifacts().name.tolist() == ["after the other process"]


def test_gives_up_with_a_clear_error_when_the_file_stays_busy(store: Store) -> None:
    impatient = Store(store.path, busy_timeout=0.3)
    holder = _hold_file(store.path, 5.0)
    try:
        with pytest.raises(StoreBusyError, match="in use by another process"):
            impatient.datasets()
    finally:
        holder.kill()
        holder.wait()
    assert impatient.datasets().empty


def test_nested_operations_share_one_attachment(store: Store) -> None:
    with store.transaction() as con:
        con.execute("INSERT INTO settings VALUES ('outer', 'write')")
        assert store.has_dataset("nothing") is False
    with store.connect(), store.connect(read_only=True) as inner:
        assert inner.execute("SELECT count(*) FROM settings").fetchone()[0] >= 1
    with (
        pytest.raises(RuntimeError, match="inside a read-only operation"),
        store.connect(read_only=True),
        store.connect(),
    ):
        pass
    assert _setting(store, "outer") == "write"


def test_threads_read_and_write_one_file_without_errors(store: Store) -> None:
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for step in range(10):
                store.register_artifact("run", f"w{worker}-{step}")
                store.artifacts(kind="run")
        except BaseException as error:  # collected for the assertion below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert len(store.artifacts(kind="run")) == 60


def _query_in_child(path: str, queue) -> None:
    queue.put(Store(path).query("SELECT value FROM settings WHERE key = 'schema_version'").iloc[0, 0])


def test_a_forked_child_opens_its_own_instance(store: Store) -> None:
    store.datasets()  # the parent's instance exists before the fork
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_query_in_child, args=(str(store.path), queue))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    assert queue.get(timeout=5) == "1"
