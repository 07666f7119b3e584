"""``pluralign grid --preset demo [--resume ID] [--dry-run] [--list]``: the design-choice grid.

The one command line for grids: the Trade-offs page starts a grid in the background by running this
command (:mod:`pluralign_core.experiments.process`), so the app and a user start grids the same way.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pluralign_core.experiments.state import GridState
    from pluralign_core.store.database import Store

HELP = (
    "Run the study's comparison matrix (disagreement x scale x optimizer, single vs multi-objective, "
    "group-specific models) on the active dataset, resume a partial grid, or print its plan."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset",
        default="demo",
        choices=("demo", "reference", "full"),
        help="demo: < 30 min on 2 CPU cores with the embedded model; reference: the shipped reference run "
        "(~90 min on 2 CPU cores); full: GPU-sized runs",
    )
    parser.add_argument(
        "--groups",
        default=None,
        help="comma-separated rater groups to tune group models on (default: the preset's; '' = none); "
        "a group the dataset has no raters of is refused before any training",
    )
    parser.add_argument("--dataset", default="", help="dataset id (default: the active dataset)")
    parser.add_argument(
        "--single-dimension",
        default=None,
        help="dimension of the single-objective model (default: the preset's, toxicity)",
    )
    parser.add_argument("--grid-id", default=None, help="id for a new grid (default: grid-PRESET-TIME)")
    parser.add_argument("--resume", default=None, metavar="GRID_ID", help="continue a partial grid")
    parser.add_argument("--dry-run", action="store_true", help="print the planned cells and exit")
    parser.add_argument("--list", action="store_true", help="list grids with their progress")
    parser.add_argument(
        "--report",
        default=None,
        metavar="GRID_ID",
        help="print a grid's results (reductions and design-choice comparisons with 95%% CIs) as markdown; "
        "'reference' prints the reference run shipped with the app",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="with --report or --list: print one JSON document on stdout instead of text",
    )


def _preset(args: argparse.Namespace):
    from pluralign_core.experiments.grid_config import preset

    overrides: dict[str, Any] = {"single_dimension": args.single_dimension} if args.single_dimension else {}
    if args.groups is not None:
        overrides["groups"] = [g.strip() for g in args.groups.split(",") if g.strip()]
    return preset(args.preset, dataset_id=args.dataset, **overrides)


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM (the app's Stop) becomes SystemExit, so the grid records ``interrupted`` before it exits."""
    raise SystemExit(f"stopped by signal {signum}")


def _list_grids(as_json: bool = False) -> int:
    from pluralign_core.commands.json_output import emit
    from pluralign_core.experiments.state import list_grids

    states = list_grids()
    if as_json:
        emit(
            [
                {
                    "grid_id": s.grid_id,
                    "state": s.data.get("state"),
                    "dataset_id": s.data.get("dataset_id"),
                    "cells": len(s.cells),
                    **s.counts(),
                }
                for s in states
            ]
        )
        return 0
    if not states:
        print("No grids yet: run `pluralign grid --preset demo`.")
    for state in states:
        counts = state.counts()
        print(
            f"{state.grid_id}: {state.data.get('state')} ({counts['done']}/{len(state.cells)} done, "
            f"{counts['failed']} failed) on {state.data.get('dataset_id')}"
        )
    return 0


def _dry_run(store: Store, args: argparse.Namespace) -> int:
    from pluralign_core.experiments.plan import cell_from_state, describe_plan, plan_grid
    from pluralign_core.experiments.state import load_grid

    if args.resume:
        state = load_grid(args.resume)
        cells = [cell_from_state(state.cells[c]) for c in state.data["cell_order"]]
        print("\n".join(f"{c.cell_id:<45} {state.cells[c.cell_id]['state']}" for c in cells))
        return 0
    plan = plan_grid(store, _preset(args))
    print(
        f"Grid plan ({args.preset} preset, dataset {plan.config.dataset_id}): {len(plan.cells)} cells, "
        f"{plan.training_runs} training runs"
    )
    print(describe_plan(plan.cells))
    return 0


def _print_results(state: GridState) -> None:
    from pluralign_core import paths
    from pluralign_core.experiments.report import report

    print(report(state.data, paths.subdir("evaluations")))


def run(args: argparse.Namespace) -> int:
    from pluralign_core import paths
    from pluralign_core.experiments.execute import run_grid
    from pluralign_core.experiments.reference_run import REFERENCE_NAME, reference_report
    from pluralign_core.experiments.report import markdown_report, report_data
    from pluralign_core.experiments.state import load_grid
    from pluralign_core.store.database import Store

    if args.json and not (args.list or args.report):
        raise ValueError("--json goes with --report GRID_ID or --list (a running grid prints progress)")
    if args.list:
        return _list_grids(args.json)
    if args.report:
        if args.report == REFERENCE_NAME and not (paths.subdir("grids") / REFERENCE_NAME).exists():
            document = reference_report()  # the run shipped under data/reference_run/
        else:
            document = report_data(load_grid(args.report).data, paths.subdir("evaluations"))
        print(json.dumps(document, indent=2) if args.json else markdown_report(document))
        return 0
    store = Store()
    if not args.dataset and not args.resume and store.active_dataset() is None:
        from pluralign_core.store.bootstrap import ensure_default_dataset

        ensure_default_dataset(store)
    if args.dry_run:
        return _dry_run(store, args)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    started = time.time()

    def show(fraction: float, message: str) -> None:
        print(f"[{time.time() - started:7.0f}s {fraction:6.1%}] {message}", file=sys.stderr, flush=True)

    if args.resume:
        state = run_grid(store, progress=show, grid_id=args.resume, resume=True)
    else:
        state = run_grid(store, _preset(args), show, grid_id=args.grid_id)
    print(f"grid {state.grid_id}: {state.data['state']} in {time.time() - started:.0f}s")
    _print_results(state)
    if state.data["state"] == "completed" and state.data["config"].get("preset") == REFERENCE_NAME:
        from pluralign_core.experiments.reference_run import export_run

        print(f"reference run written to {export_run(state, paths.subdir('evaluations'))}")
    return 0 if state.data["state"] == "completed" else 1
