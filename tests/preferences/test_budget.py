"""A short run's seeded one-pass sample of its pairs."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pluralign_core.preferences.budget import one_pass


@dataclass
class _Result:
    """The two fields of a PreferenceResult that the sample reads and replaces."""

    pairs: pd.DataFrame
    stats: dict


def _replaceable(n: int) -> _Result:
    return _Result(pd.DataFrame({"pair": [f"p{i}" for i in range(n)], "weight": range(n)}), {"pairs": n})


def test_a_set_no_larger_than_the_budget_is_kept_whole():
    result = _replaceable(5)
    assert one_pass(result, 5, 0) is result and one_pass(result, 0, 0) is result


def test_a_larger_set_is_sampled_to_the_budget_in_order_and_by_seed():
    result = _replaceable(50)
    first = one_pass(result, 8, seed=1)
    assert len(first.pairs) == 8 and first.stats == {"pairs": 50, "pairs_built": 50, "pairs_used": 8}
    kept = [int(p[1:]) for p in first.pairs.pair]
    assert kept == sorted(kept) and set(first.pairs.pair) <= set(result.pairs.pair)
    assert list(first.pairs.index) == list(range(8))
    assert first.pairs.equals(one_pass(result, 8, seed=1).pairs)
    assert not first.pairs.equals(one_pass(result, 8, seed=2).pairs)
    assert len(result.pairs) == 50  # the original is untouched
