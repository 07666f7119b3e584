"""The vectorised steps of the preference builder against the plain pandas they replaced.

Each reference below is the earlier implementation, short enough to keep: per-row training rows sorted
row by row, ``reindex`` lookups, and the jury's membership table from a crosstab. The builder must give
exactly their output on data with missing ratings, a multi-valued attribute and unlisted values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pluralign_core.preferences.build import PreferenceConfig, _Keys, build_preferences
from pluralign_core.preferences.judgements import preserve_counts, training_rows
from pluralign_core.preferences.jury import _membership
from pluralign_core.store.database import Store
from tests.factories import tiny_bundle


def reference_rows(config: PreferenceConfig, summary: pd.DataFrame) -> pd.DataFrame:
    """Training rows as built before: the pair rows repeated, then a stable sort of every row."""
    s = summary[summary.direction != 0]
    if config.disagreement == "preserve":
        matched = np.minimum(s.n_a, s.n_b).to_numpy().astype(int)
        rng = np.random.default_rng(config.seed)
        k_a, k_b = preserve_counts(matched, s.p_a.to_numpy(), s.decisive_share.to_numpy(), rng)
        idx = np.arange(len(s))
        rows = pd.concat([s.iloc[np.repeat(idx, k_a)], s.iloc[np.repeat(idx, k_b)]], ignore_index=True)
        a_first = np.repeat([True, False], [k_a.sum(), k_b.sum()])
        weight = 1.0 / np.concatenate([np.repeat(matched, k_a), np.repeat(matched, k_b)])
    else:
        rows = s.reset_index(drop=True)
        a_first = rows.direction.to_numpy() > 0
        weight = np.ones(len(rows)) if config.disagreement == "majority" else rows.decisive_share.to_numpy()
    p_a = rows.p_a.to_numpy()
    share = np.where(a_first, p_a, 1 - p_a).astype(float)
    out = pd.DataFrame(
        {
            "prompt_id": rows.prompt_id.to_numpy(),
            "chosen_id": np.where(a_first, rows.response_a, rows.response_b),
            "rejected_id": np.where(a_first, rows.response_b, rows.response_a),
            "weight": np.asarray(weight, dtype=float),
            "probability": share if config.disagreement == "soft" else np.ones(len(rows)),
            "judgement_share": share,
            "agreement": np.maximum(p_a, 1 - p_a).astype(float),
            "n_raters": rows.n_raters.to_numpy().astype(int),
            "chosen_value": np.where(a_first, rows.value_a, rows.value_b).astype(float),
            "rejected_value": np.where(a_first, rows.value_b, rows.value_a).astype(float),
        }
    )
    if config.disagreement == "preserve":
        out = out.sort_values(["prompt_id", "chosen_id", "rejected_id"], kind="stable").reset_index(drop=True)
    return out


@pytest.fixture(scope="module")
def ragged_store(tmp_path_factory):
    bundle = tiny_bundle("ragged", n_raters=14, n_prompts=4, responses_per_prompt=4, seed=5)
    rng = np.random.default_rng(5)
    bundle.ratings = bundle.ratings[rng.random(len(bundle.ratings)) < 0.85].reset_index(drop=True)
    store = Store(tmp_path_factory.mktemp("ragged") / "prefs.duckdb")
    store.write_dataset(bundle)
    return store


@pytest.mark.parametrize(
    "options",
    [
        {"disagreement": "majority"},
        {"disagreement": "soft", "scale": "3-point"},
        {"disagreement": "preserve"},
        {"disagreement": "preserve", "scale": "binary", "neutral_as": "disagree", "seed": 3},
        {"disagreement": "preserve", "jury": {"race": {"White": 0.3, "Black": 0.3, "Asian": 0.4}}},
    ],
)
def test_training_rows_equal_the_row_by_row_reference(ragged_store, options):
    dims = {"toxicity": 1.0, "emotional_awareness": 0.5}
    config = PreferenceConfig("ragged", split="all", dimensions=dims, **options)
    result = build_preferences(ragged_store, config)
    expected = reference_rows(config, result.summary)
    assert len(expected) > 10
    pd.testing.assert_frame_equal(training_rows(config, result.summary), expected, check_exact=True)
    assert list(result.pairs.chosen_id) == list(expected.chosen_id)


def test_lookup_by_factorised_keys_equals_reindex():
    table = pd.Series(["alpha", "beta", "gamma"], index=pd.Index(["a", "b", "c"], dtype="str"), dtype="str")
    keys = pd.Series(["c", "a", "zz", "c", None, "b", "a"], dtype="str")
    got = _Keys(keys).lookup(table)
    pd.testing.assert_series_equal(got, table.reindex(keys).reset_index(drop=True), check_index=False)
    numbers = pd.Series([1.5, 2.5], index=pd.Index(["a", "b"], dtype="str"))
    assert np.array_equal(_Keys(keys).lookup(numbers), numbers.reindex(keys).to_numpy(), equal_nan=True)


def test_jury_membership_equals_the_crosstab_reference():
    ids = pd.Index([f"r{i}" for i in range(9)], dtype=object, name="rater_id")
    attrs = pd.DataFrame(
        {
            "rater_id": ["r0", "r0", "r1", "r2", "r3", "r3", "r3", "r5", "r6", "x9", "r7"],
            "attribute": ["race"] * 9 + ["race", "gender"],
            "value": ["A", "B", "A", "C", "A", "B", "D", "B", None, "A", "woman"],
        }
    )
    rows = attrs[(attrs.attribute == "race") & attrs.rater_id.isin(ids)]
    expected = pd.crosstab(rows.rater_id, rows.value).reindex(index=ids, fill_value=0).astype(float)
    expected = expected.div(expected.sum(axis=1).replace(0, np.nan), axis=0).fillna(0.0)
    expected = expected.reindex(columns=["A", "B", "E"], fill_value=0.0)
    got = _membership(attrs, "race", ids, ["A", "B", "E"])
    pd.testing.assert_frame_equal(got, expected, check_exact=True, check_names=False)
    assert got.loc["r3", "A"] == pytest.approx(1 / 3) and got.loc["r4"].sum() == 0
