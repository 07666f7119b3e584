"""One in-memory DuckDB instance per process that attaches a store file for the length of one operation.

Why: creating a DuckDB instance costs about 30 ms on a small CPU even for ``:memory:``, which was more
than half of a group-means query on the study-sized dataset. Attaching a file to an instance that is
already alive costs under 2 ms. The store still holds the file only while an operation runs — it is
detached straight after — so the CLI, a second app or a training job's registration step can open the
same file between operations, exactly as with one ``duckdb.connect`` per operation.

Operations on the same file are serialised within the process (a re-entrant lock per path): one
attachment per file at a time keeps DuckDB's rule of one writer per file, and a nested operation on the
same thread reuses the attachment its caller opened.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb


class StoreBusyError(RuntimeError):
    """Another process (or a long operation of this one) holds the database file longer than we wait."""


@dataclass
class _Attachment:
    alias: str
    read_only: bool
    depth: int = 0


class StoreHost:
    """The process-wide instance; use :func:`attached` rather than this class directly."""

    def __init__(self) -> None:
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._guard = threading.Lock()
        self._path_locks: dict[str, threading.RLock] = {}
        self._attachments: dict[str, _Attachment] = {}
        self._abandoned: list[duckdb.DuckDBPyConnection] = []

    def forget_after_fork(self) -> None:
        """A forked child must not touch the parent's instance: its threads did not survive the fork.

        The old connection is kept referenced, never closed, because closing it would join threads
        that do not exist in the child.
        """
        if self._connection is not None:
            self._abandoned.append(self._connection)
        self._connection = None
        self._guard = threading.Lock()
        self._path_locks = {}
        self._attachments = {}

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        with self._guard:
            if self._connection is None:
                self._connection = duckdb.connect(":memory:")
            return self._connection.cursor()

    def _path_lock(self, key: str) -> threading.RLock:
        with self._guard:
            return self._path_locks.setdefault(key, threading.RLock())

    @contextmanager
    def attached(
        self, path: Path, *, read_only: bool, busy_timeout: float
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A fresh connection whose default database is ``path``, attached for the block's duration."""
        key = str(path.resolve())
        lock = self._path_lock(key)
        if not lock.acquire(timeout=busy_timeout):
            raise StoreBusyError(
                f"The database {path} is busy with another operation of this process (an import, say) "
                f"for more than {busy_timeout:g} s. Wait for it to finish and try again."
            )
        try:
            attachment = self._attachments.get(key)
            if attachment is None:
                attachment = self._attach(key, path, read_only=read_only, busy_timeout=busy_timeout)
            elif attachment.read_only and not read_only:
                raise RuntimeError(
                    f"a write to {path} was started inside a read-only operation on the same file; "
                    "open the outer operation for writing"
                )
            attachment.depth += 1
            cursor = self._cursor()
            try:
                cursor.execute(f"USE {attachment.alias}")
                yield cursor
            finally:
                cursor.close()
                attachment.depth -= 1
                if attachment.depth == 0:
                    self._detach(key, attachment)
        finally:
            lock.release()

    def _attach(self, key: str, path: Path, *, read_only: bool, busy_timeout: float) -> _Attachment:
        alias = "store_" + hashlib.sha1(key.encode()).hexdigest()[:12]
        mode = " (READ_ONLY)" if read_only and path.exists() else ""
        quoted = key.replace("'", "''")
        deadline = time.monotonic() + busy_timeout
        cursor = self._cursor()
        try:
            while True:
                try:
                    cursor.execute(f"ATTACH '{quoted}' AS {alias}{mode}")
                    break
                except duckdb.IOException as error:
                    if "lock" not in str(error).lower():
                        raise
                    if time.monotonic() > deadline:
                        raise StoreBusyError(
                            f"The database {path} is in use by another process. Close the other "
                            "pluralign process (or point PLURALIGN_DB elsewhere) and try again."
                        ) from error
                    time.sleep(0.05)
        finally:
            cursor.close()
        attachment = _Attachment(alias, read_only=bool(mode))
        self._attachments[key] = attachment
        return attachment

    def _detach(self, key: str, attachment: _Attachment) -> None:
        cursor = self._cursor()
        try:
            cursor.execute(f"DETACH {attachment.alias}")
        finally:
            cursor.close()
        del self._attachments[key]


HOST = StoreHost()
os.register_at_fork(after_in_child=HOST.forget_after_fork)
