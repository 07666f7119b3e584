"""Judgement counts from value histograms against every (rater of A, rater of B) judgement, one by one."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pluralign_core.preferences.pairwise import judgement_counts

# one histogram row per (prompt, response, value): prompt code, response code, value, weight
rows_strategy = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.integers(0, 3),
        st.sampled_from([-2.0, -1.0, -0.5, 0.0, 0.333333333, 1.0, 2.0]),
        st.one_of(st.just(1.0), st.floats(0.01, 5.0)),
    ),
    max_size=40,
)


def _histogram(rows: list[tuple[int, int, float, float]]) -> tuple[np.ndarray, ...]:
    """Rows sorted by (response, value), one per distinct value; a response belongs to one prompt."""
    merged: dict[tuple[int, float], float] = {}
    for prompt, local, value, weight in rows:
        response = prompt * 10 + local
        merged[(response, value)] = merged.get((response, value), 0.0) + weight
    keys = sorted(merged)
    response = np.array([r for r, _ in keys], dtype=np.int64)
    return (
        response // 10,
        response,
        np.array([v for _, v in keys], dtype=float),
        np.array([merged[k] for k in keys], dtype=float),
    )


def reference(prompt, response, value, weight) -> dict[tuple[int, int], tuple[float, float, float]]:
    by_response: dict[int, list[tuple[float, float]]] = {}
    prompt_of = {}
    for p, r, v, w in zip(prompt, response, value, weight, strict=True):
        by_response.setdefault(int(r), []).append((v, w))
        prompt_of[int(r)] = int(p)
    out = {}
    for a, b in itertools.combinations(sorted(by_response), 2):
        if prompt_of[a] != prompt_of[b]:
            continue
        judged = [(wa * wb, va, vb) for va, wa in by_response[a] for vb, wb in by_response[b]]
        out[(a, b)] = (
            sum(w for w, x, y in judged if x > y),
            sum(w for w, x, y in judged if x < y),
            sum(w for w, _, _ in judged),
        )
    return out


@settings(max_examples=200, deadline=None)
@given(rows=rows_strategy)
def test_counts_equal_every_judgement_one_by_one(rows):
    hist = _histogram(rows)
    counts = judgement_counts(*hist)
    columns = [counts[name] for name in ("rc_a", "rc_b", "a_over_b", "b_over_a", "total")]
    got = {(int(a), int(b)): (x, y, t) for a, b, x, y, t in zip(*columns, strict=True)}
    expected = reference(*hist)
    assert got.keys() == expected.keys()
    for key, values in expected.items():
        assert np.allclose(got[key], values, rtol=1e-12, atol=0), key


def test_unit_weights_give_whole_counts():
    rows = [(0, 0, 1.0, 2.0), (0, 0, 0.0, 1.0), (0, 1, 1.0, 1.0), (0, 1, -1.0, 3.0), (1, 0, 0.0, 1.0)]
    hist = _histogram(rows)
    counts = judgement_counts(*hist)
    assert list(counts["rc_a"]) == [0] and list(counts["rc_b"]) == [1]
    # A: value 1 (x2), value 0 (x1); B: value 1 (x1), value -1 (x3)
    assert (counts["a_over_b"][0], counts["b_over_a"][0], counts["total"][0]) == (2 * 3 + 1 * 3, 1, 12)
