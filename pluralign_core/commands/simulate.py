"""``pluralign simulate``: simulate a rater population from a config and write it into the store."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pluralign_core.analysis.headlines import measure_headlines
from pluralign_core.ratings.simulate import DEFAULT_CONFIG_PATH, SimulationConfig, simulate
from pluralign_core.store.database import Store

HELP = (
    "Simulate raters and their ratings (labelled simulated) from a config YAML and store them as a "
    "dataset; the default config reproduces the study's size and published headline effects."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--raters", type=int, help="number of raters (default: the config's n_raters)")
    parser.add_argument("--seed", type=int, help="random seed (default: the config's seed)")
    parser.add_argument("--dataset-id", default="simulated", help="id of the new dataset")
    parser.add_argument("--name", help="display name (default: derived from size and seed)")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH, help="simulation config YAML")
    parser.add_argument("--replace", action="store_true", help="replace a dataset with the same id")
    parser.add_argument("--activate", action="store_true", help="make the new dataset the active one")


def run(args: argparse.Namespace) -> int:
    config = SimulationConfig.from_yaml(args.config, n_raters=args.raters, seed=args.seed)
    store = Store()
    if store.has_dataset(args.dataset_id) and not args.replace:
        raise ValueError(
            f"a dataset {args.dataset_id!r} exists already; pass --replace or choose another --dataset-id"
        )
    sizes = ", ".join(f"{country} {n:,}" for country, n in config.arm_sizes().items())
    print(
        f"Simulating {config.n_raters:,} raters ({sizes}) x {config.responses_per_rater} responses x 5 "
        f"dimensions = {config.n_ratings:,} ratings (seed {config.seed}) …",
        file=sys.stderr,
        flush=True,
    )
    started = time.perf_counter()
    name = args.name or f"Simulated population ({config.n_raters:,} raters, seed {config.seed})"
    bundle = simulate(config, dataset_id=args.dataset_id, name=name)
    simulated = time.perf_counter() - started
    print(f"  simulated in {simulated:.1f} s; writing into {store.path} …", file=sys.stderr, flush=True)
    store.write_dataset(bundle, replace=args.replace)
    total = time.perf_counter() - started
    if args.activate:
        store.set_active_dataset(args.dataset_id)
    print(
        f"Wrote dataset {args.dataset_id!r}: {config.n_raters:,} raters, {len(bundle.ratings):,} ratings "
        f"in {total:.1f} s ({len(bundle.ratings) / total:,.0f} ratings/s). SIMULATED data."
    )
    table = measure_headlines(store, args.dataset_id)
    for row in table.itertuples():
        measured = "n/a" if row.measured_pct is None else f"{row.measured_pct:+.1f}%"
        print(f"  {row.name}: measured {measured}, published {row.published_pct:+.1f}%")
    return 0
