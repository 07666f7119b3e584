"""The store's check for a rating given twice sorts integer keys instead of grouping text (issue 17)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pluralign_core.store.ratings_order import repeated_ratings


def _ratings(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "rater_id": [f"r{v}" for v in rng.integers(0, 30, rows)],
            "response_id": [f"item-{v}" for v in rng.integers(0, 20, rows)],
            "dimension": rng.choice(["toxicity", "helpfulness"], rows),
            "score": rng.integers(1, 6, rows),
        }
    )
    frame.loc[rng.random(rows) < 0.05, "rater_id"] = None
    return frame


@pytest.mark.parametrize("categorical", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_repeated_ratings_agrees_with_pandas(seed: int, categorical: bool) -> None:
    frame = _ratings(40 + 60 * (seed % 3), seed)
    if seed % 2:
        frame = frame.drop_duplicates(["rater_id", "response_id", "dimension"])
    expected = bool(frame.duplicated(["rater_id", "response_id", "dimension"]).any())
    if categorical:
        frame = frame.astype({c: "category" for c in ("rater_id", "response_id", "dimension")})
    assert repeated_ratings(frame) is expected
