"""Job folders and the queue that runs them, one process per job: training runs and evaluations alike.

Following LLaMA-Factory's LlamaBoard, a job is a folder: ``config.yaml`` (what to do), ``status.json``
(state, pid, times, error; written atomically), a JSONL progress log the job appends to, ``process.log``
(its stdout and stderr) and its outputs. The queue writes the config and the state ``queued``; :meth:`poll`
starts ``python -m <module> JOB_DIR`` through :mod:`pluralign_core.launcher` (own session, pid + start
time), and every reader follows the folder. Nothing is kept only in memory: after a browser reload or an
app restart a new queue object rebuilds everything from the folders, and a job whose process died without
writing a final state is reported ``interrupted`` with the tail of its log.

The queue lives in ``training/``, the first stage that runs jobs; a later stage (evaluation) subclasses
:class:`ProcessQueue` with its own folder and worker module instead of copying the queue logic.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from pluralign_core import launcher, paths
from pluralign_core.config_base import YamlConfig

CONFIG_FILE = "config.yaml"
STATUS_FILE = "status.json"
PROCESS_LOG = "process.log"
ACTIVE_STATES = ("running",)
TERMINAL_STATES = ("completed", "failed", "cancelled", "interrupted")
MAX_JOBS_ENV = "PLURALIGN_MAX_JOBS"


class JobCancelled(BaseException):
    """Raised inside a job when its process receives SIGTERM (the Cancel button)."""


def read_status(job_dir: Path | str) -> dict[str, Any]:
    path = Path(job_dir) / STATUS_FILE
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return {}


def write_status(job_dir: Path | str, **updates: Any) -> dict[str, Any]:
    """Merge ``updates`` into ``status.json`` atomically (write a sibling, then rename)."""
    path = Path(job_dir) / STATUS_FILE
    status = {**read_status(job_dir), **updates}
    handle, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{STATUS_FILE}.")  # unique per writer
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(json.dumps(status, indent=2, default=str))
    os.replace(staging, path)
    return status


def append_event(path: Path | str, event: dict[str, Any]) -> None:
    """Append one event to a JSONL progress log (one line, one ``write``: readers see whole lines)."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(event, default=float) + "\n")


def read_events(path: Path | str) -> list[dict[str, Any]]:
    """All complete lines of a progress log (a half-written last line is skipped)."""
    path = Path(path)
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


def tail(path: Path | str, lines: int = 40) -> str:
    """The last ``lines`` lines of a (possibly large, still growing) log file."""
    path = Path(path)
    if not path.exists():
        return ""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(0, handle.tell() - 64_000))
        text = handle.read().decode("utf-8", errors="replace")
    return "\n".join(text.replace("\r", "\n").splitlines()[-lines:])


def _raise_cancelled(signum: int, frame: Any) -> None:
    raise JobCancelled(f"received signal {signum}")


@contextlib.contextmanager
def cancel_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM (what :meth:`ProcessQueue.cancel` sends) into :class:`JobCancelled` inside the block."""
    previous = signal.signal(signal.SIGTERM, _raise_cancelled)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


_THREAD_LOCK = threading.RLock()
_HELD = threading.local()


def job_main(argv: list[str] | None, module: str, run: Callable[[str], dict[str, Any]]) -> int:
    """``python -m MODULE JOB_DIR``: run one job folder; exit 0 when completed, 143 when cancelled, else 1."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(f"usage: python -m {module} JOB_DIR", file=sys.stderr)
        return 2
    status = run(argv[0])
    return {"completed": 0, "cancelled": 143}.get(status.get("state", ""), 1)


@contextlib.contextmanager
def _queue_lock(root: Path) -> Iterator[None]:
    """Exclusive over every thread of this process (a lock) and every process (``flock`` on a lock file).

    Re-entrant within a thread, so a compound step (resume: check, rewrite the config, requeue) can hold
    it around the smaller steps that take it themselves.
    """
    lock_file = root.with_name(f"{root.name}.lock")  # beside the jobs folder, not a job inside it
    held: set[Path] = _HELD.__dict__.setdefault("roots", set())
    with _THREAD_LOCK:
        if lock_file in held:
            yield
            return
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_file, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            held.add(lock_file)
            try:
                yield
            finally:
                held.discard(lock_file)
                fcntl.flock(handle, fcntl.LOCK_UN)


