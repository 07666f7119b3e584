"""The item browser's statistics against independent computations on the bundle's own rows (pandas, scipy,
statsmodels), on the study's shape and on the odd shapes of :mod:`tests.fixtures_shapes`."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.multitest import multipletests

from pluralign_core.analysis import items
from pluralign_core.analysis.slices import NOT_GIVEN
from pluralign_core.ratings.importing import import_dataset, infer_spec
from pluralign_core.ratings.reading import ImportSource
from pluralign_core.store.database import Store
from tests.factories import tiny_bundle
from tests.fixtures_shapes import SHAPES


def _import_shape(store: Store, name: str) -> str:
    shape = SHAPES[name]()
    assert import_dataset(
        store, ImportSource(f"{name}.csv", shape.csv()), infer_spec(shape.frame, name)
    ).written
    return name


def _per_rater_means(bundle, attribute: str, dimension: str) -> pd.DataFrame:
    """Each rater's mean rating per prompt, joined to every value of ``attribute`` they hold (pandas)."""
    ratings = bundle.ratings[bundle.ratings.dimension == dimension]
    ratings = ratings.merge(bundle.responses[["response_id", "prompt_id"]], on="response_id")
    per_rater = ratings.groupby(["prompt_id", "rater_id"], as_index=False).score.mean()
    attrs = bundle.rater_attributes[bundle.rater_attributes.attribute == attribute]
    return per_rater.merge(attrs[["rater_id", "value"]], on="rater_id")


def test_score_is_the_largest_welch_difference_with_a_bonferroni_interval_within_the_prompt(store) -> None:
    bundle = tiny_bundle("tiny", n_raters=24, n_prompts=4, seed=3)
    store.write_dataset(bundle)
    table = items.item_disagreement(store, "tiny", "race", "toxicity", correction="none").set_index("item_id")
    reference = _per_rater_means(bundle, "race", "toxicity")
    for prompt, rows in reference.groupby("prompt_id"):
        samples = {g: r.score.to_numpy() for g, r in rows.groupby("value")}
        tests = {}
        for a, b in itertools.combinations(sorted(samples), 2):
            test = stats.ttest_ind(samples[a], samples[b], equal_var=False)
            tests[(a, b)] = (samples[a].mean() - samples[b].mean(), test)
        (a, b), (diff, test) = max(tests.items(), key=lambda kv: abs(kv[1][0]))
        row = table.loc[prompt]
        assert {row.group_high, row.group_low} == {a, b}
        assert row["diff"] == pytest.approx(abs(diff))
        assert row.p_value == pytest.approx(test.pvalue)
        assert row.pairs == len(tests)
        ci = test.confidence_interval(1 - 0.05 / len(tests))
        expected = (ci.low, ci.high) if diff > 0 else (-ci.high, -ci.low)
        assert (row.ci_low, row.ci_high) == pytest.approx(expected)
        assert row.resolved == (row.ci_low > 0)
    assert list(table["diff"]) == sorted(table["diff"], reverse=True)


def test_a_prompt_the_groups_split_on_sorts_first_and_is_resolved(store) -> None:
    bundle = tiny_bundle("tiny", n_raters=40, n_prompts=6, seed=1)
    ratings = bundle.ratings
    women = set(bundle.rater_attributes.query("attribute == 'gender' and value == 'woman'").rater_id)
    on_p4 = ratings.response_id.str.startswith("p4-") & (ratings.dimension == "toxicity")
    noise = np.random.default_rng(0).integers(0, 2, len(ratings))
    ratings.loc[on_p4, "score"] = np.where(ratings.rater_id[on_p4].isin(women), 4, 1) + noise[on_p4]
    store.write_dataset(bundle)
    for correction in items.CORRECTIONS:
        table = items.item_disagreement(store, "tiny", "gender", "toxicity", correction=correction)
        top = table.iloc[0]
        assert top.item_id == "p4" and top.group_high == "woman" and top.group_low == "man"
        assert top.resolved and top.ci_low > 0
        assert not table.iloc[1:].resolved.all()


