"""Weighted judgement counts of every response pair of a prompt, from the responses' value histograms.

For responses A and B of one prompt, with ``W_B(< v)`` the weight of B's raters whose value is below
``v``: ``a_over_b = Σ_a w_a · W_B(< v_a)``, ``b_over_a = Σ_a w_a · W_B(> v_a)`` and ``total = Σ_a w_a ·
W_B``, the sums over A's distinct values. These equal the sums over every (rater of A, rater of B)
judgement that :mod:`pluralign_core.preferences.build` defines; each A value looks up B's cumulative
weights once (a binary search) instead of meeting each of B's values in a join, so the work grows with
pairs x A's values, not pairs x A's values x B's values. Without a jury every weight is 1 and the counts
are the same whole numbers; with one, they agree to float rounding.
"""

from __future__ import annotations

import numpy as np


def _ramp(lengths: np.ndarray) -> np.ndarray:
    """``0, 1, …, n - 1`` for each ``n`` in ``lengths``, concatenated."""
    total = int(lengths.sum())
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(total) - starts


def _segment_cumsum(w: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Inclusive running sums of ``w`` within segments (``position``: index within its segment).

    A doubling scan (log₂ of the longest segment passes): no subtraction of one running total from
    another, so a sum is as exact as the weights allow.
    """
    out = w.astype(float).copy()
    step = 1
    longest = int(position.max()) + 1 if len(position) else 0
    while step < longest:
        reach = position >= step
        shifted = np.zeros_like(out)
        shifted[reach] = out[np.flatnonzero(reach) - step]
        out = out + shifted
        step *= 2
    return out


def judgement_counts(
    prompt: np.ndarray, response: np.ndarray, value: np.ndarray, weight: np.ndarray
) -> dict[str, np.ndarray]:
    """Counts per response pair ``rc_a < rc_b`` of one prompt from histogram rows sorted by (response,
    value), one row per distinct value of a response: ``rc_a, rc_b, a_over_b, b_over_a, total``."""
    n = len(response)
    starts = np.flatnonzero(np.r_[True, response[1:] != response[:-1]]) if n else np.zeros(0, int)
    lengths = np.diff(np.r_[starts, n])
    segment = np.repeat(np.arange(len(starts)), lengths)
    position = _ramp(lengths)
    below_incl = _segment_cumsum(weight, position)
    above_incl = _segment_cumsum(weight[::-1], _ramp(lengths[::-1]))[::-1]
    seg_total = below_incl[starts + lengths - 1] if n else np.zeros(0)
    # pairs: the responses of each prompt in response order, each with the later ones
    order = np.lexsort((response[starts], prompt[starts]))
    seg_prompt = prompt[starts][order]
    group_end = np.searchsorted(seg_prompt, seg_prompt, side="right")
    later = group_end - np.arange(len(order)) - 1
    first = np.repeat(np.arange(len(order)), later)
    a, b = order[first], order[first + 1 + _ramp(later)]
    # every value of A against B's cumulative weights
    entry = np.repeat(starts[a], lengths[a]) + _ramp(lengths[a])
    pair = np.repeat(np.arange(len(a)), lengths[a])
    partner = np.repeat(b, lengths[a])
    ranks, rank = np.unique(value, return_inverse=True)
    key = segment.astype(np.int64) * len(ranks) + rank
    query = partner.astype(np.int64) * len(ranks) + rank[entry]
    j = np.searchsorted(key, query, side="left")
    end = starts[partner] + lengths[partner]
    inside = j < end
    at = np.minimum(j, n - 1)
    equal = inside & (key[at] == query)
    before = j - 1
    below = np.where(before >= starts[partner], below_incl[np.maximum(before, 0)], 0.0)
    after = np.where(equal, j + 1, j)
    above = np.where(after < end, above_incl[np.minimum(after, n - 1)], 0.0)
    w_a = weight[entry]
    pairs = len(a)
    return {
        "rc_a": response[starts][a],
        "rc_b": response[starts][b],
        "a_over_b": np.bincount(pair, w_a * below, minlength=pairs),
        "b_over_a": np.bincount(pair, w_a * above, minlength=pairs),
        "total": np.bincount(pair, w_a * seg_total[partner], minlength=pairs),
    }
