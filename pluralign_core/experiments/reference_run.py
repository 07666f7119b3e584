"""The reference run shipped with the app: a finished ``reference`` grid's numbers, without its weights.

``pluralign grid --preset reference`` (about 90 minutes on 2 CPU cores, resumable) ends by writing its
per-prompt × seed tables — the same tables every number of the report is computed from
(:func:`~pluralign_core.experiments.report.grid_tables`) — plus ``run.json`` (the grid config and its
fingerprint, package versions, the machine and per-cell timings) to ``data/reference_run/``. The Trade-offs
page shows it as "reference run" beside the user's own grids and ``pluralign grid --report reference``
prints it; a test checks that the shipped fingerprint is the preset's, so a preset change without a rerun
fails the suite instead of shipping numbers from another design.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from pluralign_core import paths
from pluralign_core.experiments.grid_config import GridConfig, preset
from pluralign_core.experiments.report import grid_tables, report_from_tables
from pluralign_core.experiments.state import GridState

REFERENCE_NAME = "reference"
REFERENCE_DIR = paths.DATA_DIR / "reference_run"
RUN_FILE = "run.json"
TABLE_FILES = {name: f"{name}.csv" for name in ("designs", "scores", "answers", "likelihood")}
VERSIONED = ("pluralign", "torch", "transformers", "trl", "peft", "numpy", "pandas")


def config_fingerprint(config: GridConfig | dict[str, Any]) -> str:
    """sha256 (12 hex) of the grid's settings, leaving out the dataset id (the run.json names it)."""
    data = config.to_dict() if isinstance(config, GridConfig) else dict(config)
    data.pop("dataset_id", None)
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:12]


def preset_fingerprint() -> str:
    """The fingerprint the shipped run must carry: the ``reference`` preset's as it is now."""
    return config_fingerprint(preset(REFERENCE_NAME))


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a run's numbers depend on."""
    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def machine() -> dict[str, Any]:
    """The CPU, cores, ISA flags and Python a run was measured on (recorded beside its timings)."""
    from pluralign_core import hardware

    return {
        "cpu": hardware.cpu_model(),
        "cores": os.cpu_count(),
        "isa": hardware.isa_flags(),
        "python": platform.python_version(),
        "system": platform.system(),
    }


def _timings(state: GridState) -> dict[str, Any]:
    cells = {
        cell_id: round(float(entry["finished"]) - float(entry["started"]), 1)
        for cell_id, entry in state.cells.items()
        if entry.get("started") and entry.get("finished")
    }
    return {"wall_seconds": state.data.get("running_seconds"), "cell_seconds": cells}


def export_run(state: GridState, evaluations_root: Path | str, folder: Path | str = REFERENCE_DIR) -> Path:
    """Write a finished grid's tables and ``run.json`` to ``folder`` (the shipped location by default)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tables = grid_tables(state.data, evaluations_root, state.folder)
    for name, frame in tables.items():
        frame.to_csv(folder / TABLE_FILES[name], index=False)
    run = {
        "grid_id": state.grid_id,
        "dataset_id": state.data.get("dataset_id"),
        "state": state.data.get("state"),
        "preset": state.data["config"].get("preset"),
        "fingerprint": config_fingerprint(state.data["config"]),
        "config": state.data["config"],
        "versions": package_versions(),
        "machine": machine(),
        "timings": _timings(state),
        "exported": time.time(),
        "regenerate": "pluralign grid --preset reference",
    }
    (folder / RUN_FILE).write_text(json.dumps(run, indent=2, default=str), encoding="utf-8")
    return folder


def load_run(folder: Path | str = REFERENCE_DIR) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """``(run.json, tables)`` of a shipped run; FileNotFoundError when none is there."""
    folder = Path(folder)
    if not (folder / RUN_FILE).exists():
        raise FileNotFoundError(
            f"no reference run at {folder}: run `pluralign grid --preset reference` "
            "(about 90 min on 2 CPU cores)"
        )
    run = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
    tables = {
        name: pd.read_csv(folder / file, dtype={"prompt_id": str, "prompt_key": str, "language": str})
        for name, file in TABLE_FILES.items()
    }
    return run, tables


def reference_report(folder: Path | str = REFERENCE_DIR) -> dict[str, Any]:
    """The shipped run's report document (as ``pluralign grid --report ID --json``), plus its run facts."""
    run, tables = load_run(folder)
    data = report_from_tables(run, tables)
    data.update(
        {k: run.get(k) for k in ("preset", "fingerprint", "versions", "machine", "timings", "regenerate")}
    )
    data["fingerprint_matches_preset"] = run.get("fingerprint") == preset_fingerprint()
    return data
