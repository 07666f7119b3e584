"""One rule for every disagreement mode: a response pair's expected mass on A ≻ B is ``d·p`` in each."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pluralign_core.preferences.build import PreferenceConfig, build_preferences
from pluralign_core.preferences.judgements import (
    judgement_shares,
    preference_mass,
    stochastic_round,
    training_rows,
)
from pluralign_core.store.database import Store
from tests.factories import tiny_bundle

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
COPIES = 2000  # each pair drawn this often to estimate preserve's expected mass

# per response pair: weighted judgements A ≻ B, B ≻ A, ties, and the raters of A and of B
pair_counts = st.tuples(
    st.integers(0, 6), st.integers(0, 6), st.integers(0, 6), st.integers(1, 6), st.integers(1, 6)
)


def _summary(mode: str, counts: list[tuple[int, int, int, int, int]], copies: int = 1) -> pd.DataFrame:
    """A pair summary as ``build`` makes one, from judgement counts; ``copies`` repeats every pair."""
    rows = []
    for copy in range(copies):
        for i, (a_over_b, b_over_a, ties, n_a, n_b) in enumerate(counts):
            scale = 0.5 + i / 4  # jury weights make the counts fractional
            rows.append(
                {
                    "prompt_id": f"c{copy}/x{i}",
                    "response_a": f"c{copy}/x{i}-a",
                    "response_b": f"c{copy}/x{i}-b",
                    "a_over_b": a_over_b * scale,
                    "b_over_a": b_over_a * scale,
                    "total": (a_over_b + b_over_a + ties) * scale,
                    "value_a": float(a_over_b),
                    "value_b": float(b_over_a),
                    "n_a": n_a,
                    "n_b": n_b,
                    "n_raters": n_a + n_b,
                }
            )
    return judgement_shares(PreferenceConfig("t", disagreement=mode), pd.DataFrame(rows))


def _mass(rows: pd.DataFrame, copies: int = 1) -> pd.Series:
    """Mean mass per ordered pair over the copies, keyed by the pair without its copy prefix."""
    mass = preference_mass(rows)
    if mass.empty:
        return pd.Series(dtype=float)
    keys = [(w.split("/")[1], lo.split("/")[1]) for w, lo in mass.index]
    return (
        pd.Series(mass.to_numpy(), index=pd.MultiIndex.from_tuples(keys)).groupby(level=[0, 1]).sum() / copies
    )


def _rule(counts) -> pd.Series:
    """The rule: ``d·p`` on A ≻ B and ``d·(1 - p)`` on B ≻ A, computed from the counts alone."""
    mass = {}
    for i, (a_over_b, b_over_a, ties, _, _) in enumerate(counts):
        total = a_over_b + b_over_a + ties
        if total:
            mass[(f"x{i}-a", f"x{i}-b")] = a_over_b / total
            mass[(f"x{i}-b", f"x{i}-a")] = b_over_a / total
    return pd.Series(mass, dtype=float)


def _aligned(first: pd.Series, second: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    index = first.index.union(second.index)
    return first.reindex(index, fill_value=0).to_numpy(), second.reindex(index, fill_value=0).to_numpy()


@SETTINGS
@given(counts=st.lists(pair_counts, min_size=1, max_size=5), seed=st.integers(0, 2**16))
def test_preserve_expected_mass_equals_soft_and_the_rule(counts, seed):
    soft = _mass(training_rows(PreferenceConfig("t", disagreement="soft"), _summary("soft", counts)))
    got, want = _aligned(soft, _rule(counts))
    np.testing.assert_allclose(got, want, atol=1e-12)

    config = PreferenceConfig("t", disagreement="preserve", seed=seed)
    preserve = _mass(training_rows(config, _summary("preserve", counts, COPIES)), COPIES)
    got, want = _aligned(preserve, soft)
    # a pair's row count varies by at most 1/2 (two unbiased roundings), its mass by 1/2 over K^2 <= 1/2
    assert np.all(np.abs(got - want) <= 6 * np.sqrt(0.5 / COPIES))


@SETTINGS
@given(counts=st.lists(pair_counts, min_size=1, max_size=5))
def test_unanimous_pairs_give_every_mode_the_same_hard_label(counts):
    unanimous = [(a, 0, 0, n_a, n_b) for a, _, _, n_a, n_b in counts]
    masses = [
        _mass(training_rows(PreferenceConfig("t", disagreement=mode), _summary(mode, unanimous)))
        for mode in ("majority", "preserve", "soft")
    ]
    expected = pd.Series({(f"x{i}-a", f"x{i}-b"): 1.0 for i, c in enumerate(unanimous) if c[0]}, dtype=float)
    for mass in masses:
        got, want = _aligned(mass[mass > 0], expected)
        np.testing.assert_allclose(got, want, atol=1e-12)


@SETTINGS
@given(values=st.lists(st.floats(0, 50, allow_nan=False), min_size=1, max_size=20), seed=st.integers(0, 99))
def test_stochastic_round_is_unbiased_and_keeps_whole_values(values, seed):
    values = np.array(values)
    draws = np.stack([stochastic_round(values, np.random.default_rng(seed + k)) for k in range(400)])
    assert np.all((draws == np.floor(values)) | (draws == np.ceil(values)))
    whole = np.isclose(values, np.round(values), atol=1e-12)
    assert np.all(draws[:, whole] == np.round(values[whole]))
    assert np.all(np.abs(draws.mean(axis=0) - values) <= 6 * np.sqrt(0.25 / 400))


def _balanced_store(store):
    """Four raters; toxicity 1 or 5 (oriented values +2 / -2), every response of a prompt as listed.

    (a0, a1): half the judgements tie, the rest split evenly: d = 0.5, p = 0.5.
    (a0, a2) and (a1, a2): half tie, the rest prefer a2: d = 0.5, p(a2) = 1.
    """
    bundle = tiny_bundle("t", n_prompts=2, responses_per_prompt=3, n_raters=4)
    levels = {"a0": [1, 1, 5, 5], "a1": [1, 1, 5, 5], "a2": [1, 1, 1, 1]}
    rater = bundle.ratings.rater_id.str[1:].astype(int)
    answer = bundle.ratings.response_id.str.split("-").str[1]
    bundle.ratings["score"] = [
        levels[a][r] if d == "toxicity" else 3
        for a, r, d in zip(answer, rater, bundle.ratings.dimension, strict=True)
    ]
    store.write_dataset(bundle)
    return store


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_preserve_and_soft_put_equal_mass_on_every_pair_of_built_data(store, seed):
    store = _balanced_store(store)
    built = {
        mode: build_preferences(store, PreferenceConfig("t", disagreement=mode, seed=seed))
        for mode in ("preserve", "soft", "majority")
    }
    expected = pd.Series(
        {
            ("p0-a0", "p0-a1"): 0.25,
            ("p0-a1", "p0-a0"): 0.25,
            ("p0-a2", "p0-a0"): 0.5,
            ("p0-a2", "p0-a1"): 0.5,
        }
    )
    for mode in ("preserve", "soft"):  # K·d and D·p are whole here, so preserve is exact
        mass = preference_mass(built[mode].pairs)
        got, want = _aligned(mass[mass > 0], expected)
        np.testing.assert_allclose(got, want, atol=1e-12)
    majority = preference_mass(built["majority"].pairs)
    assert majority[majority > 0].to_dict() == {("p0-a2", "p0-a0"): 1.0, ("p0-a2", "p0-a1"): 1.0}


def test_evenly_split_pairs_are_kept_alike_in_soft_and_preserve(store):
    store = _balanced_store(store)
    soft = build_preferences(store, PreferenceConfig("t", disagreement="soft"))
    preserve = build_preferences(store, PreferenceConfig("t", disagreement="preserve"))
    even = soft.pairs[(soft.pairs.chosen_id == "p0-a0") & (soft.pairs.rejected_id == "p0-a1")]
    assert list(even.probability) == [0.5] and list(even.weight) == [0.5]
    assert soft.stats["ties_dropped"] == preserve.stats["ties_dropped"] == 0


@pytest.fixture(scope="module")
def scratch_store():
    with tempfile.TemporaryDirectory() as folder:
        yield Store(Path(folder) / "judgements.duckdb")


def _evenly_split_scores() -> np.ndarray:
    """Scores (rater, response, dimension order) whose (p0-a0, p0-a1) judgements split exactly evenly."""
    toxicity = {0: [1, 1, 1, 5, 5, 5], 1: [1, 1, 1, 5, 5, 5], 2: [1] * 6}
    return np.array(
        [toxicity[k % 3][r] if d == 0 else 3 for r in range(6) for k in range(6) for d in range(2)]
    )


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@example(scores=_evenly_split_scores())
@given(scores=st.lists(st.integers(1, 5), min_size=6 * 2 * 3 * 2, max_size=6 * 2 * 3 * 2).map(np.array))
def test_ties_are_the_same_pairs_in_soft_and_preserve(scratch_store, scores):
    scratch_store.write_dataset(tiny_bundle("t", n_raters=6, n_prompts=2, scores=scores), replace=True)
    soft, preserve = (
        build_preferences(scratch_store, PreferenceConfig("t", disagreement=mode))
        for mode in ("soft", "preserve")
    )

    def pairs(summary: pd.DataFrame) -> set[tuple[str, str]]:
        return set(zip(summary.response_a, summary.response_b, strict=True))

    all_tie = pairs(soft.summary[soft.summary.decisive_share == 0])
    assert pairs(soft.summary[soft.summary.direction == 0]) == all_tie
    assert pairs(preserve.summary[preserve.summary.direction == 0]) == all_tie
    assert soft.stats["ties_dropped"] == preserve.stats["ties_dropped"] == len(all_tie)
    rows = {tuple(sorted(pair)) for pair in zip(soft.pairs.chosen_id, soft.pairs.rejected_id, strict=True)}
    assert rows == pairs(soft.summary) - all_tie and len(soft.pairs) == len(rows)
