"""``python -m bench``: run every benchmark under ``bench/`` and print one table of figures and ratios.

Each ``bench_*.py`` module runs in its own process (so peak-memory figures do not mix) and reports its
figures as ``BENCH {...}`` lines (see :mod:`bench.results`). ``--only NAME`` runs a subset; ``--markdown``
prints the table as Markdown for the README. The machine line (CPU model, ISA flags, cores) follows the
table: figures from different machines must never be mixed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from bench.results import machine_line

BENCH_DIR = Path(__file__).resolve().parent


def discover() -> list[str]:
    return sorted(p.stem for p in BENCH_DIR.glob("bench_*.py"))


def run_one(module: str, timeout: float) -> tuple[list[dict], str]:
    started = time.monotonic()
    try:
        completed = subprocess.run(
            [sys.executable, "-m", f"bench.{module}"],
            cwd=BENCH_DIR.parent,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return [], f"timed out after {timeout:.0f} s"
    figures = [json.loads(line[6:]) for line in completed.stdout.splitlines() if line.startswith("BENCH ")]
    status = "ok" if completed.returncode == 0 else f"exit {completed.returncode}: {completed.stderr[-400:]}"
    return figures, f"{status} ({time.monotonic() - started:.0f} s)"


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def table(figures: list[dict], markdown: bool) -> str:
    header = ["benchmark", "figure", "value", "unit", "baseline", "baseline value", "ratio", "target", "met"]
    rows = [
        [
            f["benchmark"],
            f["name"],
            _fmt(f["value"]),
            f["unit"],
            f.get("baseline_name", ""),
            _fmt(f.get("baseline_value")),
            _fmt(f.get("ratio")),
            f.get("target", ""),
            {True: "yes", False: "NO", None: ""}[f.get("met")],
        ]
        for f in figures
    ]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*r) for r in [header, *rows])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", help="benchmark module names, e.g. bench_analysis")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per benchmark")
    args = parser.parse_args()
    figures: list[dict] = []
    failed = False
    for module in args.only or discover():
        print(f"running {module} …", file=sys.stderr, flush=True)
        found, status = run_one(module, args.timeout)
        print(f"  {module}: {status}", file=sys.stderr, flush=True)
        failed |= not status.startswith("ok")
        figures += found
    print(table(figures, args.markdown))
    print(f"\n{machine_line()}; measured {time.strftime('%Y-%m-%d')}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
