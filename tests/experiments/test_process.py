"""A grid in the background: started through the CLI, alive only while its own process runs."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from pluralign_core import cli, launcher
from pluralign_core.experiments import process
from pluralign_core.experiments import state as grid_state


def test_launch_runs_the_cli_grid_command(pluralign_home, monkeypatch):
    started = []
    monkeypatch.setattr(
        launcher,
        "launch",
        lambda command, log_file, env=None: (
            started.append((command, log_file)) or launcher.LaunchedProcess(4242, 1.0, None)
        ),
    )
    grid_id, pid = process.launch("full", "tiny")
    command, log_file = started[0]
    assert pid == 4242 and log_file == grid_state.grids_root() / f"{grid_id}.log"
    assert command[:3] == [sys.executable, "-m", "pluralign_core.cli"]
    args = cli.build_parser().parse_args(command[3:])
    assert (args.command, args.preset, args.grid_id, args.dataset) == ("grid", "full", grid_id, "tiny")
    process.launch(resume="grid-old")
    args = cli.build_parser().parse_args(started[1][0][3:])
    assert args.resume == "grid-old" and args.grid_id is None


@pytest.fixture
def sleeper():
    """A live process in its own session, standing in for a grid (or for whoever got its pid later)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    yield child
    if child.poll() is None:
        child.kill()
    child.wait()


def _running_grid(pid: int, started: float | None) -> grid_state.GridState:
    folder = grid_state.grid_folder("g-bg")
    folder.mkdir(parents=True)
    saved = grid_state.GridState(
        folder,
        {
            "grid_id": "g-bg",
            "state": "running",
            "pid": pid,
            "started": started,
            "cells": {},
            "cell_order": [],
        },
    )
    saved.save()
    return saved


def test_a_reused_pid_is_not_running_and_not_signalled(pluralign_home, sleeper):
    actual = launcher.process_start_time(sleeper.pid)
    assert actual is not None
    saved = _running_grid(sleeper.pid, actual - 3600.0)  # the grid's process started an hour earlier
    assert not process.is_running(saved)
    assert process.stop("g-bg", timeout=1.0) is False
    time.sleep(0.3)
    assert sleeper.poll() is None  # the unrelated process lives on


def test_stop_signals_the_grid_process_it_verified(pluralign_home, sleeper):
    saved = _running_grid(sleeper.pid, launcher.process_start_time(sleeper.pid))
    assert process.is_running(saved)
    assert process.stop("g-bg", timeout=5.0) is True
    sleeper.wait(timeout=10)
    assert not process.is_running(grid_state.load_grid("g-bg"))
