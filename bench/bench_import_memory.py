"""Peak memory of importing a ratings file, as a multiple of the file's size (issue 17, review finding 2).

Each measurement runs in a fresh process; the growth of that process's peak resident set (``VmHWM``, reset
just before, minus the resident set then) is reported in MB and as a multiple of the file size. Rows:

* a highly compressible Parquet file (5 million identical rows, ~70 kB: the review's "memory bomb"), read
  with :func:`read_table`: it must be refused from its footer;
* the whole import (:func:`import_dataset`: read, check, write to a fresh store — what ``pluralign import``
  and the Data page's wizard do) of a genuine Parquet file of 1 million long-format ratings and of a
  ~28 MB CSV of 200,000, both with prompt and answer texts and two demographics on every row. The
  baseline is the same import on the code before the batched import (``--baseline``, a git revision,
  exported with ``git archive`` and run the same way), measured in the same run.

Run: ``python -m bench.bench_import_memory [--baseline REV]``.
"""

from __future__ import annotations

import argparse
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


IMPORT = """
import os, sys, tempfile
os.environ["PLURALIGN_HOME"] = tempfile.mkdtemp()
import pyarrow.parquet
from pluralign_core.ratings.importing import import_dataset
from pluralign_core.ratings.spec import DemographicSpec, ImportSpec
from pluralign_core.store.database import Store

def status(field):
    lines = open("/proc/self/status").read().splitlines()
    return int(next(line.split()[1] for line in lines if line.startswith(field)))

store = Store()
spec = ImportSpec(
    dataset_id="bench", layout="long", rater_id="rater_id", prompt_text="prompt", response_text="response",
    dimension_column="dimension", score_column="score",
    demographics=[DemographicSpec(column="gender"), DemographicSpec(column="age")],
)
open("/proc/self/clear_refs", "w").write("5")
before = status("VmRSS:")
report = import_dataset(store, sys.argv[1], spec)
grown = status("VmHWM:") - before
outcome = "written" if report.written else ",".join(p.kind for p in report.problems)
print(f"{grown / 1024:.1f}|{outcome}|{report.counts.get('ratings', 0)}")
"""
BASELINE = "eecdca6"  # main before the batched import


def ratings(rows: int, seed: int = 0, *, texts: bool = False) -> pd.DataFrame:
    """Long ratings; with ``texts``, a prompt, an answer and two demographics on every row, as exported."""
    rng = np.random.default_rng(seed)
    rater = rng.integers(0, rows // 25 + 1, rows)
    response = rng.integers(0, 330, rows)
    frame = pd.DataFrame(
        {
            "rater_id": np.char.add("rater-", rater.astype(str)),
            "response_id": np.char.add("response-", response.astype(str)),
            "dimension": rng.choice(["toxicity", "emotional_awareness", "sensitivity", "helpfulness"], rows),
            "score": rng.integers(1, 6, rows),
        }
    )
    if not texts:
        return frame
    genders = np.array(["woman", "man", "non-binary", "prefer not to say"])
    ages = np.array(["18-24", "25-34", "35-44", "45-54", "55-64", "65+"])
    frame = frame.drop(columns="response_id").assign(
        prompt=np.char.add("What do you think about question number ", (response // 5).astype(str)),
        response=np.char.add("This is the answer text of a model, answer number ", response.astype(str)),
        gender=genders[rater % 4],
        age=ages[(rater // 4) % 6],
    )
    return frame.drop_duplicates(["rater_id", "response", "dimension"])


def _run(script: str, path: Path, repo: Path) -> tuple[float, str, int]:
    run = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    if run.returncode:
        raise RuntimeError(run.stderr[-2000:])
    grown, outcome, rows = run.stdout.strip().splitlines()[-1].split("|")
    return float(grown), outcome, int(rows)


def measure(path: Path, repo: Path = REPO) -> tuple[float, str, int]:
    """Peak growth (MB), outcome and rows of :func:`read_table` on ``path`` in a fresh process."""
    return _run(PEAK, path, repo)


def measure_import(path: Path, repo: Path = REPO) -> tuple[float, str, int]:
    """Peak growth (MB), outcome and stored ratings of the whole import of ``path`` in a fresh process."""
    return _run(IMPORT, path, repo)


def export_revision(revision: str, folder: Path) -> Path | None:
    """The repository at ``revision`` in ``folder`` (``git archive``), or None without git or revision."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", revision], capture_output=True, timeout=120
    )
    if archive.returncode:
        print(f"baseline {revision!r} not available: {archive.stderr.decode()[:200]}")
        return None
    folder.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def machine() -> str:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor() or platform.machine(),
    )  # fmt: skip
    return f"{model}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE, help="git revision measured as the baseline")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as folder:
        bomb_path = Path(folder) / "bomb.parquet"
        bomb = pd.DataFrame(
            {"rater_id": "r1", "response_id": "x1", "dimension": "toxicity", "score": np.ones(5_000_000, int)}
        )
        bomb.to_parquet(bomb_path, index=False, compression="zstd")
        grown, outcome, rows = measure(bomb_path)
        size_kb = bomb_path.stat().st_size / 1024
        print(f"compressible Parquet: {size_kb:.0f} kB, {outcome}, peak grew {grown:.1f} MB")
        emit(
            Figure(
                BENCH,
                "compressible Parquet, 5M identical rows: peak growth (refused from its footer)",
                grown,
                "MB",
                target="refused, < 64 MB",
                met=outcome == "too_large" and grown < 64,
            )
        )
        baseline = export_revision(args.baseline, Path(folder) / "baseline") if args.baseline else None
        files = {
            "Parquet, 1M ratings": (Path(folder) / "ratings.parquet", 10.0),
            "CSV, 200k ratings": (Path(folder) / "ratings.csv", 3.0),
        }
        ratings(1_000_000, texts=True).to_parquet(files["Parquet, 1M ratings"][0], index=False)
        ratings(200_000, seed=1, texts=True).to_csv(files["CSV, 200k ratings"][0], index=False)
        for label, (path, target) in files.items():
            size_mb = path.stat().st_size / 1024**2
            grown, outcome, rows = measure_import(path)
            before = measure_import(path, baseline) if baseline else None
            print(
                f"{label} ({size_mb:.1f} MB): {outcome} {rows:,} ratings, peak grew {grown:.0f} MB"
                + (f"; baseline {before[0]:.0f} MB ({before[1]})" if before else "")
            )
            name = f"{label} ({size_mb:.1f} MB): whole import, peak growth"
            emit(Figure(BENCH, name, grown, "MB", f"same import at {args.baseline}", before and before[0]))
            emit(
                Figure(
                    BENCH,
                    f"{label}: whole import, peak growth / file size",
                    grown / size_mb,
                    "x",
                    f"same import at {args.baseline}",
                    before and before[0] / size_mb,
                    target=f"<= {target:g}x",
                    met=outcome == "written" and grown / size_mb <= target,
                )
            )


if __name__ == "__main__":
    main()
