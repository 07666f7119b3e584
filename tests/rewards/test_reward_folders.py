"""Reward-model folders are named by registry id and saved through unique staging (issue 17, finding 4/5)."""

from __future__ import annotations

import numpy as np
import pytest

from pluralign_core.rewards import model as reward_model_module
from pluralign_core.rewards.model import load_reward_model
from pluralign_core.rewards.training import train_reward_model
from pluralign_core.store.selection import RaterSelection
from tests.rewards.test_rewards import planted_store, women_toxicity  # noqa: F401 (fixture)


def test_labels_that_reduce_to_one_safe_name_get_their_own_folders(planted_store) -> None:  # noqa: F811
    """The review's repro: ``gender=男`` and ``gender=女`` both became ``survey-gender-toxicity``."""
    store, _ = planted_store
    women = train_reward_model(store, women_toxicity(), name="gender=男 · toxicity")
    men_config = women_toxicity(selection=RaterSelection({"gender": ("man",)}).to_dict())
    men = train_reward_model(store, men_config, name="gender=女 · toxicity")
    assert women.path != men.path
    rows = store.artifacts("reward_model", "planted").set_index("name")
    assert rows.loc["gender=男 · toxicity", "path"] != rows.loc["gender=女 · toxicity", "path"]
    assert load_reward_model(women.path).selection_label == "gender=woman"
    assert load_reward_model(men.path).selection_label == "gender=man"
    assert women.path.name == women.artifact_id


def test_two_saves_of_one_folder_at_once_both_finish(planted_store, monkeypatch) -> None:  # noqa: F811
    """Forced interleaving: a second save starts while the first is half written. With one fixed
    ``.partial`` name the second deleted the first's staging folder and the first crashed."""
    store, _ = planted_store
    model = train_reward_model(store, women_toxicity(), name="women tox")
    folder = model.path
    real_savez = np.savez
    interleaved = []

    def savez_with_a_second_writer(path, **arrays):
        if not interleaved:
            interleaved.append(True)
            model.save(folder)  # the other session's save, in the middle of ours
        return real_savez(path, **arrays)

    monkeypatch.setattr(reward_model_module.np, "savez", savez_with_a_second_writer)
    model.save(folder)
    monkeypatch.undo()
    assert interleaved
    reloaded = load_reward_model(folder)
    assert reloaded.predict(None, ["idiot stupid"]) == pytest.approx(model.predict(None, ["idiot stupid"]))
    assert sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(".")) == []
