"""The grid's progress bar advances with expected time, so its ETA is right from the first cells on."""

from __future__ import annotations

import itertools

import pytest

from pluralign_core.experiments import grid_pace
from pluralign_core.experiments.grid_config import preset
from pluralign_core.experiments.plan import plan_cells
from pluralign_core.progress import EtaClock
from pluralign_core.ratings.schema import STUDY_DIMENSIONS


def _demo_cells():
    return plan_cells(preset("demo"), "ds", [d.name for d in STUDY_DIMENSIONS])


@pytest.fixture(autouse=True)
def _home(pluralign_home):
    """Planning the demo preset names the start's folder under the home."""


def test_shares_follow_the_expected_seconds_and_sum_to_one():
    cells = _demo_cells()
    pace = grid_pace.grid_pace(cells, "check")
    assert pace.prepare + sum(pace.cells) == pytest.approx(1.0)
    by_kind = {
        cell.optimizer if cell.trains else "base": share
        for cell, share in zip(cells, pace.cells, strict=True)
    }
    assert by_kind["base"] < by_kind["dpo"] < by_kind["grpo"]  # the grid's cells differ ~10x in time
    assert pace.fraction(0, 0.0) == pytest.approx(pace.prepare)
    assert pace.fraction(len(cells) - 1, 1.0) == pytest.approx(1.0)
    positions = [pace.fraction(i, f) for i in range(len(cells)) for f in (0.0, 0.5, 1.0)]
    assert all(later >= earlier - 1e-12 for earlier, later in itertools.pairwise(positions))


def test_a_start_that_must_be_trained_takes_a_larger_share_than_a_shipped_or_built_one():
    cells = _demo_cells()
    shares = {work: grid_pace.grid_pace(cells, work).prepare for work in ("train", "check", "none")}
    assert shares["train"] > shares["check"] > shares["none"] > 0
    assert grid_pace.start_share("none") == 0.0 and 0 < grid_pace.start_share("check") < 1


def test_the_eta_from_the_bar_is_close_when_cells_take_their_expected_time(monkeypatch):
    """A simulated run where each part takes its expected seconds: the ETA after the first DPO cell is
    within 10 % of the true remaining time (equal shares per cell were off by a factor of 3 or more)."""
    cells = _demo_cells()
    pace = grid_pace.grid_pace(cells, "check")
    now = [0.0]
    monkeypatch.setattr("pluralign_core.progress.time.time", lambda: now[0])
    clock = EtaClock()
    clock.eta(0.0)
    seconds = [grid_pace.expected_cell_seconds(cell) for cell in cells]
    prepare = grid_pace.REWARD_MODELS_S + grid_pace.START_CHECK_S
    now[0] = prepare + seconds[0] + seconds[1]
    eta = clock.eta(pace.fraction(1, 1.0))
    remaining = sum(seconds[2:])
    assert eta == pytest.approx(remaining, rel=0.1)


def test_the_demo_s_bar_gives_a_shipped_start_a_small_share_and_a_trained_one_a_large_share():
    from pluralign_core.experiments.demo import part_weights

    trained, shipped, built = (part_weights(work) for work in ("train", "check", "none"))
    for weights in (trained, shipped, built):
        assert sum(weights.values()) == pytest.approx(1.0)
    assert trained["start"] > 0.5 > shipped["start"] > built["start"] == 0.0
    assert shipped["adapters"] > shipped["start"]
