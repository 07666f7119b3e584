"""Starting, watching and stopping a grid that runs in the background, through the shared launcher.

The app starts a grid exactly as a user does, as ``python -m pluralign_core.cli grid ...`` in its own
process: the grid outlives a browser reload, its output goes to ``<home>/grids/<id>.log``, and its progress
is read back from grid.json. The running grid records its pid *and start time* there; a grid counts as
running only while that very process lives (pids get reused), and Stop signals only that process.
"""

from __future__ import annotations

import contextlib
import time

from pluralign_core import launcher
from pluralign_core.experiments.state import (
    GRID_FILE,
    GridState,
    grid_folder,
    grids_root,
    load_grid,
    new_grid_id,
)

#: How long a freshly launched grid counts as running before its process has written its pid.
STARTUP_GRACE_S = 60.0


def grid_command(
    preset_name: str,
    dataset_id: str,
    grid_id: str,
    *,
    resume: bool,
    single_dimension: str | None = None,
    groups: list[str] | None = None,
) -> list[str]:
    """The CLI invocation that runs (or resumes) a grid: the same entry point a user types."""
    arguments = (
        ["grid", "--resume", grid_id] if resume else ["grid", "--preset", preset_name, "--grid-id", grid_id]
    )
    if dataset_id and not resume:
        arguments += ["--dataset", dataset_id]
    if single_dimension and not resume:
        arguments += ["--single-dimension", single_dimension]
    if groups is not None and not resume:
        arguments += ["--groups", ",".join(groups)]
    return launcher.python_module_command("pluralign_core.cli", *arguments)


def launch(
    preset_name: str = "demo",
    dataset_id: str = "",
    *,
    resume: str | None = None,
    single_dimension: str | None = None,
    groups: list[str] | None = None,
) -> tuple[str, int]:
    """Start a new grid (or resume ``resume``) in the background; returns (grid id, pid).

    ``single_dimension`` replaces the preset's single-objective dimension (toxicity), for datasets
    rated on other dimensions; ``groups`` replaces the preset's group models (e.g. by those the dataset
    has raters of).
    """
    if resume and (grid_folder(resume) / GRID_FILE).exists() and is_running(load_grid(resume)):
        raise ValueError(f"grid {resume} is already running: a second process would redo its cells")
    grid_id = resume or new_grid_id(preset_name)
    command = grid_command(
        preset_name,
        dataset_id,
        grid_id,
        resume=bool(resume),
        single_dimension=single_dimension,
        groups=groups,
    )
    process = launcher.launch(command, grids_root() / f"{grid_id}.log")
    return grid_id, process.pid


def is_running(state: GridState) -> bool:
    """Whether the grid's own process is alive: grid.json says running and its recorded process still is."""
    if state.data.get("state") not in ("running", "planned"):
        return False
    pid = state.data.get("pid")
    if not pid:
        return (
            state.data.get("state") == "planned"
            and time.time() - state.data.get("created", 0) < STARTUP_GRACE_S
        )
    return launcher.is_alive(int(pid), state.data.get("started"))


def stop(grid_id: str, timeout: float = 10.0) -> bool:
    """Cancel the running cell's training and stop the grid process (it records ``interrupted``).

    Returns whether the grid process was signalled; a pid now used by another process never is.
    """
    from pluralign_core.training.jobs import JobQueue

    state = load_grid(grid_id)
    for entry in state.cells.values():
        if entry.get("state") == "running" and entry.get("run_id"):
            with contextlib.suppress(KeyError):
                JobQueue().cancel(entry["run_id"])
    pid = state.data.get("pid")
    if not pid or not is_running(state):
        return False
    return launcher.stop(int(pid), state.data.get("started"), timeout=timeout)