def test_bh_intervals_resolve_exactly_the_prompts_benjamini_hochberg_rejects(store) -> None:
    bundle = tiny_bundle("tiny", n_raters=30, n_prompts=12, seed=5)
    shift = bundle.ratings.rater_id.str[-1].astype(int) % 3  # some prompts pick up real differences
    boosted = bundle.ratings.response_id.str[1].astype(int) % 2 == 0
    bundle.ratings["score"] = np.clip(bundle.ratings.score + np.where(boosted, shift, 0), 1, 5)
    store.write_dataset(bundle)
    table = items.item_disagreement(store, "tiny", "country", "toxicity", correction="bh")
    p_item = np.minimum(1, table.p_value * table.pairs)
    rejected, adjusted, *_ = multipletests(p_item, alpha=0.05, method="fdr_bh")
    assert list(table.resolved) == list(rejected)
    assert table.p_adjusted.to_numpy() == pytest.approx(adjusted)
    bonferroni = items.item_disagreement(store, "tiny", "country", "toxicity", correction="bonferroni")
    merged = table.merge(bonferroni, on="item_id", suffixes=("_bh", "_bonf"))
    assert (merged.ci_high_bonf - merged.ci_low_bonf >= merged.ci_high_bh - merged.ci_low_bh - 1e-12).all()
    expected_level = 1 - 0.05 / (len(table) * merged.pairs_bonf.to_numpy(float))
    assert merged.ci_level_bonf.to_numpy(float) == pytest.approx(expected_level)


def test_distributions_count_every_scale_point_and_multi_select_raters_in_each_group(store) -> None:
    bundle = tiny_bundle("tiny", n_raters=18, n_prompts=2, seed=2)
    store.write_dataset(bundle)
    dist = items.answer_distributions(store, "tiny", "p1", "race", "emotional_awareness")
    reference = bundle.ratings[bundle.ratings.dimension == "emotional_awareness"]
    reference = reference[reference.response_id.str.startswith("p1-")]
    races = bundle.rater_attributes[bundle.rater_attributes.attribute == "race"]
    joined = reference.merge(races, on="rater_id")
    expected = joined.groupby(["response_id", "value", "score"]).size()
    got = dist.counts.set_index(["response_id", "group", "score"]).n_ratings
    assert got[got > 0].sort_index().to_dict() == expected.sort_index().to_dict()
    assert set(dist.counts.score) == {1, 2, 3, 4, 5}
    assert dist.counts.groupby(["response_id", "group"]).share.sum().to_numpy() == pytest.approx(1.0)
    asian = joined[joined.value == "Asian"].rater_id.nunique()
    assert asian == 6 and dist.means.query("group == 'Asian'").n_raters.eq(asian).all()
    means = joined.groupby(["response_id", "value"]).score.agg(["mean", "sem", "count"])
    for row in dist.means.itertuples():
        ref = means.loc[(row.response_id, row.group)]
        half = stats.t.ppf(0.975, ref["count"] - 1) * ref["sem"]
        assert row.mean == pytest.approx(ref["mean"])
        assert (row.ci_low, row.ci_high) == pytest.approx((ref["mean"] - half, ref["mean"] + half))


def test_filters_keep_only_matching_prompts(store) -> None:
    bundle = tiny_bundle("tiny", n_prompts=4)
    store.write_dataset(bundle)
    heldout = items.list_items(store, "tiny", items.ItemFilter(splits=("heldout",)))
    assert list(heldout.item_id) == ["p3"]
    assert items.list_items(store, "tiny", items.ItemFilter(languages=("de",))).empty
    table = items.item_disagreement(store, "tiny", "gender", "toxicity", items.ItemFilter(topics=("gender",)))
    assert sorted(table.item_id) == ["p0", "p1", "p2", "p3"]
    assert items.item_answers(store, "tiny", "p2").response_id.tolist() == ["p2-a0", "p2-a1", "p2-a2"]


def test_standalone_texts_are_items_of_their_own_on_a_non_study_dimension(store) -> None:
    dataset_id = _import_shape(store, "standalone")
    listed = items.list_items(store, dataset_id)
    assert len(listed) == 16 and set(listed.kind) == {"text"} and listed.n_answers.eq(1).all()
    assert items.list_items(store, dataset_id, items.ItemFilter(splits=("train",))).empty
    dimension = store.dimensions(dataset_id)[0].name
    table = items.item_disagreement(store, dataset_id, "race", dimension)
    assert len(table) == 16
    assert not {"Pacific Islander", NOT_GIVEN} & (set(table.group_high) | set(table.group_low))
    first = listed.item_id.iloc[0]
    dist = items.answer_distributions(store, dataset_id, first, "race", dimension)
    assert dist.counts.response_id.unique().tolist() == [first]
    assert items.item_answers(store, dataset_id, first).response_id.tolist() == [first]


