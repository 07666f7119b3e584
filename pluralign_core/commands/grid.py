"""``pluralign grid --preset demo [--resume ID] [--dry-run] [--list]``: the design-choice grid."""

from __future__ import annotations

import argparse
import time

HELP = (
    "Run the study's comparison matrix (disagreement x scale x optimizer, single vs multi-objective, "
    "group-specific models) on the active dataset, resume a partial grid, or print its plan."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset",
        default="demo",
        choices=("demo", "full"),
        help="demo: < 30 min on 2 CPU cores with the embedded model; full: GPU-sized runs",
    )
    parser.add_argument("--dataset", default="", help="dataset id (default: the active dataset)")
    parser.add_argument("--grid-id", default=None, help="id for a new grid (default: grid-PRESET-TIME)")
    parser.add_argument("--resume", default=None, metavar="GRID_ID", help="continue a partial grid")
    parser.add_argument("--dry-run", action="store_true", help="print the planned cells and exit")
    parser.add_argument("--list", action="store_true", help="list grids with their progress")
    parser.add_argument(
        "--report", default=None, metavar="GRID_ID", help="print a grid's results as markdown"
    )


def run(args: argparse.Namespace) -> int:
    from pluralign_core import paths
    from pluralign_core.experiments import grid, tradeoffs
    from pluralign_core.store.database import Store

    store = Store()
    if args.list:
        states = grid.list_grids()
        if not states:
            print("No grids yet: run `pluralign grid --preset demo`.")
        for state in states:
            counts = state.counts()
            print(
                f"{state.grid_id}: {state.data.get('state')} ({counts['done']}/{len(state.cells)} done, "
                f"{counts['failed']} failed) on {state.data.get('dataset_id')}"
            )
        return 0
    if args.report:
        print(tradeoffs.report(grid.load_grid(args.report).data, paths.subdir("evaluations")))
        return 0
    if not args.dataset and not args.resume and store.active_dataset() is None:
        from pluralign_core.store.bootstrap import ensure_default_dataset

        ensure_default_dataset(store)
    if args.dry_run:
        if args.resume:
            state = grid.load_grid(args.resume)
            cells = [grid.cell_from_state(state.cells[c]) for c in state.data["cell_order"]]
            print("\n".join(f"{c.cell_id:<45} {state.cells[c.cell_id]['state']}" for c in cells))
            return 0
        config = grid.preset(args.preset, dataset_id=args.dataset or store.active_dataset() or "")
        dimensions = [d.name for d in store.dimensions(config.dataset_id)]
        values = store.query(
            "SELECT DISTINCT attribute, value FROM rater_attributes WHERE dataset_id = ?", [config.dataset_id]
        )
        present = set(zip(values.attribute, values.value, strict=True))
        cells = grid.plan_grid(config, config.dataset_id, dimensions, present)
        print(
            f"Grid plan ({args.preset} preset, dataset {config.dataset_id}): {len(cells)} cells, "
            f"{sum(c.trains for c in cells)} training runs"
        )
        print(grid.describe_plan(cells))
        return 0
    started = time.time()

    def show(fraction: float, message: str) -> None:
        print(f"[{time.time() - started:7.0f}s {fraction:6.1%}] {message}", flush=True)

    if args.resume:
        state = grid.run_grid(store, progress=show, grid_id=args.resume, resume=True)
    else:
        state = grid.run_grid(
            store, grid.preset(args.preset, dataset_id=args.dataset), show, grid_id=args.grid_id
        )
    print(f"grid {state.grid_id}: {state.data['state']} in {time.time() - started:.0f}s")
    _, long, _ = tradeoffs.load_grid_results(state.data, paths.subdir("evaluations"))
    table = tradeoffs.toxicity_by_cell(long)
    if not table.empty:
        print(
            table[
                [
                    "cell_id",
                    "toxicity_rm",
                    "reduction_rm_pct",
                    "toxicity_classifier",
                    "reduction_classifier_pct",
                ]
            ].to_string(index=False, float_format=lambda v: f"{v:.3f}")
        )
        print(
            tradeoffs.design_choice_comparisons(table)[
                [
                    "comparison",
                    "a_reduction_pct",
                    "b_reduction_pct",
                    "difference_pp",
                    "relative_pct",
                    "study_relative_pct",
                    "study_text",
                ]
            ].to_string(index=False, float_format=lambda v: f"{v:.2f}")
        )
    return 0 if state.data["state"] == "completed" else 1
