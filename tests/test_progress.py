"""The ETA shown beside long work: from this process's own pace, silent until it has something to go on."""

from __future__ import annotations

import pytest

from pluralign_core import progress


def test_eta_follows_the_pace_since_the_first_report(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(progress.time, "time", lambda: now[0])
    clock = progress.EtaClock()
    assert clock.eta(0.40) is None  # a resumed job starts at 40 %: that part took no time here
    now[0] += 5
    assert clock.eta(0.45) is None  # too early to say
    now[0] += 55
    assert clock.eta(0.60) == pytest.approx(60 / 0.20 * 0.40)  # 20 % in 60 s, 40 % left
    assert clock.eta(1.0) is None
    assert progress.eta_text(90) == " (ETA 1.5 min)" and progress.eta_text(None) == ""
