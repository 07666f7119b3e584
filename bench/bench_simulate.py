"""Simulating a rater population and writing it into the store: 10 million ratings vs the study's size.

Times :func:`pluralign_core.ratings.simulate.simulate` plus :meth:`Store.write_dataset` (validation included)
into
a fresh temporary store, first for the default size (1,095 raters = 27,375 ratings, the baseline), then
for 400,000 raters = 10,000,000 ratings. The target is under a minute for the large run.
Run: ``python -m bench.bench_simulate [--raters 400000]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.results import Figure, emit
from pluralign_core.ratings.embedded_items import load_embedded_items
from pluralign_core.ratings.simulate import load_default_config, simulate
from pluralign_core.store.database import Store

BENCH = "simulate"


def timed_run(n_raters: int, items, folder: Path) -> tuple[float, float, int]:
    """(simulate seconds, total seconds incl. store write, ratings) for one fresh store."""
    store = Store(folder / f"bench-{n_raters}.duckdb")
    config = load_default_config(n_raters=n_raters)
    started = time.perf_counter()
    bundle = simulate(config, items, dataset_id="bench")
    simulated = time.perf_counter() - started
    store.write_dataset(bundle)
    total = time.perf_counter() - started
    stored = int(store.query("SELECT count(*) FROM ratings WHERE dataset_id = 'bench'").iloc[0, 0])
    assert stored == config.n_ratings, (stored, config.n_ratings)
    return simulated, total, stored


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raters", type=int, default=400_000, help="raters in the large run")
    args = parser.parse_args()
    items = load_embedded_items()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        timed_run(200, items, folder)  # warm-up: imports, first DuckDB connection
        base_sim, base_total, base_n = timed_run(1095, items, folder)
        big_sim, big_total, big_n = timed_run(args.raters, items, folder)
    base_rate, big_rate = base_n / base_total, big_n / big_total
    print(
        f"default size: {base_n:,} ratings: simulate {base_sim:.2f} s, + store {base_total:.2f} s "
        f"({base_rate:,.0f} ratings/s)"
    )
    print(
        f"large:        {big_n:,} ratings: simulate {big_sim:.2f} s, + store {big_total:.2f} s "
        f"({big_rate:,.0f} ratings/s)"
    )
    print(f"ratio large/default: time x{big_total / base_total:.1f} for x{big_n / base_n:.0f} ratings")
    emit(Figure(BENCH, f"simulate {big_n:,} ratings (numpy)", big_sim, "s"))
    emit(
        Figure(
            BENCH,
            f"simulate + store {big_n:,} ratings",
            big_total,
            "s",
            baseline_name=f"default size ({base_n:,} ratings)",
            baseline_value=base_total,
            target="< 60 s",
            met=big_total < 60,
        )
    )
    emit(
        Figure(
            BENCH,
            "throughput, simulate + store",
            big_rate,
            "ratings/s",
            baseline_name=f"default size ({base_n:,} ratings)",
            baseline_value=base_rate,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
