"""Preference construction: property-based checks of the choices that turn ratings into pairs."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pluralign_core.preferences.build import PreferenceConfig, build_preferences, compare_results
from pluralign_core.preferences.jury import kish_ess, parse_jury, rake
from pluralign_core.store.database import Store
from tests.factories import tiny_bundle

N_RATERS, N_PROMPTS, N_RESPONSES, N_DIMS = 6, 3, 3, 2
N_SCORES = N_RATERS * N_PROMPTS * N_RESPONSES * N_DIMS
SETTINGS = settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))

scores_strategy = st.lists(st.integers(1, 5), min_size=N_SCORES, max_size=N_SCORES).map(np.array)


@pytest.fixture(scope="module")
def scratch_store():
    with tempfile.TemporaryDirectory() as folder:
        yield Store(Path(folder) / "prefs.duckdb")


def _store_with(store: Store, scores: np.ndarray, keep=None) -> Store:
    bundle = tiny_bundle("t", n_raters=N_RATERS, n_prompts=N_PROMPTS, scores=scores)
    if keep is not None:
        bundle.ratings = bundle.ratings[bundle.ratings.rater_id.isin(keep)]
    store.write_dataset(bundle, replace=True)
    return store


def _directions(result) -> set[tuple[str, str]]:
    return set(zip(result.pairs.chosen_id, result.pairs.rejected_id, strict=True))


def _lower_median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


@SETTINGS
@given(scores=scores_strategy)
def test_majority_pairs_follow_aggregated_scores(scratch_store, scores):
    store = _store_with(scratch_store, scores)
    result = build_preferences(store, PreferenceConfig("t", dimensions={"toxicity": 1.0}))
    ratings = tiny_bundle("t", n_raters=N_RATERS, n_prompts=N_PROMPTS, scores=scores).ratings
    tox = ratings[ratings.dimension == "toxicity"]
    # toxicity: lower is better, so the oriented value is -(score - 3)
    median = tox.groupby("response_id").score.apply(lambda s: _lower_median([3.0 - v for v in s]))
    for row in result.pairs.itertuples():
        assert median[row.chosen_id] > median[row.rejected_id]
        assert row.weight == 1.0 and row.probability == 1.0  # a hard label
    train = [f"p{j}-a{k}" for j in range(N_PROMPTS - 1) for k in range(N_RESPONSES)]
    ties = sum(
        median[a] == median[b] for a in train for b in train if a < b and a.split("-")[0] == b.split("-")[0]
    )
    assert result.stats["ties_dropped"] == ties
    assert len(result.pairs) + ties == result.stats["response_pairs"]


@SETTINGS
@given(levels=st.lists(st.integers(1, 5), min_size=N_PROMPTS * N_RESPONSES, max_size=N_PROMPTS * N_RESPONSES))
def test_unanimous_raters_give_the_same_directions_under_majority_and_preserve(scratch_store, levels):
    # every rater gives each response the same score on both dimensions
    per_response = np.repeat(np.array(levels), N_DIMS)
    scores = np.tile(per_response, N_RATERS)
    store = _store_with(scratch_store, scores)
    config = {"dimensions": {"toxicity": 1.0, "emotional_awareness": 0.5}}
    majority = build_preferences(store, PreferenceConfig("t", disagreement="majority", **config))
    preserve = build_preferences(store, PreferenceConfig("t", disagreement="preserve", **config))
    soft = build_preferences(store, PreferenceConfig("t", disagreement="soft", **config))
    assert _directions(majority) == _directions(preserve) == _directions(soft)
    assert (preserve.pairs.agreement == 1.0).all() and (preserve.pairs.probability == 1.0).all()
    assert majority.stats["ties_dropped"] == preserve.stats["ties_dropped"]


@SETTINGS
@given(
    scores=scores_strategy,
    neutral=st.sampled_from(["agree", "disagree"]),
    mode=st.sampled_from(["majority", "preserve"]),
    dimension=st.sampled_from(["toxicity", "emotional_awareness"]),
)
def test_binary_never_has_fewer_ties_than_five_point(scratch_store, scores, neutral, mode, dimension):
    store = _store_with(scratch_store, scores)
    common = {"dimensions": {dimension: 1.0}, "disagreement": mode, "neutral_as": neutral}
    five = build_preferences(store, PreferenceConfig("t", scale="5-point", **common))
    three = build_preferences(store, PreferenceConfig("t", scale="3-point", **common))
    binary = build_preferences(store, PreferenceConfig("t", scale="binary", **common))
    assert binary.stats["ties_dropped"] >= three.stats["ties_dropped"] >= five.stats["ties_dropped"]
    tied = {
        name: set(map(tuple, r.summary[r.summary.direction == 0][["response_a", "response_b"]].values))
        for name, r in (("five", five), ("three", three), ("binary", binary))
    }
    assert tied["five"] <= tied["three"] <= tied["binary"]  # a coarser scale only merges values


@SETTINGS
@given(scores=scores_strategy, mode=st.sampled_from(["majority", "preserve", "soft"]))
def test_filter_equals_keeping_only_those_raters(scratch_store, scores, mode):
    women = [f"r{i:03d}" for i in range(0, N_RATERS, 2)]
    config = {"dimensions": {"toxicity": 1.0}, "disagreement": mode, "seed": 3}
    filtered = build_preferences(
        _store_with(scratch_store, scores),
        PreferenceConfig("t", selection={"filters": {"gender": ["woman"]}}, **config),
    )
    assert filtered.stats["raters_selected"] == len(women)
    jury_only_women = build_preferences(
        scratch_store, PreferenceConfig("t", jury={"gender": {"woman": 1}}, **config)
    )
    only = build_preferences(_store_with(scratch_store, scores, keep=women), PreferenceConfig("t", **config))
    cols = ["prompt_id", "chosen_id", "rejected_id", "probability", "judgement_share", "weight", "n_raters"]
    pd.testing.assert_frame_equal(filtered.pairs[cols], only.pairs[cols])
    pd.testing.assert_frame_equal(jury_only_women.pairs[cols], only.pairs[cols])


@SETTINGS
@given(scores=scores_strategy, share=st.floats(0.1, 0.9))
def test_jury_weights_are_honoured_in_probabilities(scratch_store, scores, share):
    store = _store_with(scratch_store, scores)
    jury = {"gender": {"woman": share, "man": 1 - share}}
    result = build_preferences(store, PreferenceConfig("t", disagreement="soft", jury=jury))
    assert result.stats["jury"]["achieved"]["gender"]["woman"] == pytest.approx(share, abs=1e-6)
    weights = result.jury.weights
    ratings = tiny_bundle("t", n_raters=N_RATERS, n_prompts=N_PROMPTS, scores=scores).ratings
    tox = ratings[ratings.dimension == "toxicity"].set_index(["response_id", "rater_id"]).score
    for row in result.pairs.itertuples():
        a, b = tox[row.chosen_id], tox[row.rejected_id]  # lower toxicity is better
        better = sum(weights[i] * weights[j] for i in a.index for j in b.index if a[i] < b[j])
        worse = sum(weights[i] * weights[j] for i in a.index for j in b.index if a[i] > b[j])
        assert row.probability == pytest.approx(better / (better + worse))


@SETTINGS
@given(scores=scores_strategy, seed=st.integers(0, 2**16))
def test_results_are_deterministic_for_a_seed(scratch_store, scores, seed):
    store = _store_with(scratch_store, scores)
    config = PreferenceConfig("t", disagreement="preserve", seed=seed, max_pairs_per_prompt=7)
    first, second = build_preferences(store, config), build_preferences(store, config)
    pd.testing.assert_frame_equal(first.pairs, second.pairs)
    assert first.stats == second.stats
    assert (first.pairs.groupby("prompt_id").size() <= 7).all()


@SETTINGS
@given(scores=scores_strategy)
def test_preserve_splits_each_pair_in_proportion_to_judgements(scratch_store, scores):
    store = _store_with(scratch_store, scores)
    result = build_preferences(store, PreferenceConfig("t", disagreement="preserve"))
    for row in result.summary[result.summary.direction != 0].itertuples():
        rows = result.pairs[(result.pairs.prompt_id == row.prompt_id)]
        forward = ((rows.chosen_id == row.response_a) & (rows.rejected_id == row.response_b)).sum()
        backward = ((rows.chosen_id == row.response_b) & (rows.rejected_id == row.response_a)).sum()
        matched = min(row.n_a, row.n_b)
        assert abs(forward + backward - matched * row.decisive_share) < 1  # tied judgements give no row
        assert abs(forward - row.p_a * (forward + backward)) < 1
    assert np.allclose(result.pairs.weight, 1 / N_RATERS)  # every rater rated every response: K = N_RATERS


def test_heldout_prompts_never_feed_training_pairs(store):
    store.write_dataset(tiny_bundle("t"))
    train = build_preferences(store, PreferenceConfig("t", disagreement="soft"))
    heldout = build_preferences(store, PreferenceConfig("t", disagreement="soft", split="heldout"))
    assert "p2" not in set(train.pairs.prompt_id) and set(heldout.pairs.prompt_id) == {"p2"}
    assert "p2" not in set(train.prompts.prompt_id)
    german = build_preferences(store, PreferenceConfig("t", language="de"))
    assert german.pairs.empty and german.stats["ratings_used"] == 0


def test_orientation_prefers_less_toxic_and_more_aware(store):
    bundle = tiny_bundle("t", n_prompts=2, responses_per_prompt=2, n_raters=3)
    # response a0 toxic (5) and unaware (1); a1 not toxic (1) and aware (5)
    level = {("a0", "toxicity"): 5, ("a0", "emotional_awareness"): 1}
    bundle.ratings["score"] = [
        level.get((r.split("-")[1], d), 1 if d == "toxicity" else 5)
        for r, d in zip(bundle.ratings.response_id, bundle.ratings.dimension, strict=True)
    ]
    store.write_dataset(bundle)
    for dims in ({"toxicity": 1}, {"emotional_awareness": 1}, {"toxicity": 1, "emotional_awareness": 2}):
        result = build_preferences(store, PreferenceConfig("t", dimensions=dims))
        assert list(result.pairs.chosen_id) == ["p0-a1"] and list(result.pairs.rejected_id) == ["p0-a0"]
        assert result.pairs.chosen[0] == [{"role": "assistant", "content": "Answer 1 to prompt 0."}]
        assert result.pairs.prompt[0] == [{"role": "user", "content": "Prompt number 0?"}]
    plain = build_preferences(store, PreferenceConfig("t", format="plain"))
    assert plain.pairs.chosen[0] == "Answer 1 to prompt 0." and plain.pairs.prompt[0] == "Prompt number 0?"
    assert plain.prompts.target_toxicity.tolist() == [3.0]


def test_compare_lists_pairs_whose_direction_flips(store):
    bundle = tiny_bundle("t", n_prompts=2, responses_per_prompt=2, n_raters=4)
    # women find a0 less toxic than a1, men the opposite
    woman = bundle.ratings.rater_id.isin(["r000", "r002"])
    a0 = bundle.ratings.response_id.str.endswith("a0")
    bundle.ratings["score"] = np.where(woman == a0, 1, 5)
    store.write_dataset(bundle)
    women = build_preferences(store, PreferenceConfig("t", selection={"gender": ["woman"]}))
    men = build_preferences(store, PreferenceConfig("t", selection={"gender": ["man"]}, disagreement="soft"))
    contested = compare_results(women, men)
    assert list(contested.response_a) == ["p0-a0"]
    assert contested.direction_first[0] == 1 and contested.direction_second[0] == -1


def test_bad_choices_say_what_to_do(store):
    store.write_dataset(tiny_bundle("t"))
    with pytest.raises(ValueError, match="scale"):
        PreferenceConfig("t", scale="7-point")
    with pytest.raises(ValueError, match="no dimension"):
        build_preferences(store, PreferenceConfig("t", dimensions={"kindness": 1}))
    with pytest.raises(ValueError, match="no selected rater"):
        build_preferences(store, PreferenceConfig("t", jury={"gender": {"non-binary": 1}}))


@settings(max_examples=30, deadline=None)
@given(
    genders=st.lists(st.sampled_from(["woman", "man"]), min_size=4, max_size=30),
    countries=st.lists(st.sampled_from(["US", "DE"]), min_size=30, max_size=30),
    share=st.floats(0.2, 0.8),
    us=st.floats(0.2, 0.8),
)
def test_raking_meets_both_marginals_and_reports_kish(genders, countries, share, us):
    ids = [f"r{i}" for i in range(len(genders))]
    rows = [(i, "gender", g) for i, g in zip(ids, genders, strict=True)]
    rows += [(i, "country", c) for i, c in zip(ids, countries, strict=False)]
    attrs = pd.DataFrame(rows, columns=["rater_id", "attribute", "value"])
    cells = set(zip(genders, countries[: len(genders)], strict=True))
    if len(cells) < 4:  # raking needs every margin cell combination to be reachable
        return
    jury = rake(
        attrs, ids, {"gender": {"woman": share, "man": 1 - share}, "country": {"US": us, "DE": 1 - us}}
    )
    assert jury.achieved["gender"]["woman"] == pytest.approx(share, abs=1e-4)
    assert jury.achieved["country"]["US"] == pytest.approx(us, abs=1e-4)
    assert jury.weights.mean() == pytest.approx(1.0)
    assert 0 < jury.effective_sample_size <= len(ids) + 1e-9
    assert jury.effective_sample_size == pytest.approx(kish_ess(jury.weights))


def test_parse_jury():
    assert parse_jury("gender=woman:0.5,man:0.5;country=US:2,DE:1") == {
        "gender": {"woman": 0.5, "man": 0.5},
        "country": {"US": 2.0, "DE": 1.0},
    }
    with pytest.raises(ValueError, match="value:share"):
        parse_jury("gender=woman")
