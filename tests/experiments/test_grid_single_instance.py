"""One live process per grid id, and ids that two grids started in one second never share (issue 17)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pluralign_core.experiments import execute, grid_config
from pluralign_core.experiments import state as grid_state
from tests.factories import tiny_bundle

HOLD_LOCK = """
import fcntl, sys, time
handle = open(sys.argv[1], "a")
fcntl.flock(handle, fcntl.LOCK_EX)
print("holding", flush=True)
time.sleep(30)
"""


class _Interrupt(BaseException):
    pass


def test_two_grids_started_in_one_second_get_different_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grid_state.time, "strftime", lambda fmt: "20260101-120000")
    assert grid_state.new_grid_id("demo") != grid_state.new_grid_id("demo")


def test_a_grid_running_in_another_process_is_not_resumed_twice(store) -> None:
    """Review finding 5: Resume while the grid still ran started a second process on the same cells."""
    store.write_dataset(tiny_bundle())
    config = grid_config.GridConfig(
        optimizers=["dpo"], disagreements=["preserve"], scales=["5-point"], objectives=["multi"],
        groups=["women"], dataset_id="tiny",
    )  # fmt: skip

    def interrupted(store, cell, state, progress):
        raise _Interrupt

    with pytest.raises(_Interrupt):
        execute.run_grid(store, config, grid_id="g1", executor=interrupted, prepare=lambda s, g: None)
    folder = grid_state.grid_folder("g1")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(folder / "run.lock")],
        stdout=subprocess.PIPE,
        text=True,
    )
    cells_run: list[str] = []
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(ValueError, match="already running"):
            execute.run_grid(
                store,
                grid_id="g1",
                resume=True,
                executor=lambda s, cell, st, p: cells_run.append(cell.cell_id) or {},
                prepare=lambda s, g: None,
            )
    finally:
        holder.kill()
        holder.wait()
    assert cells_run == []
    state = execute.run_grid(
        store,
        grid_id="g1",
        resume=True,
        executor=lambda s, cell, st, p: cells_run.append(cell.cell_id) or {},
        prepare=lambda s, g: None,
    )
    assert state.data["state"] == "completed" and len(cells_run) == len(state.data["cell_order"])
