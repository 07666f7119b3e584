"""Store files are private to their user, and opening a current store needs no write lock (issue 17)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pluralign_core import paths
from pluralign_core.store.database import Store, StoreBusyError

HOLD_READ_ONLY = """
import sys, time, duckdb
connection = duckdb.connect(sys.argv[1], read_only=True)
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
connection.close()
"""


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most systems start with (022), under which new files are readable by everyone."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_home_is_0700_and_the_database_0600(pluralign_home: Path, usual_umask: None) -> None:
    """Review finding 9: the home was created 0755 and the database 0644 (race, religion, politics)."""
    store = Store()
    assert _mode(pluralign_home) == 0o700
    assert _mode(store.path) == 0o600


def test_an_existing_open_home_is_tightened(pluralign_home: Path, usual_umask: None) -> None:
    pluralign_home.mkdir(mode=0o755)
    pluralign_home.chmod(0o755)
    assert _mode(paths.home()) == 0o700


def test_opening_a_current_store_needs_no_write_lock(pluralign_home: Path) -> None:
    """Review finding 6: ``Store()`` attached read-write for its DDL, so it waited for (and then failed
    against) any other process reading the file; a current schema is now checked read-only."""
    path = Store().path
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_READ_ONLY, str(path), "20"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        store = Store(path, busy_timeout=1.0)
        assert store.query("SELECT value FROM settings WHERE key = 'schema_version'").iloc[0, 0] == "1"
    finally:
        holder.kill()
        holder.wait()


def test_sessions_read_side_by_side_and_a_write_waits_for_them(pluralign_home: Path) -> None:
    """Review finding 6: one session's long read held every other session's reads in this process."""
    import threading

    store = Store(busy_timeout=1.0)
    reading = threading.Event()
    release = threading.Event()

    def long_read() -> None:
        with store.connect(read_only=True) as con:
            con.execute("SELECT count(*) FROM settings").fetchone()
            reading.set()
            release.wait(10)

    session = threading.Thread(target=long_read)
    session.start()
    try:
        assert reading.wait(10)
        assert store.query("SELECT value FROM settings WHERE key = 'schema_version'").iloc[0, 0] == "1"
        with pytest.raises(StoreBusyError, match="busy with another operation"):
            store.register_artifact("run", "written while a session reads")
    finally:
        release.set()
        session.join(10)
    store.register_artifact("run", "written after the read")
    assert store.artifacts().name.tolist() == ["written after the read"]
