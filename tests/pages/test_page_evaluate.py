"""Evaluate page (AppTest): evaluate the base model and an adapter, read results and the relative change."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from streamlit.testing.v1 import AppTest

from pluralign_core import paths
from pluralign_core.evaluation.evaluate import evaluations
from pluralign_core.rewards.training import train_group_reward_models
from pluralign_core.store.database import Store
from pluralign_core.store.selection import RaterSelection
from tests.chat.test_chat import make_adapter
from tests.factories import tiny_bundle


@pytest.fixture(autouse=True)
def _page_settings(bare_app) -> Iterator[None]:
    """One torch thread while the page generates (restored afterwards for the tests that follow)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


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


def test_evaluates_base_then_adapter_and_shows_change(eval_store: Store):
    at = _open()
    assert not at.exception
    assert any("No evaluations of this dataset yet" in i.value for i in at.info)
    assert at.selectbox(key="eval_model").options == ["base model", "women-dpo (adapter-women)"]

    at = _evaluate(at, "base model")
    assert not at.exception and not at.error
    stored = evaluations(eval_store, "tiny")
    assert len(stored) == 1 and stored.config.iloc[0]["model_id"] == "base"
    assert any(s.value == "Results" for s in at.subheader)
    assert any("Stored evaluation" in s.value for s in at.success)

    at = _evaluate(at, "women-dpo (adapter-women)")
    assert not at.exception and not at.error
    stored = evaluations(eval_store, "tiny")
    assert sorted(c["model_id"] for c in stored.config) == ["adapter-women", "base"]
    assert any(s.value == "Change against the base model" for s in at.subheader)
    change = at.dataframe[1].value
    assert {"improvement_pct", "base_mean"} <= set(change.columns)
    assert len(at.get("download_button")) >= 3  # summary, change, answers


def test_a_missing_adapter_folder_gives_an_error_not_a_crash(eval_store: Store, tmp_path):
    eval_store.register_artifact(
        "adapter", "gone", path=tmp_path / "nowhere", dataset_id="tiny", config={}, artifact_id="adapter-gone"
    )
    at = _open()
    at = _evaluate(at, "gone (adapter-gone)")
    assert not at.exception
    assert any("adapter_config.json" in e.value for e in at.error)
    assert evaluations(eval_store, "tiny").empty
