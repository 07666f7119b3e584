"""How much of a grid's progress bar each part gets: its expected share of the wall time.

Why: the grid's ETA extrapolates from the bar (:class:`pluralign_core.progress.EtaClock`), so the bar must
advance with time, not with the number of parts done. A demo grid's parts differ by an order of magnitude: the
start's evaluation takes about 13 s, a DPO cell about 2 minutes, and training the unaligned start from scratch
several minutes, which a start that already exists (or ships with the app) skips. Equal shares made the ETA
say 2 minutes for a half-hour grid.

The expected seconds below were measured on the project's 2-core CPU machine with the demo preset
(2026-12-02); only their ratios matter, since the ETA scales them to the machine's own pace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pluralign_core.experiments.plan import GridCell

#: Preparation: SFT of the unaligned start (50 steps), merging and checking it, the group reward models.
START_TRAINING_S = 420.0  # the SFT run (estimated; 690 s on a loaded machine)
START_CHECK_S = 61.0
REWARD_MODELS_S = 99.0
#: A cell: evaluation (generation and scoring) plus likelihood measure; training setup; one optimizer
#: step per 8 sequences of the batch (a DPO pair is two sequences, a GRPO sample one, plus its generation).
EVALUATION_S = 36.0
BASE_EVALUATION_S = 13.0
TRAINING_SETUP_S = 16.0
STEP_S_PER_8 = {"dpo": 3.1, "grpo": 7.5}


@dataclass(frozen=True)
class GridPace:
    """Bar shares: ``prepare`` for the shared preparation, ``cells[i]`` for the i-th cell; they sum to 1."""

    prepare: float
    cells: tuple[float, ...]

    def fraction(self, index: int, within: float) -> float:
        """The bar's position ``within`` (0–1) the cell at ``index`` of the order."""
        within = max(0.0, min(1.0, within))
        return self.prepare + sum(self.cells[:index]) + self.cells[index] * within


def expected_cell_seconds(cell: GridCell) -> float:
    """Rough seconds of one cell on 2 CPU cores (see the module docstring)."""
    if not cell.trains:
        return BASE_EVALUATION_S  # the start's evaluation: its log-probabilities are cached by then
    steps = int(cell.run.get("max_steps") or 0)
    batch = int(cell.run.get("per_device_train_batch_size") or 1)
    sequences = 2 * batch if cell.optimizer == "dpo" else batch
    step = STEP_S_PER_8.get(cell.optimizer, STEP_S_PER_8["dpo"]) * sequences / 8
    return EVALUATION_S + TRAINING_SETUP_S + steps * step


def start_seconds(start_work: str) -> float:
    """Expected seconds of preparing the start (see :func:`grid_pace` for ``start_work``)."""
    return {"train": START_TRAINING_S + START_CHECK_S, "check": START_CHECK_S}.get(start_work, 0.0)


def start_share(start_work: str) -> float:
    """The start's share of the preparation (the rest is the group reward models)."""
    return start_seconds(start_work) / (start_seconds(start_work) + REWARD_MODELS_S)


def grid_pace(cells: Sequence[GridCell], start_work: str) -> GridPace:
    """Shares for ``cells`` in order; ``start_work`` is what preparing the start still needs to do:
    ``"train"`` (SFT from scratch), ``"check"`` (merge and check a shipped adapter), or ``"none"`` (the
    start is built, or the grid tunes from the instruct model)."""
    prepare = REWARD_MODELS_S + start_seconds(start_work)
    seconds = [expected_cell_seconds(cell) for cell in cells]
    total = prepare + sum(seconds)
    if total <= 0:
        return GridPace(1.0, tuple(0.0 for _ in cells))
    return GridPace(prepare / total, tuple(s / total for s in seconds))
