"""One in-memory DuckDB instance per process that attaches a store file for the length of one operation.

Why: creating a DuckDB instance costs about 30 ms on a small CPU even for ``:memory:``, which was more
than half of a group-means query on the study-sized dataset. Attaching a file to an instance that is
already alive costs under 2 ms. The store still holds the file only while an operation runs — it is
detached straight after — so the CLI, a second app or a training job's registration step can open the
same file between operations, exactly as with one ``duckdb.connect`` per operation.

Within the process, read-only operations on a file share one attachment and run side by side (every
session's Explore page reads at once); a write waits for them and then has the file alone, which keeps
DuckDB's rule of one writer per file. A nested operation on the same thread reuses the attachment its
caller opened.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb


class StoreBusyError(RuntimeError):
    """Another process (or a long operation of this one) holds the database file longer than we wait."""


@dataclass
class _Attachment:
    alias: str
    read_only: bool
    depth: int = 0


@dataclass
class _FileState:
    """Who uses one file in this process: readers share an attachment, a writer has it alone."""

    condition: threading.Condition = field(default_factory=threading.Condition)
    attachment: _Attachment | None = None
    readers: dict[int, int] = field(default_factory=dict)  # thread id -> nesting depth
    writer: int | None = None


class StoreHost:
    """The process-wide instance; use :func:`attached` rather than this class directly."""

    def __init__(self) -> None:
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._guard = threading.Lock()
        self._files: dict[str, _FileState] = {}
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
        self._files = {}

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        with self._guard:
            if self._connection is None:
                self._connection = duckdb.connect(":memory:")
            return self._connection.cursor()

    def _file(self, key: str) -> _FileState:
        with self._guard:
            return self._files.setdefault(key, _FileState())

    @contextmanager
    def attached(
        self, path: Path, *, read_only: bool, busy_timeout: float
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A fresh connection whose default database is ``path``, attached for the block's duration.

        Read-only operations of different sessions run side by side on one shared attachment (each on
        its own cursor); a write waits until no one reads and then has the file alone. A nested
        operation on the same thread reuses the attachment its caller opened.
        """
        key = str(path.resolve())
        state = self._file(key)
        me = threading.get_ident()
        busy = StoreBusyError(
            f"The database {path} is busy with another operation of this process (an import, say) "
            f"for more than {busy_timeout:g} s. Wait for it to finish and try again."
        )
        with state.condition:
            if state.writer == me:
                pass  # nested inside this thread's write: reuse it
            elif read_only:
                if me not in state.readers and not state.condition.wait_for(
                    lambda: state.writer is None, busy_timeout
                ):
                    raise busy
            else:
                if me in state.readers:
                    raise RuntimeError(
                        f"a write to {path} was started inside a read-only operation on the same file; "
                        "open the outer operation for writing"
                    )
                if not state.condition.wait_for(
                    lambda: state.writer is None and not state.readers, busy_timeout
                ):
                    raise busy
            if state.attachment is None:
                state.attachment = self._attach(key, path, read_only=read_only, busy_timeout=busy_timeout)
            attachment = state.attachment
            attachment.depth += 1
            if state.writer != me:
                if read_only:
                    state.readers[me] = state.readers.get(me, 0) + 1
                else:
                    state.writer = me
        cursor = self._cursor()
        try:
            cursor.execute(f"USE {attachment.alias}")
            yield cursor
        finally:
            cursor.close()
            with state.condition:
                attachment.depth -= 1
                if me in state.readers and state.writer != me:
                    state.readers[me] -= 1
                    if not state.readers[me]:
                        del state.readers[me]
                if attachment.depth == 0:
                    state.writer = None
                    state.attachment = None
                    self._detach(attachment)
                state.condition.notify_all()

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
        return _Attachment(alias, read_only=bool(mode))

    def _detach(self, attachment: _Attachment) -> None:
        cursor = self._cursor()
        try:
            cursor.execute(f"DETACH {attachment.alias}")
        finally:
            cursor.close()


HOST = StoreHost()
os.register_at_fork(after_in_child=HOST.forget_after_fork)
