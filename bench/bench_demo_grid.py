"""Wall time of the demo grid (``pluralign grid --preset demo``) on this machine, from a fresh home.

The issue's target: the whole demo grid (unaligned start, reward models, 5 design cells × 3 seeds, each with
its evaluation and likelihood measure) in at most 30 minutes on the project's 2-core machine. The run is long,
so ``python -m bench`` runs it only with ``PLURALIGN_BENCH_LONG=1``; ``PLURALIGN_BENCH_GRID=<grid folder>``
reports the phases of a demo grid that already ran (its grid.json records every cell's start and end).

Figures: the whole grid's wall time (target ≤ 1800 s) and its phases — preparing (building the unaligned
start with its rudeness check, training the reward models), the start's evaluation, and the mean DPO and
GRPO cell (training, evaluation and likelihood measure).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.results import Figure, emit

TARGET_S = 1800.0


def run_fresh() -> Path:
    """Run the demo grid in a temporary home; returns its grid folder."""
    home = Path(tempfile.mkdtemp(prefix="pluralign-bench-grid-"))
    env = {**os.environ, "PLURALIGN_HOME": str(home)}
    subprocess.run([sys.executable, "-m", "pluralign_core.cli", "init"], env=env, check=True)
    subprocess.run(
        [sys.executable, "-m", "pluralign_core.cli", "grid", "--preset", "demo", "--grid-id", "bench"],
        env=env,
        check=True,
    )
    return home / "grids" / "bench"


def phases(grid: dict) -> dict[str, float]:
    """Seconds per phase from grid.json's per-cell start and end times."""
    cells = grid["cells"]
    order = grid["cell_order"]
    first_cell = min(float(cells[c]["started"]) for c in order if cells[c].get("started"))
    began = float(grid.get("first_started") or grid["created"])  # grids from before first_started: created
    last = max((float(cells[c]["finished"]) for c in order if cells[c].get("finished")), default=began)
    spent = {
        c: float(cells[c]["finished"]) - float(cells[c]["started"]) for c in order if cells[c].get("finished")
    }
    dpo = [spent[c] for c in spent if cells[c].get("optimizer") == "dpo"]
    grpo = [spent[c] for c in spent if cells[c].get("optimizer") == "grpo"]
    parts = {}
    for name, seconds in (grid.get("prepare_seconds") or {}).items():
        parts[f"  preparing: {name.replace('_', ' ')}"] = float(seconds)
    for optimizer in ("dpo", "grpo"):
        timed = [
            cells[c]["seconds"]
            for c in spent
            if cells[c].get("optimizer") == optimizer and "seconds" in cells[c]
        ]
        for part in ("training", "evaluation", "likelihood"):
            values = [t[part] for t in timed if part in t]
            if values:
                parts[f"  {optimizer.upper()} cell {part} (mean)"] = sum(values) / len(values)
    return {
        "whole grid": float(grid.get("running_seconds") or last - began),
        "preparing (start + reward models)": first_cell - began,
        "start's evaluation": spent.get("base", float("nan")),
        "DPO cell (mean)": sum(dpo) / len(dpo) if dpo else float("nan"),
        "GRPO cell (mean)": sum(grpo) / len(grpo) if grpo else float("nan"),
        **parts,
        "cells done": float(sum(cells[c]["state"] == "done" for c in order)),
        "cells planned": float(len(order)),
    }


def main() -> None:
    given = os.environ.get("PLURALIGN_BENCH_GRID")
    if given:
        folder = Path(given)
    elif os.environ.get("PLURALIGN_BENCH_LONG") == "1":
        started = time.time()
        folder = run_fresh()
        print(f"demo grid ran in {time.time() - started:.0f} s")
    else:
        print("skipped: the demo grid takes half an hour or more; set PLURALIGN_BENCH_LONG=1 to run it")
        return
    grid = json.loads((folder / "grid.json").read_text(encoding="utf-8"))
    print(f"machine: {os.cpu_count()} cores; grid {grid['grid_id']} ({grid['state']})")
    for name, value in phases(grid).items():
        print(f"  {name:<36} {value:8.0f}")
        if name == "whole grid":
            emit(Figure("demo_grid", name, value, "s", target="<= 1800 s", met=value <= TARGET_S))
        elif not name.startswith("cells"):
            emit(Figure("demo_grid", name, value, "s"))


if __name__ == "__main__":
    main()
