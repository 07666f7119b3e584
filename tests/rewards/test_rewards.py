"""Group reward models: they learn a planted group signal, report honest held-out quality, round-trip
through their (pickle-free) files and orient every dimension so that a higher GRPO reward is better."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from pluralign_core.ratings.schema import STUDY_DIMENSIONS
from pluralign_core.rewards.config import RewardModelConfig
from pluralign_core.rewards.model import load_reward_model
from pluralign_core.rewards.scoring import CombinedReward, completion_text
from pluralign_core.rewards.training import (
    default_groups,
    load_group_reward_models,
    pairwise_accuracy,
    train_group_reward_models,
    train_reward_model,
)
from pluralign_core.store.selection import RaterSelection
from tests.factories import tiny_bundle

TOXIC = ["idiot", "stupid", "hate", "pathetic", "moron"]
KIND = ["thanks", "glad", "care", "welcome", "kindly"]
FILLER = ["the", "answer", "is", "about", "this", "question", "today", "people", "maybe", "often"]


def planted_bundle(n_prompts: int = 12, per_prompt: int = 6, n_raters: int = 12, seed: int = 1):
    """Responses with 0..4 insulting words; women rate toxicity by that count, men rate it flat.

    Helpfulness follows the kind words for everyone. Toxicity and helpfulness are the two dimensions.
    """
    rng = np.random.default_rng(seed)
    dims = (STUDY_DIMENSIONS[0], STUDY_DIMENSIONS[4])
    bundle = tiny_bundle(
        "planted", n_raters=n_raters, n_prompts=n_prompts, responses_per_prompt=per_prompt, dimensions=dims
    )
    n_toxic = rng.integers(0, 5, len(bundle.responses))
    n_kind = rng.integers(0, 5, len(bundle.responses))
    texts = []
    for t, k in zip(n_toxic, n_kind, strict=True):
        words = list(rng.choice(FILLER, 6)) + list(rng.choice(TOXIC, t)) + list(rng.choice(KIND, k))
        rng.shuffle(words)
        texts.append(" ".join(words) + ".")
    bundle.responses["text"] = texts
    toxic = dict(zip(bundle.responses.response_id, n_toxic, strict=True))
    kind = dict(zip(bundle.responses.response_id, n_kind, strict=True))
    gender = bundle.rater_attributes.query("attribute == 'gender'").set_index("rater_id").value
    scores = []
    for row in bundle.ratings.itertuples():
        if row.dimension == "toxicity":
            base = 1 + toxic[row.response_id] if gender[row.rater_id] == "woman" else 2
        else:
            base = 1 + kind[row.response_id]
        scores.append(int(np.clip(base + rng.choice([-1, 0, 0, 0, 1]), 1, 5)))
    bundle.ratings["score"] = scores
    return bundle, toxic


@pytest.fixture
def planted_store(store):
    bundle, toxic = planted_bundle()
    store.write_dataset(bundle)
    return store, toxic


def women_toxicity(**overrides) -> RewardModelConfig:
    settings = {
        "selection": RaterSelection({"gender": ("woman",)}).to_dict(),
        "heldout": "random",
        "heldout_fraction": 0.34,
        "seed": 3,
        **overrides,
    }
    return RewardModelConfig("planted", "toxicity", **settings)


def test_learns_planted_group_signal_on_heldout_prompts(planted_store):
    store, _ = planted_store
    model = train_reward_model(store, women_toxicity())
    metrics = model.metrics
    assert metrics["n_heldout_responses"] >= 20
    assert metrics["pearson"] > 0.8 and metrics["spearman"] > 0.75
    assert metrics["pairwise_accuracy"] > 0.8
    assert metrics["rmse"] < metrics["baseline_rmse"]
    mild, rude = model.predict(None, ["thanks glad the answer", "idiot stupid hate pathetic moron"])
    assert rude > mild + 1.0
    assert model.scale_min == 1 and model.scale_max == 5 and not model.higher_is_better
    assert model.selection_label == "gender=woman"


def test_men_see_no_toxicity_signal_where_women_do(planted_store):
    store, _ = planted_store
    men = train_reward_model(
        store, women_toxicity(selection=RaterSelection({"gender": ("man",)}).to_dict()), name="men tox"
    )
    rude = men.predict(None, ["idiot stupid hate pathetic moron"])[0]
    assert abs(rude - 2) < 0.6


def test_registered_and_saved_with_config(planted_store):
    store, _ = planted_store
    model = train_reward_model(store, women_toxicity(), name="women / toxicity")
    rows = store.artifacts("reward_model", "planted")
    assert len(rows) == 1
    row = rows.iloc[0]
    assert row["name"] == "women / toxicity" and row["path"] == str(model.path)
    assert row["config"]["dimension"] == "toxicity" and row["config"]["higher_is_better"] is False
    assert row["config"]["selection"] == {"filters": {"gender": ["woman"]}}
    assert row["metrics"]["pearson"] == pytest.approx(model.metrics["pearson"])
    assert (model.path / "config.yaml").exists()
    assert model.path.parent.name == "reward_models" and "/" not in model.path.name
    train_reward_model(store, women_toxicity(alpha=2.0), name="women / toxicity")
    assert len(store.artifacts("reward_model", "planted")) == 1  # retraining replaces, not duplicates


def test_save_load_round_trip_gives_identical_predictions(planted_store):
    store, _ = planted_store
    model = train_reward_model(store, women_toxicity())
    loaded = load_reward_model(model.path)
    texts = ["idiot thanks the", "glad to care", "Frauen und Männer hate", ""]
    np.testing.assert_array_equal(model.predict(None, texts), loaded.predict(texts, texts))
    assert loaded.config == model.config
    assert (loaded.dimension, loaded.higher_is_better, loaded.selection_label) == (
        "toxicity",
        False,
        "gender=woman",
    )
    assert not any(p.suffix in (".pkl", ".joblib", ".pickle") for p in model.path.iterdir())
    json.loads((model.path / "vocabulary.json").read_text("utf-8"))


def test_pairwise_accuracy_matches_hand_count():
    prompts = ["a", "a", "a", "b", "b", "c"]
    observed = [1.0, 2.0, 3.0, 4.0, 4.0, 5.0]
    predicted = [1.0, 3.0, 2.0, 1.0, 2.0, 9.0]
    # prompt a: pairs (0,1) right, (0,2) right, (1,2) wrong; prompt b: tied observed, skipped; c: no pair
    assert pairwise_accuracy(prompts, observed, predicted) == (pytest.approx(2 / 3), 3)
    # a predicted tie counts half
    assert pairwise_accuracy(["a", "a"], [1.0, 2.0], [5.0, 5.0]) == (0.5, 1)
    accuracy, pairs = pairwise_accuracy(["a"], [1.0], [1.0])
    assert pairs == 0 and np.isnan(accuracy)


def test_pairwise_accuracy_agrees_with_brute_force():
    rng = np.random.default_rng(0)
    prompts = rng.choice(list("abcd"), 40)
    observed = rng.integers(1, 6, 40).astype(float)
    predicted = rng.normal(size=40)
    right = total = 0.0
    for i, j in itertools.combinations(range(40), 2):
        if prompts[i] != prompts[j] or observed[i] == observed[j]:
            continue
        total += 1
        dp = predicted[i] - predicted[j]
        right += 0.5 if dp == 0 else float((dp > 0) == (observed[i] > observed[j]))
    assert pairwise_accuracy(prompts, observed, predicted) == (pytest.approx(right / total), total)


def test_combined_reward_orients_dimensions_and_accepts_conversations(planted_store):
    store, _ = planted_store
    models = train_group_reward_models(
        store, "planted", RaterSelection({"gender": ("woman",)}), heldout="random", heldout_fraction=0.34
    )
    assert set(models) == {"toxicity", "helpfulness"}
    rude, kind = "idiot stupid hate pathetic moron", "thanks glad care welcome kindly"
    toxicity_only = CombinedReward([models["toxicity"]], [1.0])
    assert toxicity_only(prompts=["q", "q"], completions=[rude, kind]) == sorted(
        toxicity_only(prompts=["q", "q"], completions=[rude, kind])
    )  # the rude reply gets the lower reward although its predicted toxicity is higher
    predicted = models["toxicity"].predict(None, [rude])[0]
    assert toxicity_only(completions=[rude])[0] == pytest.approx((5 - predicted) / 4)
    helpful = CombinedReward([models["helpfulness"]], [1.0])
    assert helpful(completions=[kind])[0] > helpful(completions=[rude])[0]
    both = CombinedReward([models["toxicity"], models["helpfulness"]], [3.0, 1.0])
    conversational = both(
        prompts=[[{"role": "user", "content": "q"}]] * 2,
        completions=[[{"role": "assistant", "content": rude}], [{"role": "assistant", "content": kind}]],
        completion_ids=[[1], [2]],
        trainer_state=None,
    )
    assert conversational == pytest.approx(both(prompts=["q", "q"], completions=[rude, kind]))
    assert all(0.0 <= r <= 1.0 for r in conversational)
    assert conversational[1] > conversational[0]
    assert both.__name__.startswith("reward_") and "toxicity" in both.__name__
    with pytest.raises(ValueError, match="weights"):
        CombinedReward([models["toxicity"]], [1.0, 2.0])


def test_completion_text_handles_message_lists():
    assert completion_text("plain") == "plain"
    assert completion_text([{"role": "assistant", "content": "hi"}]) == "hi"
    parts = [{"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]
    assert completion_text(parts) == "ab"


def test_group_models_load_grouped_by_selection(planted_store):
    store, _ = planted_store
    groups = default_groups(store, "planted")
    assert [g.label for g in groups] == ["gender=woman", "gender=man"]  # no leaning attribute here
    for group in groups:
        train_group_reward_models(store, "planted", group, ["toxicity"], heldout="random")
    loaded = load_group_reward_models(store, "planted")
    assert set(loaded) == {"gender=woman", "gender=man"}
    assert set(loaded["gender=woman"]) == {"toxicity"}


def test_config_validation_messages():
    with pytest.raises(ValueError, match="heldout_fraction"):
        RewardModelConfig("d", "toxicity", heldout_fraction=1.5)
    with pytest.raises(ValueError, match="alpha"):
        RewardModelConfig("d", "toxicity", alpha=0)
    config = RewardModelConfig("d", "toxicity", {"gender": ["woman"]}, word_ngrams=[1, 1])
    assert RewardModelConfig.from_dict(config.to_dict()) == config


def test_config_refuses_unknown_keys_and_round_trips_through_yaml():
    import yaml

    config = RewardModelConfig("d", "toxicity", {"gender": ["woman"]}, char_ngrams=(0, 0), alpha=2.5)
    assert RewardModelConfig.from_dict(yaml.safe_load(config.to_yaml())) == config
    with pytest.raises(ValueError, match=r"alpah: unknown reward model config field"):
        RewardModelConfig.from_dict({**config.to_dict(), "alpah": 3.0})


def test_model_folder_with_a_mistyped_config_key_is_refused(planted_store):
    store, _ = planted_store
    model = train_reward_model(store, women_toxicity(), register=False)
    config_file = model.path / "config.yaml"
    config_file.write_text(config_file.read_text("utf-8") + "min_ratngs: 2\n", "utf-8")
    with pytest.raises(ValueError, match="min_ratngs"):
        load_reward_model(model.path)


def test_unknown_dimension_and_tiny_selection_are_actionable(planted_store):
    store, _ = planted_store
    with pytest.raises(ValueError, match="no dimension 'kindness'"):
        train_reward_model(store, RewardModelConfig("planted", "kindness"))
    with pytest.raises(ValueError, match="Widen the selection"):
        train_reward_model(store, RewardModelConfig("planted", "toxicity", {"gender": ["nobody"]}))


def test_prompts_length_must_match(planted_store):
    store, _ = planted_store
    model = train_reward_model(store, women_toxicity())
    with pytest.raises(ValueError, match="prompts"):
        model.predict(["a"], ["x", "y"])
    assert isinstance(model.predict(None, pd.Series(["x"]).tolist()), np.ndarray)


def test_cli_trains_lists_and_scores(planted_store, capsys):
    from pluralign_core.cli import main

    assert main(["reward", "--dataset", "planted", "--defaults", "--heldout", "random"]) == 0
    assert "gender=woman" in capsys.readouterr().out
    assert len(planted_store[0].artifacts("reward_model", "planted")) == 4
    assert main(["reward", "--dataset", "planted", "--list"]) == 0
    assert "pearson=" in capsys.readouterr().out
    assert main(["reward", "--dataset", "planted", "--score", "idiot stupid"]) == 0
    assert "toxicity=" in capsys.readouterr().out
    assert main(["reward", "--dataset", "planted", "--where", "gender"]) == 2
