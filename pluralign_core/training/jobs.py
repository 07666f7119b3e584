"""A queue of training runs, each a separate process, with the run folders as the source of truth.

Following LLaMA-Factory's LlamaBoard: the UI writes ``config.yaml`` into a new run folder, starts
``python -m pluralign_core.training.run RUN_DIR`` with ``subprocess.Popen`` (a list of arguments, its own
session so that cancel can signal the whole process group) and follows ``trainer_log.jsonl``. Nothing is kept
only in memory: after a browser reload or an app restart, :meth:`JobQueue.runs` rebuilds the table from the
folders, and a run whose process died without writing a final state is reported ``interrupted`` with the tail
of its log. Training processes never open the DuckDB store (one writing process per file):
:meth:`JobQueue.register_finished` registers their adapters from the app or CLI process.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

from pluralign_core import paths
from pluralign_core.training.callbacks import LOG_FILE, read_events
from pluralign_core.training.common import CHECKPOINT_DIR
from pluralign_core.training.config import RunConfig
from pluralign_core.training.run import (
    ADAPTER_DIR,
    CONFIG_FILE,
    PROCESS_LOG,
    TERMINAL_STATES,
    read_status,
    write_status,
)

ACTIVE_STATES = ("running",)
MAX_JOBS_ENV = "PLURALIGN_MAX_JOBS"


_THREAD_LOCK = threading.Lock()


@contextlib.contextmanager
def _queue_lock(root: Path):
    """Exclusive over every thread of this process (a lock) and every process (``flock`` on a lock file)."""
    lock_file = root.with_name(f"{root.name}.lock")  # beside the runs folder, not a run inside it
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with _THREAD_LOCK, open(lock_file, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def default_max_concurrent() -> int:
    """``$PLURALIGN_MAX_JOBS`` or 1: one CPU training job already uses every core."""
    return max(1, int(os.environ.get(MAX_JOBS_ENV, "1") or 1))


def last_checkpoint(run_dir: Path | str) -> Path | None:
    folder = Path(run_dir) / CHECKPOINT_DIR
    found = []
    for child in folder.glob("checkpoint-*"):
        suffix = child.name.rsplit("-", 1)[-1]
        if child.is_dir() and suffix.isdigit() and (child / "trainer_state.json").exists():
            found.append((int(suffix), child))
    return max(found)[1] if found else None


def tail(path: Path | str, lines: int = 40) -> str:
    path = Path(path)
    if not path.exists():
        return ""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(0, handle.tell() - 64_000))
        text = handle.read().decode("utf-8", errors="replace")
    return "\n".join(text.replace("\r", "\n").splitlines()[-lines:])


def _process_start_time(pid: int) -> float | None:
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


class JobQueue:
    """Training runs under ``<home>/runs/<run_id>/``; at most ``max_concurrent`` run at once."""

    def __init__(
        self,
        root: Path | str | None = None,
        max_concurrent: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.root = Path(root) if root is not None else paths.subdir("runs")
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_concurrent = max_concurrent or default_max_concurrent()
        self.env = env
        self._children: dict[int, subprocess.Popen] = {}

    # ------------------------------------------------------------------ folders
    def run_dir(self, run_id: str) -> Path:
        folder = self.root / paths.safe_name(run_id)
        if not (folder / CONFIG_FILE).exists():
            raise KeyError(f"no run {run_id!r} under {self.root}")
        return folder

    def run_ids(self) -> list[str]:
        folders = [p for p in self.root.iterdir() if (p / CONFIG_FILE).exists()]
        return [p.name for p in sorted(folders, key=lambda p: read_status(p).get("queued", 0))]

    def config(self, run_id: str) -> RunConfig:
        return RunConfig.from_yaml(self.run_dir(run_id) / CONFIG_FILE)

    def status(self, run_id: str) -> dict[str, Any]:
        return read_status(self.run_dir(run_id))

    # ------------------------------------------------------------------ submit / start
    def submit(self, config: RunConfig, run_id: str | None = None, *, foreground: bool = False) -> str:
        """Create the run folder with ``config.yaml`` and state ``queued``; :meth:`poll` starts it.

        ``foreground=True`` registers a run that the calling process trains itself (``pluralign train``):
        it is marked running with the caller's pid, so the queue neither starts it nor thinks it dead.
        """
        run_id = paths.safe_name(
            run_id or f"{time.strftime('%Y%m%d-%H%M%S')}-{config.label}"[:60] + f"-{uuid.uuid4().hex[:4]}"
        )
        folder = self.root / run_id
        folder.mkdir(parents=True, exist_ok=False)
        config.to_yaml(folder / CONFIG_FILE)
        write_status(
            folder, state="queued", queued=time.time(), name=config.label, algorithm=config.algorithm
        )
        if foreground:
            write_status(
                folder, state="running", pid=os.getpid(), pid_started=_process_start_time(os.getpid())
            )
        return run_id

    def poll(self) -> list[str]:
        """Mark dead runs, then start queued runs while fewer than ``max_concurrent`` are running.

        Several sessions (threads of one app, or several processes) poll the same runs folder; the whole
        read-decide-start step holds :func:`_queue_lock`, so a queued run is started exactly once and the
        concurrency limit holds across sessions.
        """
        with _queue_lock(self.root):
            self.refresh()
            statuses = {run_id: read_status(self.root / run_id) for run_id in self.run_ids()}
            # A run that has written its final state may still be exiting (freeing its memory): busy too.
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
        command = [sys.executable, "-m", "pluralign_core.training.run", str(folder)]
        env = {**os.environ, **(self.env or {})}
        env.setdefault("PYTHONUNBUFFERED", "1")
        with open(folder / PROCESS_LOG, "ab") as log:
            child = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
                cwd=str(paths.REPO_ROOT),
            )
        self._children[child.pid] = child
        write_status(
            folder,
            state="running",
            pid=child.pid,
            pid_started=_process_start_time(child.pid),
            launched=time.time(),
            finished=None,
            error=None,
            log_tail=None,
        )

    # ------------------------------------------------------------------ liveness
    def is_alive(self, status: dict[str, Any]) -> bool:
        """Whether the run's process still exists and is the one we started (pids get reused)."""
        pid = status.get("pid")
        if not pid:
            return False
        child = self._children.get(pid)
        if child is not None:
            return child.poll() is None
        started = _process_start_time(pid)
        if started is None:
            return False
        expected = status.get("pid_started")
        return expected is None or abs(started - float(expected)) < 2.0

    def refresh(self) -> list[str]:
        """Report runs whose process is gone without a final state as ``interrupted`` (with the log tail)."""
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
                    error="the training process ended without reporting a result (killed or crashed)",
                    log_tail=tail(folder / PROCESS_LOG),
                )
                interrupted.append(run_id)
        return interrupted

    # ------------------------------------------------------------------ control
    def cancel(self, run_id: str, timeout: float = 15.0) -> dict[str, Any]:
        """Stop a run: SIGTERM its process group (the run saves state ``cancelled``), SIGKILL if it hangs."""
        folder = self.run_dir(run_id)
        status = read_status(folder)
        if status.get("state") == "queued":
            return write_status(folder, state="cancelled", finished=time.time())
        if status.get("state") in ACTIVE_STATES and self.is_alive(status):
            pid = int(status["pid"])
            self._signal(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.is_alive(status):
                time.sleep(0.2)
            if self.is_alive(status):
                self._signal(pid, signal.SIGKILL)
                time.sleep(0.2)
        status = read_status(folder)
        if status.get("state") not in TERMINAL_STATES:
            status = write_status(
                folder, state="cancelled", finished=time.time(), log_tail=tail(folder / PROCESS_LOG)
            )
        return status

    def _signal(self, pid: int, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signum)
        child = self._children.get(pid)
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=0.1)

    def resume(self, run_id: str) -> Path:
        """Queue a stopped run again, continuing from its last checkpoint."""
        folder = self.run_dir(run_id)
        status = read_status(folder)
        if status.get("state") not in ("interrupted", "failed", "cancelled"):
            raise ValueError(
                f"run {run_id} is {status.get('state')}: only interrupted, failed or cancelled "
                "runs can be resumed"
            )
        checkpoint = last_checkpoint(folder)
        if checkpoint is None:
            raise ValueError(
                f"run {run_id} has no checkpoint under {folder / CHECKPOINT_DIR} yet: "
                "submit it again (or lower save_steps)"
            )
        config = self.config(run_id)
        config.resume_from_checkpoint = str(checkpoint)
        config.to_yaml(folder / CONFIG_FILE)
        write_status(
            folder,
            state="queued",
            error=None,
            finished=None,
            log_tail=None,
            resumes=int(status.get("resumes", 0)) + 1,
        )
        return checkpoint

    # ------------------------------------------------------------------ reading
    def progress(self, run_id: str) -> dict[str, Any]:
        """The latest progress line merged with the latest metric of each kind (loss may skip lines)."""
        events = read_events(self.run_dir(run_id) / LOG_FILE)
        merged: dict[str, Any] = {}
        for event in events:
            if event.get("event") in ("log", "start", "end"):
                merged.update({k: v for k, v in event.items() if v is not None})
        return merged

    def history(self, run_id: str) -> pd.DataFrame:
        events = [
            e for e in read_events(self.run_dir(run_id) / LOG_FILE) if e.get("event") == "log" and "loss" in e
        ]
        return pd.DataFrame(events)

    def log_tail(self, run_id: str, lines: int = 40) -> str:
        return tail(self.run_dir(run_id) / PROCESS_LOG, lines)

    def runs(self) -> pd.DataFrame:
        """One row per run folder (newest first), after marking dead processes."""
        self.refresh()
        rows = []
        for run_id in self.run_ids():
            status = read_status(self.root / run_id)
            progress = self.progress(run_id)
            rows.append(
                {
                    "run_id": run_id,
                    "name": status.get("name", ""),
                    "algorithm": status.get("algorithm", ""),
                    "state": status.get("state", "unknown"),
                    "step": progress.get("step"),
                    "max_steps": progress.get("max_steps"),
                    "loss": progress.get("loss"),
                    "reward_margin": progress.get("reward_margin"),
                    "reward_mean": progress.get("reward_mean"),
                    "eta_s": progress.get("eta") if status.get("state") == "running" else None,
                    "queued": pd.to_datetime(status.get("queued"), unit="s")
                    if status.get("queued")
                    else None,
                    "error": status.get("error") or "",
                    "registered": bool(status.get("registered")),
                }
            )
        columns = [
            "run_id",
            "name",
            "algorithm",
            "state",
            "step",
            "max_steps",
            "loss",
            "reward_margin",
            "reward_mean",
            "eta_s",
            "queued",
            "error",
            "registered",
        ]
        return pd.DataFrame(rows, columns=columns).iloc[::-1].reset_index(drop=True)

    # ------------------------------------------------------------------ registry
    def register_finished(self, store: Any) -> list[str]:
        """Register finished runs (kind ``run``) and completed runs' adapters (kind ``adapter``) once."""
        from pluralign_core.training.modelcard import preference_config

        registered = []
        for run_id in self.run_ids():
            folder = self.root / run_id
            status = read_status(folder)
            state = status.get("state")
            if state not in TERMINAL_STATES or status.get("registered") == state:
                continue
            config = self.config(run_id)
            pref = preference_config(config)
            dataset_id = pref.get("dataset_id")
            metrics = status.get("metrics") or {}
            facts = {
                "base_model": config.base_model,
                "run_id": run_id,
                "algorithm": config.algorithm,
                "preference_set": config.preference_set or None,
                "prompt_set": config.prompt_set or None,
                "reward_models": config.reward_models,
                "selection": pref.get("selection"),
                "selection_label": pref.get("selection_label"),
                "dimensions": pref.get("dimensions"),
                "scale": pref.get("scale"),
                "disagreement": pref.get("disagreement"),
                "preference_config": pref,
                "run_config": config.to_dict(),
            }
            store.register_artifact(
                "run",
                config.label,
                path=folder,
                dataset_id=dataset_id,
                config=facts,
                metrics=metrics,
                status=state,
                artifact_id=f"run-{run_id}",
            )
            if state == "completed" and (folder / ADAPTER_DIR / "adapter_config.json").exists():
                store.register_artifact(
                    "adapter",
                    config.label,
                    path=folder / ADAPTER_DIR,
                    dataset_id=dataset_id,
                    config=facts,
                    metrics=metrics,
                    artifact_id=f"adapter-{run_id}",
                )
            write_status(folder, registered=state)
            registered.append(run_id)
        return registered
