"""The likelihood alignment measure: bootstrap bookkeeping, and that it sees a DPO shift on a tiny model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from pluralign_core.evaluation.likelihood import (
    LogprobCache,
    _conversation_ids,
    alignment_matrix,
    answer_logprobs,
    implicit_rewards,
    pair_agreement,
    paired_margin_difference,
)
from tests.training_data import make_preference_set, tiny_run_config

torch.set_num_threads(1)

CHOSEN = "Of course, I am here to listen."
REJECTED = "Why are some people so rude?"
HELDOUT_PROMPTS = [
    "Women and men rate answers differently.",
    "I feel sad today.",
    "What about immigration?",
    "Everyone deserves respect?",
    "The quick brown fox?",
    "Can you help me today?",
]


def _pairs(n_prompts: int, per_prompt: int = 2) -> pd.DataFrame:
    rows = [(f"p{p}", f"p{p}-good{k}", f"p{p}-bad{k}") for p in range(n_prompts) for k in range(per_prompt)]
    return pd.DataFrame(rows, columns=["prompt_id", "chosen_id", "rejected_id"])


def _reward(pairs: pd.DataFrame, good: np.ndarray, bad: np.ndarray) -> pd.Series:
    return pd.concat(
        [
            pd.Series(good, index=pairs.chosen_id.to_numpy()),
            pd.Series(bad, index=pairs.rejected_id.to_numpy()),
        ]
    )


def test_agreement_counts_ties_as_half_and_resamples_prompts():
    pairs = _pairs(10)
    rng = np.random.default_rng(0)
    good = rng.normal(1.0, 0.5, len(pairs))
    result = pair_agreement(pairs, _reward(pairs, good, np.zeros(len(pairs))), n_boot=500)
    assert result["n_pairs"] == 20 and result["n_prompts"] == 10
    assert result["accuracy"] == pytest.approx(np.mean(good > 0))
    assert result["margin"] == pytest.approx(good.mean())
    assert result["margin_ci_low"] < result["margin"] < result["margin_ci_high"]
    assert result["resolved"]

    constant = pair_agreement(pairs, _reward(pairs, np.zeros(len(pairs)), np.zeros(len(pairs))), n_boot=200)
    assert constant["accuracy"] == 0.5 and constant["margin"] == 0.0 and not constant["resolved"]


def test_bootstrap_interval_matches_a_direct_prompt_resampling():
    pairs = _pairs(6, per_prompt=3)
    rng = np.random.default_rng(1)
    margins = rng.normal(0.2, 1.0, len(pairs))
    reward = _reward(pairs, margins, np.zeros(len(pairs)))
    result = pair_agreement(pairs, reward, n_boot=300, seed=7)
    per_prompt = pd.Series(margins).groupby(pairs.prompt_id.to_numpy()).agg(["sum", "size"])
    draws = np.random.default_rng(7).integers(0, 6, size=(300, 6))
    reference = per_prompt["sum"].to_numpy()[draws].sum(1) / per_prompt["size"].to_numpy()[draws].sum(1)
    assert result["margin_ci_low"] == pytest.approx(np.percentile(reference, 2.5))
    assert result["margin_ci_high"] == pytest.approx(np.percentile(reference, 97.5))


def test_paired_difference_cancels_shared_prompt_effects():
    pairs = _pairs(8)
    prompt_effect = np.repeat(np.random.default_rng(2).normal(0, 3, 8), 2)
    first = _reward(pairs, prompt_effect + 0.5, np.zeros(len(pairs)))
    second = _reward(pairs, prompt_effect, np.zeros(len(pairs)))
    diff = paired_margin_difference((pairs, first), (pairs, second), n_boot=300)
    assert diff["difference"] == pytest.approx(0.5)
    assert diff["ci_low"] == pytest.approx(0.5) and diff["ci_high"] == pytest.approx(0.5) and diff["resolved"]
    with pytest.raises(ValueError, match="share no prompt"):
        paired_margin_difference((pairs, first), (_pairs(2).assign(prompt_id="other"), second))


def test_missing_reward_is_refused():
    pairs = _pairs(2)
    with pytest.raises(ValueError, match="lacks a value"):
        pair_agreement(pairs, pd.Series({"p0-good0": 1.0}))


def test_logprob_cache_reuses_values(tmp_path, tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    direct = answer_logprobs(model, tokenizer, ["Hi?", "Sad?"], [CHOSEN, REJECTED])
    assert np.isfinite(direct).all() and (direct < 0).all()
    cache = LogprobCache(tmp_path, "tiny")
    assert np.allclose(cache.logprobs(model, tokenizer, ["Hi?", "Sad?"], [CHOSEN, REJECTED]), direct)
    again = LogprobCache(tmp_path, "tiny")
    assert len(again.values) == 2
    assert np.allclose(again.logprobs(None, None, ["Hi?", "Sad?"], [CHOSEN, REJECTED]), direct)


def test_measure_detects_a_dpo_shift_on_held_out_prompts(tiny_model_dir, tmp_path):
    """DPO on (CHOSEN ≻ REJECTED) for training prompts: on unseen prompts the implicit reward must agree."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pluralign_core.training.run import run_training

    prefs = make_preference_set(tmp_path / "prefs", n=8)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    tiny_run_config(
        tiny_model_dir, preference_set=str(prefs), max_steps=8, max_completion_length=16, save_steps=8
    ).to_yaml(run_dir / "config.yaml")
    assert run_training(run_dir)["state"] == "completed"

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    start = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tuned = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir), run_dir / "adapter"
    )
    pairs = pd.DataFrame(
        {
            "prompt_id": [f"h{i}" for i in range(len(HELDOUT_PROMPTS))],
            "chosen_id": [f"h{i}-good" for i in range(len(HELDOUT_PROMPTS))],
            "rejected_id": [f"h{i}-bad" for i in range(len(HELDOUT_PROMPTS))],
        }
    )
    prompts = HELDOUT_PROMPTS * 2
    answers = [CHOSEN] * len(HELDOUT_PROMPTS) + [REJECTED] * len(HELDOUT_PROMPTS)
    ids = list(pairs.chosen_id) + list(pairs.rejected_id)
    start_lp = pd.Series(answer_logprobs(start, tokenizer, prompts, answers), index=ids)
    tuned_lp = pd.Series(answer_logprobs(tuned, tokenizer, prompts, answers), index=ids)

    matrix = alignment_matrix(
        {"start": implicit_rewards(start_lp, start_lp), "dpo": implicit_rewards(tuned_lp, start_lp)},
        {"group": pairs},
        n_boot=500,
    ).set_index("model")
    assert matrix.loc["dpo", "accuracy"] == 1.0
    assert matrix.loc["dpo", "margin_ci_low"] > 0 and matrix.loc["dpo", "resolved"]
    assert matrix.loc["start", "margin"] == 0.0 and not matrix.loc["start", "resolved"]