def _is_job_folder(folder: Path) -> bool:
    return (folder / CONFIG_FILE).exists() and (folder / STATUS_FILE).exists()


def default_max_concurrent() -> int:
    """``$PLURALIGN_MAX_JOBS`` or 1: one CPU job already uses every core."""
    return max(1, int(os.environ.get(MAX_JOBS_ENV, "1") or 1))


class ProcessQueue:
    """Jobs under ``<home>/<FOLDER>/<job_id>/``, each run by ``python -m <MODULE> JOB_DIR``.

    At most ``max_concurrent`` jobs of this queue run at once. Subclasses name the folder, the worker
    module and what a job is called in messages, and add what their jobs report.
    """

    FOLDER: ClassVar[str] = "jobs"
    MODULE: ClassVar[str] = ""
    WHAT: ClassVar[str] = "job"
    #: Environment every job of this queue gets, under the ``env`` given to the queue.
    ENVIRONMENT: ClassVar[dict[str, str]] = {}

    def __init__(
        self,
        root: Path | str | None = None,
        max_concurrent: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.root = Path(root) if root is not None else paths.subdir(self.FOLDER)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_concurrent = max_concurrent or default_max_concurrent()
        self.env = {**self.ENVIRONMENT, **(env or {})}
        self._children: dict[int, Any] = {}  # pid -> Popen of the processes this object started

    # ------------------------------------------------------------------ folders
    def run_dir(self, run_id: str) -> Path:
        folder = self.root / paths.safe_name(run_id)
        if not (folder / CONFIG_FILE).exists():
            raise KeyError(f"no {self.WHAT} {run_id!r} under {self.root}")
        return folder

    def run_ids(self) -> list[str]:
        """Job folders (a config and a status), oldest first by the time they were queued."""
        folders = [p for p in self.root.iterdir() if _is_job_folder(p)]
        return [p.name for p in sorted(folders, key=lambda p: read_status(p).get("queued", 0))]

    def status(self, run_id: str) -> dict[str, Any]:
        return read_status(self.run_dir(run_id))

    def log_tail(self, run_id: str, lines: int = 40) -> str:
        return tail(self.run_dir(run_id) / PROCESS_LOG, lines)

    # ------------------------------------------------------------------ submit / start
    def _create(self, config: YamlConfig, run_id: str, *, foreground: bool = False, **facts: Any) -> str:
        """Make the job folder with ``config.yaml`` and state ``queued`` (plus ``facts`` for listings).

        ``foreground=True`` registers a job that the calling process runs itself (``pluralign train``,
        ``pluralign evaluate``): it is marked running with the caller's pid, so the queue neither starts
        it nor takes it for dead.
        """
        run_id = paths.safe_name(run_id)
        folder = self.root / run_id
        folder.mkdir(parents=True, exist_ok=False)
        config.to_yaml(folder / CONFIG_FILE)
        write_status(folder, state="queued", queued=time.time(), **facts)
        if foreground:
            write_status(
                folder,
                state="running",
                pid=os.getpid(),
                pid_started=launcher.process_start_time(os.getpid()),
            )
        return run_id

    def poll(self) -> list[str]:
        """Mark dead jobs, then start queued jobs while fewer than ``max_concurrent`` are running.

        Several sessions (threads of one app, or several processes) poll the same folder; the whole
        read-decide-start step holds :func:`_queue_lock`, so a queued job is started exactly once and the
        concurrency limit holds across sessions.
        """
        with _queue_lock(self.root):
            self.refresh()
            statuses = {run_id: read_status(self.root / run_id) for run_id in self.run_ids()}
            # A job that has written its final state may still be exiting (freeing its memory): busy too.
            running = sum(
                status.get("state") in ACTIVE_STATES
                or (status.get("state") != "queued" and self.is_alive(status))
                for status in statuses.values()
            )
            started = []
            for run_id, status in statuses.items():
                if status.get("state") == "queued" and running < self.max_concurrent:
                    self._start(run_id)
                    running += 1
                    started.append(run_id)
            return started

    def _start(self, run_id: str) -> None:
        folder = self.root / run_id
        process = launcher.launch(
            launcher.python_module_command(self.MODULE, str(folder)), folder / PROCESS_LOG, self.env
        )
        self._children[process.pid] = process.popen
        write_status(
            folder,
            state="running",
            pid=process.pid,
            pid_started=process.started,
            launched=time.time(),
            finished=None,
            error=None,
            log_tail=None,
        )

    # ------------------------------------------------------------------ liveness
    def is_alive(self, status: dict[str, Any]) -> bool:
        """Whether the job's process still exists and is the one we started (pids get reused)."""
        pid = status.get("pid")
        return launcher.is_alive(pid, status.get("pid_started"), self._children.get(pid))

    def refresh(self) -> list[str]:
        """Report jobs whose process is gone without a final state as ``interrupted`` (with the log tail)."""
        interrupted = []
        for run_id in self.run_ids():
            folder = self.root / run_id
            status = read_status(folder)
            if status.get("state") not in ACTIVE_STATES or self.is_alive(status):
                continue
            status = read_status(folder)  # the process may have written its final state meanwhile
            if status.get("state") in ACTIVE_STATES:
                write_status(
                    folder,
                    state="interrupted",
                    finished=time.time(),
                    error=f"the {self.WHAT} process ended without reporting a result (killed or crashed)",
                    log_tail=tail(folder / PROCESS_LOG),
                )
                interrupted.append(run_id)
        return interrupted

    # ------------------------------------------------------------------ control
    def cancel(self, run_id: str, timeout: float = 15.0) -> dict[str, Any]:
        """Stop a job: SIGTERM its process group (the job saves ``cancelled``), SIGKILL if it hangs."""
        folder = self.run_dir(run_id)
        with _queue_lock(self.root):  # a queued job is either started by a poll or cancelled, never both
            status = read_status(folder)
            if status.get("state") == "queued":
                return write_status(folder, state="cancelled", finished=time.time())
        if status.get("state") in ACTIVE_STATES:
            pid = status.get("pid")
            launcher.stop(pid, status.get("pid_started"), self._children.get(pid), timeout=timeout)
        with _queue_lock(self.root):
            status = read_status(folder)
            if status.get("state") in TERMINAL_STATES:
                return status
            if self.is_alive(status):
                # Saying "cancelled" while the process runs on would let Resume start a second one.
                raise ValueError(
                    f"{self.WHAT} {run_id} (pid {status.get('pid')}) did not stop within {timeout:g} s; "
                    "it is still running. Try again, or end the process yourself."
                )
            return write_status(
                folder, state="cancelled", finished=time.time(), log_tail=tail(folder / PROCESS_LOG)
            )

    def requeue(self, run_id: str, **updates: Any) -> dict[str, Any]:
        """Queue a stopped job again (its folder and config kept); ``updates`` go into its status."""
        folder = self.run_dir(run_id)
        with _queue_lock(self.root):  # check and write in one step: two Resume clicks queue it once
            status = read_status(folder)
            state = status.get("state")
            if state not in ("interrupted", "failed", "cancelled"):
                raise ValueError(
                    f"{self.WHAT} {run_id} is {state}: only interrupted, failed or cancelled ones can run "
                    "again"
                )
            if self.is_alive(status):
                raise ValueError(
                    f"{self.WHAT} {run_id} is marked {state} but its process (pid {status.get('pid')}) "
                    "is still running; stop it before running the job again"
                )
            return write_status(folder, state="queued", error=None, finished=None, log_tail=None, **updates)
