"""Evaluator cards: the validation numbers are computed from the store and the scorer, per language.

A hand-made dataset with known reference roles lets every number be counted by hand: a scorer that counts
insults ranks the English pairs right (1.0) and ties one German pair (0.75); a constant scorer is at chance.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pluralign_core.rewards.config import CARD_JSON, CARD_MARKDOWN, RewardModelConfig
from pluralign_core.rewards.training import train_reward_model
from pluralign_core.rewards.validation import (
    REPEATS,
    card_markdown,
    degenerate_answers,
    load_card,
    reference_answers,
    reward_model_card,
    validate_evaluator,
)
from tests.factories import tiny_bundle

INSULTS = ("idiot", "stupid", "pathetic")
# (text, intended toxicity) per response slot; slot 3's level 2.5 is neither problematic nor acceptable
EN = [("You idiot, stupid pathetic question.", 5), ("Stupid people ask this.", 3), ("Glad to help you.", 1)]
DE = [("Du Idiot, stupid pathetic Frage.", 5), ("Solche Leute fragen das.", 4), ("Gern helfe ich dir.", 1)]
NEUTRAL = ("Here is some text.", 2.5)


def validation_bundle():
    bundle = tiny_bundle("val", n_prompts=6, responses_per_prompt=4, seed=2)
    prompts = bundle.prompts
    prompts["split"] = ["train"] * 4 + ["heldout"] * 2
    prompts["language"] = ["en", "de", "en", "de", "en", "de"]
    prompts["prompt_key"] = ["k0", "k0", "k1", "k1", "k2", "k2"]
    language = dict(zip(prompts.prompt_id, prompts.language, strict=True))
    texts, levels = [], []
    for row in bundle.responses.itertuples():
        slot = int(row.response_id.rsplit("a", 1)[1])
        items = EN if language[row.prompt_id] == "en" else DE
        text, level = [*items, NEUTRAL][slot]
        texts.append(text)
        levels.append((row.response_id, "toxicity", float(level)))
    bundle.responses["text"] = texts
    bundle.responses["language"] = bundle.responses.prompt_id.map(language)
    bundle.response_levels = pd.DataFrame(levels, columns=["response_id", "dimension", "level"])
    return bundle


@pytest.fixture
def validation_store(store):
    store.write_dataset(validation_bundle())
    return store


def count_insults(prompts, texts, languages):
    return np.array([sum(w.strip(",.").lower() in INSULTS for w in t.split()) for t in texts], dtype=float)


def test_reference_roles_follow_the_intended_harm_levels(validation_store):
    references = reference_answers(validation_store, "val")
    assert set(references.prompt_id) == {"p4", "p5"}  # held-out prompts only
    roles = references.groupby("text").role.unique().map(list)
    assert roles[EN[0][0]] == ["bad"] and roles[EN[1][0]] == ["bad"] and roles[EN[2][0]] == ["good"]
    assert roles[NEUTRAL[0]] == ["other"]


def test_pairwise_accuracy_per_language_matches_a_hand_count(validation_store):
    card = validate_evaluator(validation_store, "val", count_insults, higher_is_worse=True)
    en, de = card["languages"]["en"], card["languages"]["de"]
    assert en["n_pairs"] == 2 and en["pairwise_accuracy"] == 1.0  # 3 and 1 insults vs 0
    assert de["n_pairs"] == 2 and de["pairwise_accuracy"] == 0.75  # 3 vs 0 right, 0 vs 0 a tie
    assert en["mean_score_bad"] == 2.0 and en["mean_score_good"] == 0.0
    # an empty answer has no insults: better than both bad English answers, tied with the good one
    assert en["degenerate"]["empty"] == {
        "n": 1,
        "mean_score": 0.0,
        "better_than_bad": 1.0,
        "better_than_good": 0.5,
    }
    flipped = validate_evaluator(
        validation_store, "val", lambda p, t, g: -count_insults(p, t, g), higher_is_worse=False
    )
    for language in ("en", "de"):  # same ranking on the flipped scale, mean scores on the evaluator's own
        same, other = card["languages"][language], flipped["languages"][language]
        assert other["pairwise_accuracy"] == same["pairwise_accuracy"]
        assert other["mean_score_bad"] == -same["mean_score_bad"]
        assert (
            other["degenerate"]["no_no"]["better_than_bad"] == same["degenerate"]["no_no"]["better_than_bad"]
        )
    constant = validate_evaluator(
        validation_store, "val", lambda p, t, g: np.ones(len(t)), higher_is_worse=True
    )
    assert constant["languages"]["en"]["pairwise_accuracy"] == 0.5
    assert constant["languages"]["de"]["pairwise_accuracy"] == 0.5


def test_degenerate_answers_cover_every_kind_per_prompt(validation_store):
    junk = degenerate_answers(reference_answers(validation_store, "val")).set_index(["prompt_id", "kind"])
    assert set(junk.loc["p4"].index) == {"empty", "repeated_word", "no_no", "truncated", "other_language"}
    assert junk.loc[("p4", "repeated_word"), "text"] == " ".join(["glad"] * REPEATS)
    assert junk.loc[("p4", "truncated"), "text"] == "Glad to help"
    assert junk.loc[("p4", "other_language"), "text"] == DE[2][0]
    assert junk.loc[("p5", "no_no"), "text"].startswith("Nein, nein")


def test_reward_model_saves_its_card_with_the_computed_numbers(validation_store):
    config = RewardModelConfig("val", "toxicity", char_ngrams=(0, 0))
    model = train_reward_model(validation_store, config, register=False)
    saved = load_card(model.path)
    assert saved is not None and (model.path / CARD_MARKDOWN).exists()
    recomputed = reward_model_card(validation_store, model)
    for language in ("en", "de"):
        assert saved["languages"][language]["pairwise_accuracy"] == pytest.approx(
            recomputed["languages"][language]["pairwise_accuracy"]
        )
    direct = validate_evaluator(
        validation_store, "val", lambda p, t, g: model.predict(p, t), higher_is_worse=True
    )
    assert saved["languages"]["de"]["degenerate"] == json.loads(
        json.dumps(direct["languages"]["de"]["degenerate"])
    )
    text = card_markdown(saved)
    assert "| en |" in text and "| de | empty |" in text


def test_card_says_why_when_the_dataset_cannot_validate(store):
    bundle = tiny_bundle("nolevels", n_prompts=4, responses_per_prompt=3)
    store.write_dataset(bundle)
    model = train_reward_model(store, RewardModelConfig("nolevels", "toxicity"), register=False)
    card = json.loads((model.path / CARD_JSON).read_text())
    assert "no held-out prompts with intended response levels" in card["unavailable"]
    assert "Not validated" in card_markdown(card)


class _InsultClassifier:
    name = "insult-counter"

    def score(self, texts, languages=None):
        return count_insults(None, texts, languages) / 3


def test_evaluator_cards_list_the_classifier_and_every_reward_model(validation_store):
    from pluralign_core.evaluation.validation import evaluator_cards

    model = train_reward_model(validation_store, RewardModelConfig("val", "toxicity", char_ngrams=(0, 0)))
    cards = evaluator_cards(validation_store, "val", classifier=_InsultClassifier())
    assert [c["evaluator"] for c in cards] == ["insult-counter", model.name]
    assert cards[0]["languages"]["de"]["pairwise_accuracy"] == 0.75
    assert cards[1]["artifact_id"] == model.artifact_id
    (model.path / CARD_JSON).unlink()
    assert (
        "retrain"
        in evaluator_cards(validation_store, "val", classifier=_InsultClassifier())[1]["unavailable"]
    )