def test_batched_left_padded_logprobs_equal_one_row_at_a_time(tiny_model_dir):
    """Padding, position ids and the kept logits must not change any row's value."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    prompts = ["Hi?", "Why are some people so rude and loud today?", "Sad?"]
    answers = [CHOSEN, "No.", REJECTED + " " + CHOSEN]
    batched = answer_logprobs(model, tokenizer, prompts, answers, batch_size=3)
    single = [answer_logprobs(model, tokenizer, [p], [a])[0] for p, a in zip(prompts, answers, strict=True)]
    assert np.allclose(batched, single, atol=1e-5)
    with torch.inference_mode():
        ids, start = _conversation_ids(tokenizer, prompts[1], answers[1], 160)
        logits = model(input_ids=torch.tensor([ids])).logits[0, :-1]
        manual = torch.log_softmax(logits, -1).gather(-1, torch.tensor(ids[1:])[:, None])[start - 1 :].mean()
    assert batched[1] == pytest.approx(float(manual), abs=1e-5)


def _manual_logprob(model, tokenizer, prompt: str, answer: str) -> float:
    """One row, no padding, no cache: the definition the shared-prompt path must reproduce."""
    with torch.inference_mode():
        ids, start = _conversation_ids(tokenizer, prompt, answer, 160)
        logits = model(input_ids=torch.tensor([ids])).logits[0, :-1]
        token_lp = torch.log_softmax(logits, -1).gather(-1, torch.tensor(ids[1:])[:, None])
        return float(token_lp[start - 1 :].mean())


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_answers_sharing_a_prompt_score_as_if_each_ran_alone(tiny_model_dir, batch_size):
    """Several answers per prompt (in mixed order, prompts of different lengths, an empty answer, which
    still has the turn's end tokens): the prompt's keys and values computed once and copied to each answer
    give every row its own one-row value."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    long_prompt = "Why are some people so rude and loud today, and what should I do?"
    prompts = ["Hi?", long_prompt, "Hi?", "Sad?", long_prompt, "Hi?", long_prompt]
    answers = [CHOSEN, "No.", REJECTED, CHOSEN + " " + REJECTED, CHOSEN, "", REJECTED + " " + CHOSEN]
    scored = answer_logprobs(model, tokenizer, prompts, answers, batch_size=batch_size)
    for row, (prompt, answer) in enumerate(zip(prompts, answers, strict=True)):
        assert scored[row] == pytest.approx(_manual_logprob(model, tokenizer, prompt, answer), abs=1e-5)
    assert len(set(np.round(scored, 4))) == len(prompts)
