"""Paired design-choice comparisons: the two-stage bootstrap, Holm, the ratio rule and the study rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pluralign_core.experiments.comparisons import Comparison, compare, compare_all, two_stage_draws


def _arm(values: np.ndarray) -> pd.DataFrame:
    prompts, seeds = values.shape
    return pd.DataFrame(
        {
            "prompt_id": np.repeat([f"p{i}" for i in range(prompts)], seeds),
            "seed": np.tile(np.arange(seeds), prompts),
            "reduction": values.ravel(),
        }
    )


def test_two_stage_bootstrap_matches_a_loop_reference():
    values = np.random.default_rng(0).normal(size=(5, 3))
    draws = two_stage_draws(values, 50, seed=3)
    rng = np.random.default_rng(3)
    prompt_idx = rng.integers(0, 5, size=(50, 5))
    seed_idx = rng.integers(0, 3, size=(50, 3))
    reference = [np.mean([[values[p, s] for s in seed_idx[b]] for p in prompt_idx[b]]) for b in range(50)]
    assert np.allclose(draws, reference)


def test_pairing_cancels_prompt_difficulty():
    rng = np.random.default_rng(1)
    difficulty = rng.normal(0, 2.0, size=(30, 1))
    noise = rng.normal(0, 0.05, size=(30, 3))
    a = difficulty + 1.0 + noise
    b = difficulty + 0.8 + rng.normal(0, 0.05, size=(30, 3))
    result = compare(Comparison("a vs b", _arm(a), _arm(b)), n_boot=500)
    assert result["difference"] == pytest.approx(0.2, abs=0.05)
    assert result["ci_low"] > 0.1 and result["ci_high"] < 0.3  # unpaired, the CI would span about ±1.4
    assert result["a_ci_high"] - result["a_ci_low"] > 1.0
    assert result["n_prompts"] == 30 and result["n_seeds"] == 3


def test_only_shared_prompts_and_seeds_are_compared():
    a = _arm(np.ones((4, 2)))
    b = _arm(np.zeros((4, 3))).query("prompt_id != 'p3'")
    result = compare(Comparison("x", a, b), n_boot=100)
    assert (result["n_prompts"], result["n_seeds"]) == (3, 2)
    with pytest.raises(ValueError, match="share no prompt"):
        compare(Comparison("x", a, b.assign(prompt_id="other")))


def test_ratio_only_where_b_is_resolved():
    rng = np.random.default_rng(2)
    b_noisy = rng.normal(0.0, 1.0, size=(20, 3))
    result = compare(Comparison("x", _arm(b_noisy + 1.0), _arm(b_noisy)), n_boot=500)
    assert np.isnan(result["relative_pct"])  # B's reduction CI covers 0: a ratio would explode
    b_clear = rng.normal(0.5, 0.05, size=(20, 3))
    clear = compare(Comparison("x", _arm(b_clear + 0.25), _arm(b_clear)), n_boot=500)
    assert clear["relative_pct"] == pytest.approx(0.25 / b_clear.mean() * 100)


def test_study_agreement_needs_resolution_sign_and_two_reductions():
    rng = np.random.default_rng(3)

    def arm(level: float) -> pd.DataFrame:
        return _arm(level + rng.normal(0, 0.05, size=(25, 3)))

    table = compare_all(
        [
            Comparison("both reduce, A more", arm(0.6), arm(0.3), study_sign=1),
            Comparison("both increase toxicity", arm(-0.3), arm(-0.6), study_sign=1),
            Comparison("opposite sign", arm(0.3), arm(0.6), study_sign=1),
            Comparison("no difference", arm(0.4), arm(0.4), study_sign=1),
        ],
        n_boot=500,
    ).set_index("name")
    assert table.loc["both reduce, A more", "matches_study"]
    assert table.loc["both increase toxicity", "resolved"]
    assert not table.loc["both increase toxicity", "matches_study"]
    assert table.loc["opposite sign", "resolved"] and not table.loc["opposite sign", "matches_study"]
    assert not table.loc["no difference", "matches_study"]
    assert (table.p_holm >= table.p_value - 1e-12).all()


def test_holm_adjusts_across_the_report():
    rng = np.random.default_rng(4)
    marginal = [
        Comparison(f"c{i}", _arm(rng.normal(0.15, 1.0, (40, 2))), _arm(np.zeros((40, 2)))) for i in range(6)
    ]
    table = compare_all(marginal, n_boot=400).sort_values("p_value")
    smallest = table.iloc[0]
    assert smallest.p_holm == pytest.approx(min(1.0, 6 * smallest.p_value))
    assert (table.p_holm.diff().dropna() >= -1e-12).all()  # Holm keeps the order of the raw p-values
    assert not (table.resolved & (table.p_holm >= 0.05)).any()
