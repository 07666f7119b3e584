"""Peak memory of reading an upload, as a multiple of the file's size (issue 17, review finding 2).

Each file is read by :func:`pluralign_core.ratings.reading.read_table` in a fresh process; the growth of
that process's peak resident set (``VmHWM``, reset just before the read, minus the resident set then) is
reported in MB and as a multiple of the file size. Files: a highly compressible Parquet file (5 million
identical rows, ~70 kB: the review's "memory bomb", which must now be refused from its footer), a genuine
Parquet file of 1 million ratings and a ~20 MB CSV of ratings. Run: ``python -m bench.bench_import_memory``.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from bench.results import Figure, emit

BENCH = "import memory"
REPO = Path(__file__).resolve().parent.parent
PEAK = """
import sys
import pyarrow.parquet
from pluralign_core.ratings.reading import Problems, read_table

def status(field):
    lines = open("/proc/self/status").read().splitlines()
    return int(next(line.split()[1] for line in lines if line.startswith(field)))

open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current size
before = status("VmRSS:")
problems = Problems()
table = read_table(sys.argv[1], problems)
grown = status("VmHWM:") - before
kinds = ",".join(p.kind for p in problems.errors) or "read"
print(f"{grown / 1024:.1f}|{kinds}|{0 if table is None else len(table.frame)}")
"""


def ratings(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "rater_id": np.char.add("rater-", rng.integers(0, rows // 25 + 1, rows).astype(str)),
            "response_id": np.char.add("response-", rng.integers(0, 330, rows).astype(str)),
            "dimension": rng.choice(["toxicity", "emotional_awareness", "sensitivity", "helpfulness"], rows),
            "score": rng.integers(1, 6, rows),
        }
    )


def measure(path: Path) -> tuple[float, str, int]:
    run = subprocess.run(
        [sys.executable, "-c", PEAK, str(path)], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    grown, outcome, rows = run.stdout.strip().split("|")
    return float(grown), outcome, int(rows)


def main() -> None:
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as folder:
        files = {}
        bomb = pd.DataFrame(
            {"rater_id": "r1", "response_id": "x1", "dimension": "toxicity", "score": np.ones(5_000_000, int)}
        )
        files["compressible Parquet, 5M identical rows"] = Path(folder) / "bomb.parquet"
        bomb.to_parquet(files["compressible Parquet, 5M identical rows"], index=False, compression="zstd")
        files["Parquet, 1M ratings"] = Path(folder) / "ratings.parquet"
        ratings(1_000_000).to_parquet(files["Parquet, 1M ratings"], index=False)
        files["CSV, 20 MB of ratings"] = Path(folder) / "ratings.csv"
        ratings(480_000, seed=1).to_csv(files["CSV, 20 MB of ratings"], index=False)
        for label, path in files.items():
            size_mb = path.stat().st_size / 1024**2
            grown, outcome, rows = measure(path)
            print(f"{label}: {size_mb:.2f} MB file, {outcome} ({rows:,} rows), peak grew {grown:.0f} MB")
            emit(Figure(BENCH, f"{label}: peak growth ({outcome})", grown, "MB"))
            emit(
                Figure(
                    BENCH,
                    f"{label}: peak growth / file size",
                    grown / size_mb,
                    "x",
                    target="refused, < 64 MB" if "identical" in label else "",
                    met=(outcome == "too_large" and grown < 64) if "identical" in label else None,
                )
            )


if __name__ == "__main__":
    main()
