"""The process-wide analysis result cache: same frames as an uncached call, one computation for many
concurrent callers, and never an answer from a dataset's old rows."""

from __future__ import annotations

import dataclasses
import threading

import pandas as pd
import pytest

from pluralign_core import analysis
from pluralign_core.analysis import result_cache
from pluralign_core.analysis.filters import AnalysisFilter
from pluralign_core.store.database import Store
from pluralign_core.store.selection import RaterSelection
from tests.factories import tiny_bundle

CALLS = {
    "group_means": lambda s: analysis.group_means(s, "tiny", "gender", min_group_raters=2),
    "score_distribution": lambda s: analysis.score_distribution(s, "tiny", "country"),
    "percent_differences": lambda s: analysis.percent_differences(s, "tiny", "gender", "woman"),
    "alpha_by_group": lambda s: analysis.alpha_by_group(s, "tiny", "gender"),
    "disagreement_decomposition": lambda s: analysis.disagreement_decomposition(s, "tiny", "gender"),
}


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    result_cache.RESULTS.clear()


@pytest.mark.parametrize("name", sorted(CALLS))
def test_cached_results_equal_uncached_and_compute_once(store: Store, name: str) -> None:
    store.write_dataset(tiny_bundle("tiny", n_raters=24))
    function = getattr(analysis, name)
    computed = result_cache.RESULTS.computed
    first, second = CALLS[name](store), CALLS[name](store)
    assert result_cache.RESULTS.computed - computed >= 1
    calls_after_two = result_cache.RESULTS.computed
    CALLS[name](store)
    assert result_cache.RESULTS.computed == calls_after_two, "a repeated call is answered from the cache"
    uncached = {
        "group_means": lambda: function.uncached(store, "tiny", "gender", min_group_raters=2),
        "score_distribution": lambda: function.uncached(store, "tiny", "country"),
        "percent_differences": lambda: function.uncached(store, "tiny", "gender", "woman"),
        "alpha_by_group": lambda: function.uncached(store, "tiny", "gender"),
        "disagreement_decomposition": lambda: function.uncached(store, "tiny", "gender"),
    }[name]()
    pd.testing.assert_frame_equal(first, uncached)
    pd.testing.assert_frame_equal(second, uncached)


def test_a_caller_changing_its_frame_does_not_change_the_cache(store: Store) -> None:
    store.write_dataset(tiny_bundle("tiny", n_raters=24))
    first = analysis.group_means(store, "tiny", "gender")
    first["mean"] = -1.0
    assert (analysis.group_means(store, "tiny", "gender")["mean"] > 0).all()


def test_filters_are_part_of_the_key(store: Store) -> None:
    store.write_dataset(tiny_bundle("tiny", n_raters=24))
    everyone = analysis.group_means(store, "tiny", "country", min_group_raters=1)
    women = analysis.group_means(
        store,
        "tiny",
        "country",
        filter=AnalysisFilter(RaterSelection({"gender": ("woman",)})),
        min_group_raters=1,
    )
    assert women.n_raters.sum() < everyone.n_raters.sum()


def test_a_replaced_dataset_is_never_answered_from_its_old_rows(store: Store) -> None:
    """New ratings change the fingerprint; the same ratings with other demographics change only the write
    time: both must be seen."""
    store.write_dataset(tiny_bundle("tiny", n_raters=24, seed=0))
    before = analysis.group_means(store, "tiny", "gender", min_group_raters=1)

    store.write_dataset(tiny_bundle("tiny", n_raters=24, seed=1), replace=True)
    after = analysis.group_means(store, "tiny", "gender", min_group_raters=1)
    fresh = analysis.group_means.uncached(store, "tiny", "gender", min_group_raters=1)
    pd.testing.assert_frame_equal(after, fresh)
    assert not after["mean"].equals(before["mean"])

    bundle = tiny_bundle("tiny", n_raters=24, seed=1)
    flipped = {"woman": "man", "man": "woman"}
    demographics = bundle.rater_attributes.assign(
        value=bundle.rater_attributes.value.map(lambda v: flipped.get(v, v))
    )
    store.write_dataset(dataclasses.replace(bundle, rater_attributes=demographics), replace=True)
    relabelled = analysis.group_means(store, "tiny", "gender", min_group_raters=1)
    pd.testing.assert_frame_equal(
        relabelled, analysis.group_means.uncached(store, "tiny", "gender", min_group_raters=1)
    )
    assert set(relabelled.group) == {"woman", "man"}
    mean_of = {g: m for g, m in zip(after.group + after.dimension, after["mean"], strict=True)}
    swapped = {g: m for g, m in zip(relabelled.group + relabelled.dimension, relabelled["mean"], strict=True)}
    assert mean_of != swapped


def test_concurrent_callers_share_one_computation(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.write_dataset(tiny_bundle("tiny", n_raters=24))
    started, release, runs = threading.Event(), threading.Event(), []
    original = analysis.alpha_by_group.uncached

    def slow(*args, **kwargs):
        runs.append(1)
        started.set()
        release.wait(10)
        return original(*args, **kwargs)

    cached = result_cache.cached_by_dataset(slow)
    results: list[pd.DataFrame] = []
    threads = [
        threading.Thread(target=lambda: results.append(cached(store, "tiny", "gender"))) for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    started.wait(10)
    release.set()
    for thread in threads:
        thread.join(10)
    assert len(runs) == 1 and len(results) == 6
    for result in results:
        pd.testing.assert_frame_equal(result, results[0])
