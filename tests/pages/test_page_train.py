"""Train page (AppTest): queue a DPO run from the form and watch its progress arrive; YAML configs too."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from pluralign_core import paths
from pluralign_core.training.jobs import JobQueue
from tests.training_data import make_preference_set


@pytest.fixture(autouse=True)
def _page_settings(bare_app, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLURALIGN_STEP_DELAY", "1.0")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def _by_key(widgets, key):
    return next(w for w in widgets if w.key == key)


def test_train_page_queues_a_run_and_shows_progress(store, tiny_model_dir, tmp_path):
    prefs = make_preference_set(tmp_path / "prefs")
    store.register_artifact("preference_set", "women-toxicity", path=prefs, artifact_id="preference_set-w")
    at = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    assert any("No runs yet" in i.value for i in at.info)

    _by_key(at.selectbox, "train_base_model_choice").select("Local folder or hub id…").run()
    _by_key(at.text_input, "train_base_model").input(str(tiny_model_dir))
    assert _by_key(at.selectbox, "train_preference_set").value.startswith("women-toxicity")
    for key, value in {
        "train_max_steps": 4,
        "train_per_device_train_batch_size": 2,
        "train_max_length": 64,
        "train_max_prompt_length": 32,
        "train_save_steps": 2,
        "train_lora_r": 4,
    }.items():
        _by_key(at.number_input, key).set_value(value)
    _by_key(at.button, "train_submit").click().run()
    assert not at.exception, at.exception
    assert any("Queued run" in s.value for s in at.success), [e.value for e in at.error]

    queue_root = paths.home() / "runs"
    run_ids = [p.name for p in queue_root.iterdir()]
    assert len(run_ids) == 1
    seen_steps = set()
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        time.sleep(1.0)
        at.run()
        assert not at.exception, at.exception
        bars = [p for p in at.get("progress")]
        texts = [b.proto.text for b in bars]
        seen_steps.update(t for t in texts if "step" in t)
        if any(t.startswith("completed") for t in texts):
            break
    print(sorted(seen_steps))
    assert any(t.startswith("running · step") and not t.endswith(" 0/4") for t in seen_steps), seen_steps
    assert any(t.startswith("completed · step 4/4") for t in seen_steps), seen_steps
    assert [m.value for m in at.metric if m.label == "Loss"] != ["–"]
    assert len(at.get("plotly_chart")) == 1
    # The panel registers finished runs before it reads their status, so the poll that first shows
    # "completed" may come just before the one that registers the adapter.
    for _ in range(5):
        adapters = store.artifacts("adapter")
        if len(adapters):
            break
        time.sleep(1.0)
        at.run()
    assert list(adapters.artifact_id) == [f"adapter-{run_ids[0]}"]


def test_train_page_grpo_form_validates_before_queueing(store, tmp_path):
    at = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/train.py").run()
    _by_key(at.selectbox, "train_algorithm").select("grpo").run()
    assert not at.exception, at.exception
    assert _by_key(at.multiselect, "train_reward_models").options == []
    _by_key(at.text_input, "train_prompt_set_path").input(str(tmp_path / "prompts"))
    _by_key(at.button, "train_submit").click().run()
    assert any("needs at least one reward model" in e.value for e in at.error)
    assert not (paths.home() / "runs").exists() or not any((paths.home() / "runs").iterdir())


def _yaml_page() -> AppTest:
    at = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        (
            "lora_r: eight\n",
            "edited run config: lora_r: expected int, got 'eight' (Input should be a valid integer",
        ),
        ("lora_rank: 8\n", "edited run config: lora_rank: unknown run config field (did you mean 'lora_r'?)"),
    ],
)
def test_train_page_shows_a_bad_yaml_config_as_one_line(store, body, shown):
    at = _yaml_page()
    area = _by_key(at.text_area, "train_yaml_text")
    assert "learning_rate: 5.0e-05" in area.value  # starts from every field's default
    area.input(f"preference_set: /data/prefs\n{body}")
    _by_key(at.button, "train_yaml_submit").click().run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert any(shown in e and "\n" not in e for e in errors), errors
    assert not at.success
    assert not (paths.home() / "runs").exists() or not any((paths.home() / "runs").iterdir())


def test_train_page_queues_an_edited_yaml_config_with_real_types(store, monkeypatch):
    monkeypatch.setattr(JobQueue, "poll", lambda self: [])  # queue only: no training process in this test
    at = _yaml_page()
    _by_key(at.text_area, "train_yaml_text").input(
        "preference_set: /data/prefs\nlearning_rate: 1e-5\nlora_r: '8'\ngradient_checkpointing: 'no'\n"
    )
    _by_key(at.button, "train_yaml_submit").click().run()
    assert not at.exception, at.exception
    assert any("Queued run" in s.value for s in at.success), [e.value for e in at.error]
    queue = JobQueue(paths.home() / "runs")
    (run_id,) = queue.run_ids()
    config = queue.config(run_id)
    assert (config.learning_rate, config.lora_r, config.gradient_checkpointing) == (1e-5, 8, False)
