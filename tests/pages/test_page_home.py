"""Home page (AppTest): the "Build the demo models" button launches ``pluralign demo`` in the background and
the page shows its progress from demo.json, the same after a reload."""

from __future__ import annotations

import os
import time

import pytest
from streamlit.testing.v1 import AppTest

from pluralign_core import paths
from pluralign_core.experiments import demo, demo_process
from pluralign_core.launcher import process_start_time
from pluralign_core.store.database import Store
from tests.factories import tiny_bundle


@pytest.fixture
def home_store(store: Store, bare_app) -> Store:
    store.write_dataset(tiny_bundle("tiny"))
    return store


def open_home() -> AppTest:
    at = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def test_button_launches_the_demo_and_progress_survives_a_reload(home_store, monkeypatch) -> None:
    launched = []

    class Process:
        pid = 999_999

    def fake_launch(command, log_file, env=None):
        launched.append(list(command))
        return Process()

    monkeypatch.setattr(demo_process.launcher, "launch", fake_launch)
    at = open_home()
    at.button(key="home_build_demo").click().run()
    assert not at.exception, at.exception
    assert len(launched) == 1 and launched[0][-3:] == ["demo", "--dataset-id", "tiny"]
    assert at.get("progress")  # planned: within the start-up grace it counts as running

    folder = demo.demo_folder(demo.DemoConfig(dataset_id="tiny"))
    state = demo.read_state(folder)
    state.update(
        state="running",
        pid=os.getpid(),
        started=process_start_time(os.getpid()),
        progress={
            "fraction": 0.4,
            "message": "liberal adapter: step 3/24",
            "eta_s": 300,
            "time": time.time(),
        },
    )
    demo.write_state(folder, state)
    reloaded = open_home()
    bars = reloaded.get("progress")
    assert len(bars) == 1 and bars[0].proto.value == 40
    assert "liberal adapter: step 3/24" in bars[0].proto.text and "5 min left" in bars[0].proto.text
    assert not [b for b in reloaded.button if b.key == "home_build_demo"]


def test_interrupted_demo_offers_to_continue_and_finished_one_links_to_chat(home_store) -> None:
    folder = demo.demo_folder(demo.DemoConfig(dataset_id="tiny"))
    demo.write_state(folder, {"state": "interrupted", "error": "SystemExit: stopped by signal 15"})
    at = open_home()
    assert at.button(key="home_build_demo").label == "Continue building the demo models"
    assert any("stopped by signal 15" in w.value for w in at.warning)

    demo.write_state(folder, {"state": "completed", "wall_s": 540})
    at = open_home()
    assert any("demo models are ready (built in 9 min)" in s.value for s in at.success)
    assert not [b for b in at.button if b.key == "home_build_demo"]
