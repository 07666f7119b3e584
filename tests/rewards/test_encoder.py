"""Hidden-state reward features on a tiny model: read after the prompt, cached per text, no pickles."""

from __future__ import annotations

import numpy as np
import pytest

from pluralign_core.rewards import encoder
from pluralign_core.rewards.config import RewardModelConfig
from pluralign_core.rewards.encoder import HiddenStateFeatures, hidden_state_vectors
from pluralign_core.rewards.model import load_reward_model
from pluralign_core.rewards.training import train_reward_model
from pluralign_core.rewards.validation import load_card
from tests.rewards.test_validation import validation_bundle


@pytest.fixture
def counted_extract(monkeypatch):
    calls: list[int] = []
    real = encoder._extract

    def counting(model_ref, layer, pairs):
        calls.append(len(pairs))
        return real(model_ref, layer, pairs)

    monkeypatch.setattr(encoder, "_extract", counting)
    monkeypatch.setattr(encoder, "_MEMORY_CACHE", {})
    return calls


def test_vectors_read_the_answer_after_its_prompt_and_are_cached(
    pluralign_home, tiny_model_dir, counted_extract
):
    ref = str(tiny_model_dir)
    prompts, answers = ["Why are people rude?", "I feel sad today."], ["Of course.", "Of course."]
    first = hidden_state_vectors(ref, -1, prompts, answers)
    assert first.shape == (2, 32) and np.isfinite(first).all()
    assert not np.allclose(first[0], first[1])  # same answer, different prompt: different features
    assert hidden_state_vectors(ref, -1, ["", "x"], ["", "y"]).shape == (2, 32)  # empty answers pool a token
    assert counted_extract == [2, 2]
    again = hidden_state_vectors(ref, -1, prompts, answers)
    assert counted_extract == [2, 2] and np.array_equal(again, first)
    encoder._MEMORY_CACHE.clear()  # a new process reads the .npy files instead of recomputing
    assert np.array_equal(hidden_state_vectors(ref, -1, prompts, answers), first)
    assert counted_extract == [2, 2]
    other_layer = hidden_state_vectors(ref, 1, prompts, answers)
    assert counted_extract == [2, 2, 2] and not np.allclose(other_layer, first)


def test_hidden_state_reward_model_trains_round_trips_and_has_a_card(store, tiny_model_dir):
    store.write_dataset(validation_bundle())
    config = RewardModelConfig("val", "toxicity", features="hidden_states", encoder_model=str(tiny_model_dir))
    model = train_reward_model(store, config, register=False)
    assert isinstance(model.features, HiddenStateFeatures) and model.features.n_features == 32
    assert not np.allclose(model.coef, 0)
    loaded = load_reward_model(model.path)
    assert isinstance(loaded.features, HiddenStateFeatures)
    prompts, answers = ["Prompt number 4?", "Prompt number 1?"], ["Glad to help you.", "Glad to help you."]
    assert np.array_equal(loaded.predict(prompts, answers), model.predict(prompts, answers))
    raw = np.asarray(loaded.features.transform(answers, prompts) @ loaded.coef) + loaded.intercept
    assert raw[0] != raw[1]  # the prompt changes the score
    card = load_card(model.path)
    assert card["kind"] == "group reward model (hidden_states)"
    assert set(card["languages"]) == {"en", "de"}
    assert 0.0 <= card["languages"]["en"]["pairwise_accuracy"] <= 1.0


def test_unknown_feature_kind_is_refused():
    with pytest.raises(ValueError, match="features must be one of tfidf, hidden_states"):
        RewardModelConfig("d", "toxicity", features="bert")


def test_features_skip_the_vocabulary_projection_and_equal_the_full_pass(pluralign_home, tiny_model_dir):
    """The pass projects one position onto the vocabulary, and its pooled states equal a full forward's."""
    import torch

    model, tokenizer = encoder._load_encoder(str(tiny_model_dir), -1)
    seen: list[tuple[int, ...]] = []
    hook = model.lm_head.register_forward_hook(lambda module, args, out: seen.append(tuple(out.shape)))
    try:
        fast = encoder._extract(str(tiny_model_dir), -1, [("Why are people rude?", "Of course, friend.")])
    finally:
        hook.remove()
    assert seen and all(shape[1] == 1 for shape in seen)
    tokens, start = encoder._render(tokenizer, "Why are people rude?", "Of course, friend.")
    with torch.inference_mode():
        full = model(input_ids=torch.tensor([tokens]), output_hidden_states=True).hidden_states[-1][0]
    assert np.allclose(fast[0], full[start:].float().mean(0).numpy(), atol=1e-5)
