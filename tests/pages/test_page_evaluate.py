"""Evaluate page (AppTest): queue evaluations of the base model and an adapter, follow their progress,
read the results and the relative change; cancel one; a broken adapter is refused before anything runs."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

from pluralign_core import paths
from pluralign_core.evaluation.results import evaluations
from pluralign_core.rewards.training import train_group_reward_models
from pluralign_core.store.database import Store
from pluralign_core.store.selection import RaterSelection
from tests.chat.test_chat import make_adapter
from tests.factories import tiny_bundle


@pytest.fixture(autouse=True)
def _page_settings(one_torch_thread, monkeypatch: pytest.MonkeyPatch) -> None:
    """One torch thread here (``one_torch_thread``) and in the evaluation processes."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("PLURALIGN_STEP_DELAY", "0.5")  # a visible progress bar between the steps


@pytest.fixture
def eval_store(store: Store, tiny_model_dir, tmp_path, monkeypatch) -> Store:
    monkeypatch.setenv("PLURALIGN_BASE_MODEL", str(tiny_model_dir))
    bundle = tiny_bundle(n_prompts=5, responses_per_prompt=3)
    bundle.prompts["split"] = ["train", "train", "train", "heldout", "heldout"]
    store.write_dataset(bundle)
    train_group_reward_models(store, "tiny", RaterSelection({"gender": ("woman",)}), dimensions=["toxicity"])
    adapter = make_adapter(tiny_model_dir, tmp_path / "adapter", seed=1)
    store.register_artifact(
        "adapter",
        "women-dpo",
        path=adapter,
        dataset_id="tiny",
        config={"base_model": str(tiny_model_dir)},
        artifact_id="adapter-women",
    )
    return store


def _open() -> AppTest:
    at = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/evaluate.py")
    return at.run()


def _evaluate(at: AppTest, model_label: str) -> AppTest:
    """Fill the form and submit it in one rerun (form widgets only commit on submit)."""
    at.selectbox(key="eval_model").select(model_label)
    at.number_input(key="eval_max_new_tokens").set_value(8)
    at.button[0].click()  # the form's submit button ("Evaluate model")
    return at.run()


def _progress_texts(at: AppTest) -> list[str]:
    return [bar.proto.text for bar in at.get("progress")]


def _poll(at: AppTest, done: Callable[[AppTest], bool], seen: set[str], timeout: float = 240) -> AppTest:
    """Rerun the page (as its two-second poll does) until ``done``; collect the progress texts shown."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(1.0)
        at.run()
        assert not at.exception, at.exception
        seen.update(_progress_texts(at))
        if done(at):
            return at
    raise AssertionError(f"the page did not get there in {timeout:.0f} s; progress seen: {sorted(seen)}")


def _shows_the_queued_result(at: AppTest) -> bool:
    """The evaluation this session queued last is finished (no progress bar) and its results are shown."""
    picked = [box.value for box in at.selectbox if box.key == "eval_pick"]
    results = any(s.value == "Results" for s in at.subheader)
    return results and picked == [at.session_state["eval_job"]] and not at.get("progress")


def test_evaluates_base_then_adapter_and_shows_change(eval_store: Store):
    at = _open()
    assert not at.exception
    assert any("No evaluations of this dataset yet" in i.value for i in at.info)
    assert at.selectbox(key="eval_model").options == ["base model", "women-dpo (adapter-women)"]

    at = _evaluate(at, "base model")
    assert not at.exception and not at.error
    assert any("Queued evaluation" in s.value for s in at.success)
    assert evaluations(eval_store, "tiny").empty  # it runs in its own process, not in the page
    seen: set[str] = set()
    at = _poll(at, _shows_the_queued_result, seen)
    running = {t.split(" · ", 1)[1] for t in seen if ": running · " in t}
    assert len(running - {"starting", "waiting for a free slot"}) >= 2, seen  # the bar moved on its own
    stored = evaluations(eval_store, "tiny")
    assert len(stored) == 1 and stored.config.iloc[0]["model_id"] == "base"
    assert any(f"{at.session_state['eval_job']} finished" in t.value for t in at.toast)

    at = _evaluate(at, "women-dpo (adapter-women)")
    assert not at.exception and not at.error
    at = _poll(at, _shows_the_queued_result, seen)
    stored = evaluations(eval_store, "tiny")
    assert sorted(c["model_id"] for c in stored.config) == ["adapter-women", "base"]
    assert any(s.value == "Change against the base model" for s in at.subheader)
    change = at.dataframe[-2].value
    assert {"Improvement %", "Base mean"} <= set(change.columns)
    assert len(at.get("download_button")) >= 3  # summary, change, answers


def test_cancel_stops_a_queued_evaluation(eval_store: Store, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PLURALIGN_STEP_DELAY", "30")
    at = _evaluate(_open(), "base model")
    seen: set[str] = set()
    at = _poll(at, lambda at: any("running · starting" in t for t in _progress_texts(at)), seen, 120)
    job = at.session_state["eval_job"]
    at.button(key=f"eval_cancel_{job}").click()
    at = at.run()
    assert not at.exception
    assert any(f"Evaluation {job} cancelled" in e.value for e in at.error)
    assert not at.get("progress")
    assert evaluations(eval_store, "tiny").empty


def test_a_missing_adapter_folder_gives_an_error_not_a_crash(eval_store: Store, tmp_path):
    eval_store.register_artifact(
        "adapter", "gone", path=tmp_path / "nowhere", dataset_id="tiny", config={}, artifact_id="adapter-gone"
    )
    at = _open()
    at = _evaluate(at, "gone (adapter-gone)")
    assert not at.exception
    assert any("adapter_config.json" in e.value for e in at.error)
    assert not any("Queued evaluation" in s.value for s in at.success)
    assert not (paths.home() / "evaluations").exists() or not any((paths.home() / "evaluations").iterdir())
    assert evaluations(eval_store, "tiny").empty


def test_evaluate_shows_the_demo_models_group_matrix(store: Store) -> None:
    """A completed demo's group × model likelihood matrix, per language, with its diagonals."""
    import json

    from pluralign_core.experiments.demo import MATRIX_JSON, STATE_FILE, demo_root

    store.write_dataset(tiny_bundle())
    folder = demo_root() / "tiny-demo"
    folder.mkdir(parents=True)
    (folder / STATE_FILE).write_text(
        json.dumps({"state": "completed", "dataset_id": "tiny", "finished": 1.0})
    )
    cells = [
        {"model": model, "group": group, "language": language, "n_pairs": 8, "n_prompts": 4,
         "accuracy": 0.8, "accuracy_ci_low": 0.6, "accuracy_ci_high": 0.9, "margin": margin,
         "margin_ci_low": margin - 0.1, "margin_ci_high": margin + 0.1, "resolved": True}
        for model, margin in (("liberal-tuned", 0.3), ("conservative-tuned", 0.2))
        for group in ("liberal", "conservative")
        for language in ("en", "de")
    ]  # fmt: skip
    diagonals = {
        "liberal vs conservative (en)": {"difference": 0.1, "ci_low": 0.02, "ci_high": 0.2, "resolved": True}
    }
    (folder / MATRIX_JSON).write_text(
        json.dumps({"cells": cells, "diagonals": diagonals, "dimension": "toxicity"})
    )
    at = _open()
    assert not at.exception
    assert at.radio(key="eval_demo_likelihood_language").options == ["de", "en"]
    shown = next(d.value for d in at.dataframe if "Comparison" in d.value.columns)
    assert shown.iloc[0].Comparison == "liberal vs conservative (en)" and bool(shown.iloc[0].Resolved)
