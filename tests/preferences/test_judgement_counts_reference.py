"""The builder's SQL against a plain-Python reference of what it counts, rater by rater.

The queries (:mod:`pluralign_core.preferences.queries`) number responses and prompts with integer codes,
filter the split and language on the responses and join the ids back at the end; this checks the counts
they give (judgements per response pair, raters of each side and of both, mean scores, ratings used)
against a direct computation from the dataset's tables, on ragged data (missing ratings, raters who rated
several responses of one prompt), for a split, a language, a rater filter and a jury.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from pluralign_core.preferences.build import PreferenceConfig, build_preferences, rater_weights
from pluralign_core.store.database import DatasetBundle, Store
from tests.factories import tiny_bundle


def _recode(c: float, config: PreferenceConfig) -> float | None:
    if config.scale == "5-point":
        return c
    if config.scale == "3-point":
        return float(np.sign(c))
    if c != 0:
        return 1.0 if c > 0 else -1.0
    return {"drop": None, "agree": 1.0, "disagree": -1.0}[config.neutral_as]


def _kept_ratings(bundle: DatasetBundle, config: PreferenceConfig, weight: pd.Series) -> pd.DataFrame:
    prompts = bundle.prompts
    if config.split != "all":
        prompts = prompts[prompts.split == config.split]
    if config.language is not None:
        prompts = prompts[prompts.language == config.language]
    responses = bundle.responses[bundle.responses.prompt_id.isin(prompts.prompt_id)]
    ratings = bundle.ratings.merge(responses[["response_id", "prompt_id"]], on="response_id")
    return ratings[ratings.rater_id.isin(weight.index) & ratings.dimension.isin(config.dimensions)]


def reference_counts(
    bundle: DatasetBundle, config: PreferenceConfig, weight: pd.Series
) -> tuple[pd.DataFrame, dict[tuple[str, str], float]]:
    """Per response pair: weighted judgements and rater counts; per (response, dimension): mean score."""
    better = {d.name: d.higher_is_better for d in bundle.dimensions}
    ratings = _kept_ratings(bundle, config, weight)
    values: dict[tuple[str, str], dict[str, float]] = {}  # (prompt, response) -> {rater: value}
    for (rater, response, prompt), group in ratings.groupby(["rater_id", "response_id", "prompt_id"]):
        recoded = [_recode(float(s) - 3, config) for s in group.score]
        if len(group) != len(config.dimensions) or any(v is None for v in recoded):
            continue
        total = sum(
            config.dimensions[d] * (1 if better[d] else -1) * v
            for d, v in zip(group.dimension, recoded, strict=True)
        )
        values.setdefault((prompt, response), {})[rater] = round(total / sum(config.dimensions.values()), 9)
    rows = []
    for (prompt_a, a), (prompt_b, b) in itertools.combinations(sorted(values), 2):
        if prompt_a != prompt_b:
            continue
        va, vb = values[(prompt_a, a)], values[(prompt_b, b)]
        judged = [(weight[i] * weight[j], x, y) for i, x in va.items() for j, y in vb.items()]
        rows.append(
            {
                "prompt_id": prompt_a,
                "response_a": a,
                "response_b": b,
                "a_over_b": sum(w for w, x, y in judged if x > y),
                "b_over_a": sum(w for w, x, y in judged if x < y),
                "total": sum(w for w, _, _ in judged),
                "n_both": len(set(va) & set(vb)),
                "n_a": len(va),
                "n_b": len(vb),
            }
        )
    weighted = ratings.assign(w=ratings.rater_id.map(weight))
    groups = weighted.groupby(["response_id", "dimension"])
    scores = {key: float((g.w * g.score).sum() / g.w.sum()) for key, g in groups}
    return pd.DataFrame(rows), scores


@pytest.fixture(scope="module")
def ragged(tmp_path_factory):
    bundle = tiny_bundle("ragged", n_raters=10, n_prompts=4, responses_per_prompt=3, seed=11)
    bundle.prompts.loc[bundle.prompts.prompt_id == "p1", "language"] = "de"
    rng = np.random.default_rng(11)
    bundle.ratings = bundle.ratings[rng.random(len(bundle.ratings)) < 0.7].reset_index(drop=True)
    store = Store(tmp_path_factory.mktemp("counts") / "prefs.duckdb")
    store.write_dataset(bundle)
    return bundle, store


@pytest.mark.parametrize(
    "options",
    [
        {"split": "train"},
        {"split": "all", "language": "en", "scale": "binary", "neutral_as": "disagree"},
        {"split": "all", "scale": "3-point", "selection": {"filters": {"gender": ["woman"]}}},
        {"split": "train", "jury": {"race": {"White": 0.3, "Black": 0.3, "Asian": 0.4}}},
    ],
)
def test_judgement_counts_equal_the_rater_by_rater_reference(ragged, options):
    bundle, store = ragged
    config = PreferenceConfig(
        "ragged", dimensions={"toxicity": 1.0, "emotional_awareness": 0.5}, disagreement="soft", **options
    )
    weights = rater_weights(store, config)[0].set_index("rater_id")["weight"]
    expected, scores = reference_counts(bundle, config, weights)
    result = build_preferences(store, config)
    got = result.summary[expected.columns]
    assert len(expected) >= 6 and expected.n_both.between(1, 9).any()
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, rtol=1e-12)
    for row in result.pairs.itertuples():
        for dim in config.dimensions:
            assert getattr(row, f"chosen_{dim}") == pytest.approx(scores[(row.chosen_id, dim)], rel=1e-12)
            assert getattr(row, f"rejected_{dim}") == pytest.approx(scores[(row.rejected_id, dim)], rel=1e-12)
    kept = _kept_ratings(bundle, config, weights)
    assert result.stats["ratings_used"] == len(kept)
    assert set(result.prompts.prompt_id) == set(kept.prompt_id)
