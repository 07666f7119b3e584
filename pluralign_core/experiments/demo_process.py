"""Starting the demo in the background and reading it back: the Home page's button and Chat's defaults.

The Home page starts the demo exactly as a user does, as ``python -m pluralign_core.cli demo`` through the
shared launcher, so the build outlives a browser reload and its output goes to ``<home>/demo/demo.log``.
Its progress and outputs are read back from ``demo.json`` (:mod:`pluralign_core.experiments.demo`); a demo
counts as running only while its very process lives (pid *and* start time: pids get reused).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pluralign_core import launcher
from pluralign_core.experiments.demo import (
    LOG_FILE,
    STATE_FILE,
    DemoConfig,
    demo_folder,
    demo_root,
    read_state,
    write_state,
)

#: How long a freshly launched demo counts as running before its process has written its pid.
STARTUP_GRACE_S = 60.0


def is_running(state: dict[str, Any]) -> bool:
    """Whether the demo's own process lives (pid and start time), or it was launched a moment ago."""
    if state.get("state") not in ("running", "planned"):
        return False
    if not state.get("pid"):
        return state.get("state") == "planned" and time.time() - state.get("created", 0) < STARTUP_GRACE_S
    return launcher.is_alive(int(state["pid"]), state.get("started"))


def demo_command(dataset_id: str) -> list[str]:
    """The CLI invocation the Home page runs: the same entry point a user types."""
    arguments = ["demo"] + (["--dataset-id", dataset_id] if dataset_id else [])
    return launcher.python_module_command("pluralign_core.cli", *arguments)


def launch_demo(dataset_id: str) -> tuple[Path, int]:
    """Start ``pluralign demo`` in the background; returns (demo folder, pid)."""
    folder = demo_folder(DemoConfig(dataset_id=dataset_id))
    state = read_state(folder)
    state.update(state="planned", created=time.time(), pid=None, dataset_id=dataset_id, error=None)
    state.pop("progress", None)
    write_state(folder, state)
    process = launcher.launch(demo_command(dataset_id), demo_root() / LOG_FILE)
    return folder, process.pid


def demo_status(dataset_id: str) -> dict[str, Any]:
    """The default demo's state for a dataset, with ``running`` (its process is alive)."""
    state = read_state(demo_folder(DemoConfig(dataset_id=dataset_id)))
    return {**state, "running": is_running(state)}


@dataclass(frozen=True)
class DemoModels:
    """What Chat needs: the demo adapters (artifact id → caption) and the start they are tuned from."""

    adapters: dict[str, str]
    start_dir: str


def _completed_demos(dataset_id: str) -> list[dict[str, Any]]:
    """The dataset's completed demos' states, newest first."""
    candidates = []
    for state_file in demo_root().glob(f"*/{STATE_FILE}"):
        state = read_state(state_file.parent)
        if state.get("state") == "completed" and state.get("dataset_id") == dataset_id:
            candidates.append((state.get("finished") or 0, {**state, "folder": str(state_file.parent)}))
    return [state for _, state in sorted(candidates, key=lambda c: c[0], reverse=True)]


def demo_matrix_document(dataset_id: str | None) -> dict[str, Any] | None:
    """The newest completed demo's group × model likelihood matrix, shaped like a grid report's
    ``likelihood`` rows (``design_id`` = the model), with its paired diagonals; None without a demo."""
    import json

    from pluralign_core.experiments.demo import MATRIX_JSON

    for state in _completed_demos(dataset_id or ""):
        path = Path(state["folder"]) / MATRIX_JSON
        if path.exists():
            matrix = json.loads(path.read_text("utf-8"))
            rows = [
                {**{k: v for k, v in c.items() if k != "model"}, "design_id": c["model"]}
                for c in matrix["cells"]
            ]
            return {
                "likelihood": rows,
                "diagonals": matrix.get("diagonals", {}),
                "dimension": matrix.get("dimension"),
            }
    return None


def demo_chat_models(dataset_id: str | None) -> DemoModels | None:
    """The newest completed demo of the dataset whose adapter folders still exist, or None."""
    if not dataset_id:
        return None
    for state in _completed_demos(dataset_id):
        adapters = state.get("steps", {}).get("adapters", {})
        if adapters and all(Path(a["path"], "adapter_config.json").exists() for a in adapters.values()):
            captions = {
                a["artifact_id"]: a["label"][:1].upper() + a["label"][1:] + "." for a in adapters.values()
            }
            return DemoModels(captions, state["steps"]["start"]["model_dir"])
    return None
