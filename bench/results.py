"""One line per figure, so that ``python -m bench`` can gather every benchmark into one table.

Each benchmark prints its human-readable output as it likes and, for every figure it measures, calls
:func:`emit`, which prints a ``BENCH {...}`` JSON line: the figure, its unit, the baseline measured in the
same run (when there is one), their ratio, and the target the issue set.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass


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
    """The machine a table was measured on: CPU model, ISA flags, cores (figures from different machines
    must never be mixed)."""

    from pluralign_core.hardware import cpu_model, isa_flags

    return f"machine: {cpu_model()}; {' '.join(isa_flags()) or 'no listed ISA flags'}; {os.cpu_count()} cores"
