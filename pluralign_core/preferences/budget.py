"""A short run's worth of pairs: a seeded sample the run reads exactly once.

Why: a run of a few optimizer steps reads ``max_steps × batch`` pairs. Given a larger set, the trainer would
read an arbitrary slice of it, and every step before the first (tokenizing, trl's precomputed reference
log-probabilities) would still be paid for *all* the pairs: the demo's 471 liberal pairs cost a 180 s
reference pass for a run that reads 96. A seeded random subset of the run's size means the run sees each kept
pair once, the seed varies which pairs as well as the initialisation, and nothing is computed for pairs no
step reads. The set's statistics keep describing all the pairs and say how many were kept.
"""

from __future__ import annotations

import dataclasses
from typing import Any


def one_pass(result: Any, capacity: int, seed: int) -> Any:
    """``result`` (a :class:`~pluralign_core.preferences.build.PreferenceResult`) with at most ``capacity``
    of its pairs, drawn with ``seed`` and kept in their original order; unchanged when it has no more."""
    pairs = result.pairs
    if capacity <= 0 or len(pairs) <= capacity:
        return result
    kept = pairs.sample(n=capacity, random_state=seed).sort_index()
    stats = {**result.stats, "pairs_built": len(pairs), "pairs_used": capacity}
    return dataclasses.replace(result, pairs=kept.reset_index(drop=True), stats=stats)
