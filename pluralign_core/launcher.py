"""The one way pluralign starts a background process: training runs, evaluations and grids.

Long work runs in its own process so that it survives a browser reload, navigation away from a page and
an app restart, and so that the same work runs headless from the CLI. Every launch here:

* takes an argument list (never ``shell=True``), runs with ``sys.executable`` from the repository root;
* starts its own session (``start_new_session=True``), so that stopping it stops its whole process group
  and a Streamlit rerun does not signal it;
* appends stdout and stderr to one log file that a page can tail;
* records the pid *and the process start time*: pids get reused, so a process is "ours" only when the
  pid exists and was started at the recorded time (:func:`is_alive`);
* runs at a lower CPU priority (niceness ``PLURALIGN_JOB_NICE``, default 10; 0 keeps the app's): a
  training step or an evaluation can wait a few milliseconds, a page a user is looking at should not, so
  on a busy machine the app's page work wins the CPU and the jobs take what is left (:func:`job_niceness`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pluralign_core import paths

START_TIME_TOLERANCE_S = 2.0
JOB_NICE_ENV = "PLURALIGN_JOB_NICE"
DEFAULT_JOB_NICE = 10


@dataclass(frozen=True)
class LaunchedProcess:
    """A started process: its pid, its start time (for the reused-pid guard) and the popen handle."""

    pid: int
    started: float | None
    popen: subprocess.Popen


def process_start_time(pid: int) -> float | None:
    """When process ``pid`` started (epoch seconds), or None when it is gone or a zombie."""
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def python_module_command(module: str, *arguments: str) -> list[str]:
    """``[python, -m, module, *arguments]`` with this interpreter."""
    return [sys.executable, "-m", module, *arguments]


def job_niceness() -> int:
    """How much nicer than the app a launched job runs: ``$PLURALIGN_JOB_NICE`` (0–19), default 10."""
    configured = os.environ.get(JOB_NICE_ENV, "").strip()
    if not configured:
        return DEFAULT_JOB_NICE
    try:
        value = int(configured)
    except ValueError:
        raise ValueError(
            f"{JOB_NICE_ENV}={configured!r} is not a whole number: set it to 0 (jobs at the app's priority) "
            f"up to 19 (lowest priority), or unset it for the default {DEFAULT_JOB_NICE}"
        ) from None
    return min(max(value, 0), 19)


def lower_priority(pid: int, niceness: int) -> None:
    """Make process ``pid`` ``niceness`` steps nicer than this process (never less nice than it is).

    Called right after ``Popen`` returns, i.e. after the child's ``exec``: the new interpreter has not
    started a thread or a process yet, and all it starts later inherits the priority. (``preexec_fn`` would
    do it before ``exec``, but is unsafe in a process with threads, such as the app's server.)
    """
    if niceness <= 0:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        target = min(os.getpriority(os.PRIO_PROCESS, 0) + niceness, 19)
        if os.getpriority(os.PRIO_PROCESS, pid) < target:
            os.setpriority(os.PRIO_PROCESS, pid, target)


def launch(
    command: Sequence[str], log_file: Path | str, env: Mapping[str, str] | None = None
) -> LaunchedProcess:
    """Start ``command`` in its own session at a lower priority, appending its output to ``log_file``."""
    niceness = job_niceness()
    environment = {**os.environ, **(env or {})}
    environment.setdefault("PYTHONUNBUFFERED", "1")
    with open(log_file, "ab") as log:
        child = subprocess.Popen(
            list(command),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=environment,
            cwd=str(paths.REPO_ROOT),
        )
    lower_priority(child.pid, niceness)
    return LaunchedProcess(child.pid, process_start_time(child.pid), child)


def is_alive(pid: int | None, started: float | None, popen: subprocess.Popen | None = None) -> bool:
    """Whether ``pid`` still runs *and* is the process started at ``started`` (pids get reused).

    ``popen`` (the handle, when this process launched it) answers exactly and reaps a finished child.
    A missing ``started`` (an old status file) trusts the pid alone.
    """
    if not pid:
        return False
    if popen is not None:
        return popen.poll() is None
    actual = process_start_time(int(pid))
    if actual is None:
        return False
    return started is None or abs(actual - float(started)) < START_TIME_TOLERANCE_S


def signal_group(pid: int, signum: int, popen: subprocess.Popen | None = None) -> None:
    """Send ``signum`` to the process group of ``pid`` (the launched process and its children)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(int(pid), signum)
    if popen is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=0.1)


def stop(
    pid: int, started: float | None, popen: subprocess.Popen | None = None, *, timeout: float = 15.0
) -> bool:
    """SIGTERM the process group of a live, verified process; SIGKILL it if it outlives ``timeout``.

    Returns whether a signal was sent. A pid that is gone or now belongs to another process (start time
    differs) is never signalled.
    """
    if not is_alive(pid, started, popen):
        return False
    signal_group(pid, signal.SIGTERM, popen)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and is_alive(pid, started, popen):
        time.sleep(0.2)
    if is_alive(pid, started, popen):
        signal_group(pid, signal.SIGKILL, popen)
        time.sleep(0.2)
    return True
