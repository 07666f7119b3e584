"""Building preference pairs from 1 million ratings: majority vote, preserved disagreement, soft labels.

A synthetic dataset in a temporary store: 20,000 raters each rate 10 responses (to 10 different prompts,
as in the study) on the 5 study dimensions = 1,000,000 ratings; 2,000 prompts with 5 responses each, so
every response has about 20 raters. Times :func:`pluralign_core.preferences.build.build_preferences` on all
five
dimensions (multi-objective) and both splits (every rating used) for each disagreement mode, plus a
binary build with a jury (gender x country raking).
Each build runs ``--repeats`` times (median reported). The target is under 1 s per build.
The baseline is the same builds on the code at ``--baseline`` (a git revision), run just before in its own
process. Run: ``python -m bench.bench_preferences [--raters 20000] [--repeats 3] [--baseline REV]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.results import Figure, emit, machine_line
from pluralign_core.preferences.build import PreferenceConfig, build_preferences
from pluralign_core.ratings.schema import STUDY_DIMENSIONS, Attribute, DatasetInfo, Scale
from pluralign_core.store.database import DatasetBundle, Store

BENCH = "preferences"
PROMPTS, RESPONSES, PER_RATER = 2000, 5, 10


def synthetic_bundle(n_raters: int, seed: int = 0) -> DatasetBundle:
    rng = np.random.default_rng(seed)
    raters = pd.DataFrame({"rater_id": [f"r{i:06d}" for i in range(n_raters)]})
    gender = rng.choice(["woman", "man"], n_raters)
    country = rng.choice(["US", "DE"], n_raters)
    rater_attributes = pd.concat(
        [
            pd.DataFrame({"rater_id": raters.rater_id, "attribute": "gender", "value": gender}),
            pd.DataFrame({"rater_id": raters.rater_id, "attribute": "country", "value": country}),
        ]
    )
    prompt_ids = [f"p{j:05d}" for j in range(PROMPTS)]
    prompts = pd.DataFrame(
        {
            "prompt_id": prompt_ids,
            "prompt_key": prompt_ids,
            "text": [f"Prompt {j}?" for j in range(PROMPTS)],
            "language": "en",
            "topic": "everyday",
            "split": np.where(np.arange(PROMPTS) % 10 == 9, "heldout", "train"),
        }
    )
    responses = pd.DataFrame(
        {
            "response_id": [f"{p}-a{k}" for p in prompt_ids for k in range(RESPONSES)],
            "prompt_id": np.repeat(prompt_ids, RESPONSES),
            "text": [f"Answer {k} to prompt {j}." for j in range(PROMPTS) for k in range(RESPONSES)],
            "language": "en",
        }
    )
    # each rater: PER_RATER distinct prompts, one random response of each
    chosen_prompts = np.argsort(rng.random((n_raters, PROMPTS)), axis=1)[:, :PER_RATER]
    response_index = chosen_prompts * RESPONSES + rng.integers(0, RESPONSES, chosen_prompts.shape)
    rater_index = np.repeat(np.arange(n_raters), PER_RATER)
    response_index = response_index.ravel()
    dims = [d.name for d in STUDY_DIMENSIONS]
    quality = rng.normal(0, 1, (len(responses), len(dims)))
    rows = len(rater_index) * len(dims)
    latent = quality[np.repeat(response_index, len(dims)), np.tile(np.arange(len(dims)), len(rater_index))]
    scores = np.clip(np.rint(3 + latent + rng.normal(0, 1, rows)), 1, 5).astype(np.int16)
    ratings = pd.DataFrame(
        {
            "rater_id": raters.rater_id.to_numpy()[np.repeat(rater_index, len(dims))],
            "response_id": responses.response_id.to_numpy()[np.repeat(response_index, len(dims))],
            "dimension": np.tile(dims, len(rater_index)),
            "score": scores,
        }
    )
    info = DatasetInfo(
        "bench", "Preference benchmark (synthetic)", scale=Scale(), simulated=True, source="bench"
    )
    attributes = [Attribute("gender", "Gender", True), Attribute("country", "Country", True)]
    return DatasetBundle(
        info, list(STUDY_DIMENSIONS), attributes, raters, rater_attributes, prompts, responses, ratings
    )


def timed(store: Store, config: PreferenceConfig) -> tuple[float, float, dict]:
    """Wall and CPU seconds (every thread of the process: DuckDB runs several) of one build."""
    started, started_cpu = time.perf_counter(), time.process_time()
    result = build_preferences(store, config)
    return time.perf_counter() - started, time.process_time() - started_cpu, result.stats


#: The code before 2026-12-02's integer-coded build and numpy judgement counts.
BASELINE = "8a4a2f8"


def baseline_seconds(revision: str, raters: int, repeats: int) -> dict[str, float]:
    """Each mode's median seconds on the code at ``revision`` (exported with ``git archive``, run by its own
    copy of this benchmark in a separate process, just before this run's builds), by figure name."""
    import json
    import subprocess
    import sys

    from bench.bench_import_memory import export_revision

    with tempfile.TemporaryDirectory() as tmp:
        tree = export_revision(revision, Path(tmp) / "baseline")
        if tree is None:
            return {}
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.bench_preferences",
                "--raters",
                str(raters),
                "--repeats",
                str(repeats),
            ],
            cwd=tree,
            env={**os.environ, "PYTHONPATH": str(tree)},
            capture_output=True,
            text=True,
            timeout=900,
        )
    figures = [json.loads(line[6:]) for line in run.stdout.splitlines() if line.startswith("BENCH ")]
    print(
        f"baseline {revision}: " + "; ".join(f"{f['name']}: {f['value']:.2f} s" for f in figures), flush=True
    )
    return {f["name"]: f["value"] for f in figures}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raters", type=int, default=20_000, help="raters (x 50 ratings each)")
    parser.add_argument("--repeats", type=int, default=3, help="builds per mode (median reported)")
    parser.add_argument(
        "--baseline", default=BASELINE, help="git revision measured as the baseline ('' for none)"
    )
    args = parser.parse_args()
    print(machine_line(), flush=True)
    before = baseline_seconds(args.baseline, args.raters, args.repeats) if args.baseline else {}
    all_dims = {d.name: 1.0 for d in STUDY_DIMENSIONS}
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.duckdb")
        bundle = synthetic_bundle(args.raters)
        n_ratings = len(bundle.ratings)
        store.write_dataset(bundle)
        timed(store, PreferenceConfig("bench", dimensions={"toxicity": 1.0}))  # warm-up
        runs = [
            (
                "majority",
                PreferenceConfig("bench", split="all", dimensions=all_dims, disagreement="majority"),
            ),
            (
                "preserve",
                PreferenceConfig("bench", split="all", dimensions=all_dims, disagreement="preserve"),
            ),
            ("soft", PreferenceConfig("bench", split="all", dimensions=all_dims, disagreement="soft")),
            (
                "preserve, binary, jury gender 50/50 x country 70/30",
                PreferenceConfig(
                    "bench",
                    split="all",
                    dimensions=all_dims,
                    disagreement="preserve",
                    scale="binary",
                    neutral_as="disagree",
                    jury={"gender": {"woman": 0.5, "man": 0.5}, "country": {"US": 0.7, "DE": 0.3}},
                ),
            ),
        ]
        for label, config in runs:
            times, cpu = [], []
            for _ in range(max(1, args.repeats)):
                seconds, cpu_seconds, stats = timed(store, config)
                times.append(seconds)
                cpu.append(cpu_seconds)
            seconds = statistics.median(times)
            print(
                f"{label:<48} {seconds:6.2f} s, CPU {statistics.median(cpu):.2f} s "
                f"(medians of {len(times)})  pairs {stats['pairs']:>9,}  "
                f"response pairs {stats['response_pairs']:,}  ratings used {stats['ratings_used']:,} of "
                f"{n_ratings:,}  (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)",
                flush=True,
            )
            name = f"build pairs from {n_ratings:,} ratings ({label})"
            emit(
                Figure(
                    BENCH,
                    name,
                    seconds,
                    "s",
                    baseline_name=f"same build at {args.baseline}" if name in before else "",
                    baseline_value=before.get(name),
                    target="< 1 s",
                    met=seconds < 1,
                )
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
