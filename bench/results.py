"""One line per figure, so that ``python -m bench`` can gather every benchmark into one table.

Each benchmark prints its human-readable output as it likes and, for every figure it measures, calls
:func:`emit`, which prints a ``BENCH {...}`` JSON line: the figure, its unit, the baseline measured in the
same run (when there is one), their ratio, and the target the issue set.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Figure:
    benchmark: str
    name: str
    value: float
    unit: str
    baseline_name: str = ""
    baseline_value: float | None = None
    target: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline_value in (None, 0):
            return None
        return self.value / self.baseline_value


def emit(figure: Figure) -> Figure:
    """Print the machine-readable line for one figure and return it."""
    print("BENCH " + json.dumps({**asdict(figure), "ratio": figure.ratio}), flush=True)
    return figure


def machine_line() -> str:
    """CPU model, the ISA flags that matter for matrix code, and the cores this process may use: printed by
    every benchmark so that figures from different machines are never mixed."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and ":" in line:
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and ":" in line:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    isa = [f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "amx_tile", "neon") if f in flags]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"machine: {model} | ISA {' '.join(isa) or '-'} | {cores} cores"
