"""The one process launcher: own session, output to a log, the reused-pid guard, stopping a whole group."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from pluralign_core import launcher, paths
from tests.fault_helpers import wait_for

# A child that starts a grandchild (both sleep), prints both pids and its working directory, then waits.
FAMILY = (
    "import os, subprocess, sys, time\n"
    "grandchild = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    "print('pids', os.getpid(), grandchild.pid, os.environ.get('LAUNCHER_TEST'), os.getcwd(), flush=True)\n"
    "time.sleep(60)\n"
)


def _pids(log: Path) -> list[int]:
    line = next((x for x in log.read_text().splitlines() if x.startswith("pids")), "")
    return [int(v) for v in line.split()[1:3]]


def test_launch_records_start_time_logs_output_and_stop_ends_the_group(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    process = launcher.launch([sys.executable, "-c", FAMILY], log, env={"LAUNCHER_TEST": "yes"})
    try:
        assert process.started is not None
        assert abs(process.started - psutil.Process(process.pid).create_time()) < 1e-3
        assert os.getpgid(process.pid) == process.pid != os.getpgid(0)  # its own session and group
        child, grandchild = wait_for(lambda: _pids(log), 60, what="the child's first line")
        assert child == process.pid
        assert f"yes {paths.REPO_ROOT}" in log.read_text()
        assert launcher.is_alive(process.pid, process.started, process.popen)
        assert launcher.is_alive(process.pid, process.started)  # from a status file: pid + start time
        assert not launcher.is_alive(process.pid, process.started - 60)  # same pid, another process
        assert not launcher.stop(process.pid, process.started - 60, timeout=1)  # never signalled
        assert psutil.pid_exists(grandchild)

        assert launcher.stop(process.pid, process.started, process.popen, timeout=5)
        assert process.popen.returncode == -signal.SIGTERM
        assert not launcher.is_alive(process.pid, process.started, process.popen)
        wait_for(lambda: not launcher.is_alive(grandchild, None), 10, what="the grandchild to end")
        assert not launcher.stop(process.pid, process.started, process.popen)  # already gone
    finally:
        launcher.signal_group(process.pid, signal.SIGKILL, process.popen)


STUBBORN = (
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def test_a_failed_start_is_logged_and_a_process_ignoring_sigterm_is_killed(tmp_path: Path) -> None:
    log = tmp_path / "stubborn.log"
    process = launcher.launch(launcher.python_module_command("this_module_does_not_exist"), log)
    process.popen.wait(timeout=60)
    assert "No module named this_module_does_not_exist" in log.read_text()
    assert not launcher.is_alive(process.pid, process.started, process.popen)

    process = launcher.launch([sys.executable, "-c", STUBBORN], log)
    try:
        wait_for(lambda: "ready" in log.read_text(), 60, what="the child to ignore SIGTERM")
        began = time.monotonic()
        assert launcher.stop(process.pid, process.started, process.popen, timeout=1.0)
        assert time.monotonic() - began >= 1.0
        assert process.popen.returncode == -signal.SIGKILL
    finally:
        launcher.signal_group(process.pid, signal.SIGKILL, process.popen)


def test_a_dead_or_unknown_pid_is_not_alive() -> None:
    assert not launcher.is_alive(None, None)
    assert not launcher.is_alive(0, time.time())
    assert launcher.process_start_time(2**22 + 12345) is None
    assert launcher.is_alive(os.getpid(), None)  # an old status file without a start time trusts the pid


def _niceness(pid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, pid)


@pytest.mark.skipif(os.getpriority(os.PRIO_PROCESS, 0) > 19 - 10, reason="already too nice to be nicer")
def test_a_launched_job_and_its_children_run_nicer_than_the_app(tmp_path: Path, monkeypatch) -> None:
    """A job runs ``PLURALIGN_JOB_NICE`` (default 10) steps nicer, and what it starts inherits that; 0 keeps
    the app's priority. (Needs a test process at most nice 9: under ``nice -n 19`` nothing can be nicer.)"""
    own = _niceness(0)
    for configured, expected in ((None, own + 10), ("3", own + 3), ("0", own)):
        if configured is None:
            monkeypatch.delenv(launcher.JOB_NICE_ENV, raising=False)
        else:
            monkeypatch.setenv(launcher.JOB_NICE_ENV, configured)
        log = tmp_path / f"nice-{configured}.log"
        process = launcher.launch([sys.executable, "-c", FAMILY], log)
        try:
            child, grandchild = wait_for(lambda log=log: _pids(log), 60, what="the child's first line")
            assert (_niceness(child), _niceness(grandchild)) == (expected, expected)
        finally:
            launcher.signal_group(process.pid, signal.SIGKILL, process.popen)
    assert _niceness(0) == own  # the app itself keeps its priority


def test_job_niceness_reads_the_setting_and_explains_a_bad_one(monkeypatch) -> None:
    monkeypatch.delenv(launcher.JOB_NICE_ENV, raising=False)
    assert launcher.job_niceness() == launcher.DEFAULT_JOB_NICE == 10
    monkeypatch.setenv(launcher.JOB_NICE_ENV, "40")
    assert launcher.job_niceness() == 19
    monkeypatch.setenv(launcher.JOB_NICE_ENV, "-5")
    assert launcher.job_niceness() == 0  # never more urgent than the app
    monkeypatch.setenv(launcher.JOB_NICE_ENV, "low")
    with pytest.raises(ValueError, match="PLURALIGN_JOB_NICE='low' is not a whole number"):
        launcher.job_niceness()