def test_one_rater_groups_get_a_mean_but_no_interval_and_never_a_score(store) -> None:
    dataset_id = _import_shape(store, "small_groups")
    dimension = store.dimensions(dataset_id)[0].name
    table = items.item_disagreement(store, dataset_id, "race", dimension, min_group_raters=2)
    assert table.estimable.any()
    assert "Pacific Islander" not in set(table.group_high) | set(table.group_low)
    lone = None
    for item_id in table.item_id:
        means = items.answer_distributions(store, dataset_id, item_id, "race", dimension).means
        lone = means[means.group == "Pacific Islander"]
        if not lone.empty:
            break
    assert lone is not None and not lone.empty
    assert lone.n_raters.eq(1).all() and lone["mean"].notna().all() and lone.ci_low.isna().all()


def test_one_group_only_gives_no_score(store) -> None:
    bundle = tiny_bundle("tiny", n_raters=6, n_prompts=2)
    bundle.rater_attributes = bundle.rater_attributes[
        (bundle.rater_attributes.attribute != "gender") | (bundle.rater_attributes.value == "woman")
    ]
    store.write_dataset(bundle)
    table = items.item_disagreement(store, "tiny", "gender", "toxicity")
    assert len(table) == 2 and not table.estimable.any() and table["diff"].isna().all()
    assert not table.resolved.any()


@pytest.mark.parametrize("name", ["one_dimension_no_split", "many_levels"])
def test_other_shapes_list_score_and_distribute(store, name) -> None:
    dataset_id = _import_shape(store, name)
    dimension = store.dimensions(dataset_id)[0].name
    attribute = "state" if name == "many_levels" else "gender"
    table = items.item_disagreement(store, dataset_id, attribute, dimension, min_group_raters=2)
    assert len(table) == len(items.list_items(store, dataset_id)) > 0
    assert table.estimable.any()
    assert ((table.ci_low <= table["diff"]) & (table["diff"] <= table.ci_high))[table.estimable].all()
    dist = items.answer_distributions(store, dataset_id, table.item_id.iloc[0], attribute, dimension)
    assert dist.counts.n_ratings.sum() == dist.means.n_ratings.sum() > 0


def test_unknown_correction_is_refused(store) -> None:
    store.write_dataset(tiny_bundle("tiny"))
    with pytest.raises(ValueError, match="correction"):
        items.item_disagreement(store, "tiny", "gender", "toxicity", correction="holm")


def test_groups_below_the_rater_minimum_never_enter_the_score(store) -> None:
    store.write_dataset(tiny_bundle("tiny", n_raters=24, n_prompts=3, seed=7))  # race: Asian 8, others 12
    everyone = items.item_disagreement(store, "tiny", "race", "toxicity", min_group_raters=2)
    without_asian = items.item_disagreement(store, "tiny", "race", "toxicity", min_group_raters=10)
    assert everyone.pairs.eq(3).all() and without_asian.pairs.eq(1).all()
    assert set(without_asian.group_high) | set(without_asian.group_low) == {"White", "Black"}


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), keep=st.floats(0.3, 1.0), min_raters=st.integers(2, 6))
def test_property_counts_add_up_and_scores_sit_inside_their_intervals(
    store, seed: int, keep: float, min_raters: int
) -> None:
    bundle = tiny_bundle(f"prop{seed}", n_raters=14, n_prompts=3, seed=seed)
    rng = np.random.default_rng(seed)
    bundle.ratings = bundle.ratings[rng.random(len(bundle.ratings)) < keep].reset_index(drop=True)
    store.write_dataset(bundle, replace=True)
    dataset_id = bundle.info.dataset_id
    table = items.item_disagreement(store, dataset_id, "race", "toxicity", min_group_raters=min_raters)
    scored = table[table.estimable]
    assert (scored["diff"] >= 0).all() and (scored.mean_high >= scored.mean_low).all()
    assert ((scored.ci_low <= scored["diff"]) & (scored["diff"] <= scored.ci_high)).all()
    assert (scored[["n_raters_high", "n_raters_low"]] >= min_raters).all().all()
    assert (scored.resolved == (scored.ci_low > 0)).all()
    races = bundle.rater_attributes[bundle.rater_attributes.attribute == "race"]
    for item_id in table.item_id:
        dist = items.answer_distributions(store, dataset_id, item_id, "race", "toxicity")
        rated = bundle.ratings[
            bundle.ratings.response_id.str.startswith(f"{item_id}-")
            & (bundle.ratings.dimension == "toxicity")
        ]
        assert dist.counts.n_ratings.sum() == len(rated.merge(races, on="rater_id"))
