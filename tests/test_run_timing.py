"""The server-side run log (``PLURALIGN_RUN_LOG``): one JSONL line per page run, with its wall and CPU time
and how it ended; nothing at all when the setting is unset."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pluralign_core import paths, run_timing
from tests.factories import tiny_bundle


def _spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_a_timed_run_logs_wall_and_cpu_time_and_how_it_ended(tmp_path: Path, monkeypatch) -> None:
    log = tmp_path / "runs.jsonl"
    monkeypatch.setenv(run_timing.RUN_LOG_ENV, str(log))
    with run_timing.timed_run("explore"):
        _spin(0.05)
        time.sleep(0.1)
    with pytest.raises(KeyError), run_timing.timed_run("data"):
        raise KeyError("stopped")
    first, second = run_timing.read_run_log(log)
    assert first["page"] == "explore" and first["outcome"] == "finished"
    assert first["cpu_s"] >= 0.05 and first["wall_s"] >= first["cpu_s"] + 0.1 - 0.01  # the sleep: no CPU
    assert abs(first["started"] - time.time()) < 60
    assert (second["page"], second["outcome"]) == ("data", "KeyError")


def test_nothing_is_logged_when_the_setting_is_unset(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(run_timing.RUN_LOG_ENV, raising=False)
    assert run_timing.run_log_path() is None
    with run_timing.timed_run("explore"):
        pass
    assert not list(tmp_path.iterdir())
    assert run_timing.read_run_log(tmp_path / "missing.jsonl") == []


@pytest.mark.usefixtures("bare_app")
def test_the_app_logs_its_page_runs(store, tmp_path: Path, monkeypatch) -> None:
    """The router times each run of the page it shows. (AppTest re-executes only the page script after the
    first run, so only that first run is seen here; the concurrent-sessions bench reads every run.)"""
    log = tmp_path / "runs.jsonl"
    monkeypatch.setenv(run_timing.RUN_LOG_ENV, str(log))
    store.write_dataset(tiny_bundle("tiny", n_raters=24))
    at = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    (run,) = run_timing.read_run_log(log)
    assert run["page"] == "home" and run["outcome"] == "finished" and run["wall_s"] > 0
