"""A grid's saved state: ``<home>/grids/<id>/grid.json`` and ``config.yaml``, the source of truth.

Every state change rewrites grid.json atomically (write a staging file, then ``os.replace``), so the app
polling it never reads half a file, and a rerun with the same id knows which cells are finished.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import time
import uuid
from pathlib import Path
from typing import IO, Any

from pluralign_core import paths
from pluralign_core.experiments.grid_config import GridConfig
from pluralign_core.experiments.plan import plan_grid
from pluralign_core.store.database import Store

GRID_FILE = "grid.json"
CONFIG_FILE = "config.yaml"
CELL_STATES = ("pending", "running", "done", "failed")
RUN_LOCK = "run.lock"

_CLAIMS: dict[str, IO[str]] = {}


class GridState:
    """``grid.json``: the grid's config, planned cells and each cell's state; rewritten atomically."""

    def __init__(self, folder: Path, data: dict[str, Any]) -> None:
        self.folder = folder
        self.data = data

    @property
    def grid_id(self) -> str:
        return str(self.data["grid_id"])

    @property
    def cells(self) -> dict[str, dict[str, Any]]:
        return self.data["cells"]

    @classmethod
    def load(cls, folder: Path) -> GridState:
        path = folder / GRID_FILE
        if not path.exists():
            raise FileNotFoundError(f"no grid at {folder}: {GRID_FILE} is missing")
        return cls(folder, json.loads(path.read_text(encoding="utf-8")))

    def save(self) -> None:
        self.data["updated"] = time.time()
        staging = self.folder / f".{GRID_FILE}.{os.getpid()}"
        staging.write_text(json.dumps(self.data, indent=2, default=str, ensure_ascii=False), encoding="utf-8")
        os.replace(staging, self.folder / GRID_FILE)

    def update_cell(self, cell_id: str, **updates: Any) -> None:
        self.cells[cell_id].update(updates)
        self.save()

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(CELL_STATES, 0)
        for cell in self.cells.values():
            counts[cell["state"]] = counts.get(cell["state"], 0) + 1
        return counts


def grids_root() -> Path:
    return paths.subdir("grids")


def grid_folder(grid_id: str) -> Path:
    return grids_root() / paths.safe_name(grid_id)


def new_grid_id(preset_name: str) -> str:
    """A new id: the time for people, a random suffix so two grids started in one second differ."""
    return paths.safe_name(f"grid-{preset_name}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}")


def claim_grid(state: GridState) -> None:
    """Become the one process running this grid: an exclusive ``flock`` held until :func:`release_grid`.

    Two processes running one grid would train the same cells into the same folders; a pid in grid.json
    cannot guard that (it is written after the start, and pids get reused), a lock held by the kernel
    for the life of the process can. A crashed grid's lock goes with its process.
    """
    key = str(state.folder)
    if key in _CLAIMS:
        raise ValueError(f"grid {state.grid_id} is already running in this process")
    handle = open(state.folder / RUN_LOCK, "a")  # noqa: SIM115 (held open for the run)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ValueError(
            f"grid {state.grid_id} is already running (pid {state.data.get('pid')}): wait for it or stop it "
            "before resuming"
        ) from None
    _CLAIMS[key] = handle


def release_grid(state: GridState) -> None:
    handle = _CLAIMS.pop(str(state.folder), None)
    if handle is not None:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def load_grid(grid_id: str) -> GridState:
    return GridState.load(grid_folder(grid_id))


def list_grids() -> list[GridState]:
    """Every grid folder under home, newest first."""
    found = []
    for folder in grids_root().iterdir():
        if (folder / GRID_FILE).exists():
            try:
                found.append(GridState.load(folder))
            except (json.JSONDecodeError, KeyError):
                continue
    return sorted(found, key=lambda g: g.data.get("created", 0), reverse=True)


def create_grid(store: Store, config: GridConfig, grid_id: str | None = None) -> GridState:
    """Plan the grid on its dataset and write grid.json with every cell pending."""
    plan = plan_grid(store, config)
    grid_id = paths.safe_name(grid_id or new_grid_id(config.preset))
    folder = grid_folder(grid_id)
    if (folder / GRID_FILE).exists():
        raise ValueError(f"grid {grid_id} exists already: resume it with --resume {grid_id}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_FILE).write_text(plan.config.to_yaml(), encoding="utf-8")
    state = GridState(
        folder,
        {
            "grid_id": grid_id,
            "config": plan.config.to_dict(),
            "dataset_id": plan.config.dataset_id,
            "created": time.time(),
            "state": "planned",
            "reward_models": {},
            "progress": {"fraction": 0.0, "message": "planned"},
            "cell_order": plan.cell_ids,
            "cells": {c.cell_id: {**dataclasses.asdict(c), "state": "pending"} for c in plan.cells},
        },
    )
    state.save()
    return state
