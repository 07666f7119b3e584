"""The one progress-callback type every long operation takes: ``progress(fraction, message)``.

``fraction`` runs from 0 to 1; ``message`` says what is happening in words a user reads. Pages turn the
calls into a progress bar, the CLI into lines on stderr, background jobs into their JSONL progress log.
"""

from __future__ import annotations

import time
from collections.abc import Callable

ProgressCallback = Callable[[float, str], None]


class EtaClock:
    """Seconds left, from this process's own pace since its first report (so a resumed job's finished part
    does not make it look fast); None until there is enough to go on (15 s and 1 % of the work)."""

    def __init__(self) -> None:
        self.started = time.time()
        self.first: float | None = None

    def eta(self, fraction: float) -> float | None:
        fraction = max(0.0, min(1.0, fraction))
        if self.first is None:
            self.first = fraction
        done, elapsed = fraction - self.first, time.time() - self.started
        if done > 0.01 and elapsed > 15 and fraction < 1:
            return elapsed / done * (1 - fraction)
        return None


def eta_text(seconds: float | None) -> str:
    """`` (ETA 4.5 min)`` or nothing."""
    return "" if seconds is None else f" (ETA {seconds / 60:.1f} min)"
