"""Coded columns built batch by batch into one preallocated array, and chunked lookups (issue 17).

The import's memory fixes must not change a single code: each is checked against the plain whole-column
computation it replaces, with chunks and batches made tiny so every boundary is crossed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pluralign_core.ratings import coded
from pluralign_core.ratings.coded import ColumnBuilder, first_rows, key_codes, lookup


def _cells(rows: int, distinct: int, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    cells = np.char.add("value-", rng.integers(0, distinct, rows).astype(str)).astype(object)
    cells[rng.random(rows) < 0.05] = None
    return pd.Series(cells, dtype=object)


@pytest.mark.parametrize("distinct", [3, 200, 40_000])
@pytest.mark.parametrize("announced", [None, "exact", "too few"])
def test_a_column_built_in_batches_equals_the_whole_column_coded(distinct: int, announced: str | None):
    cells = _cells(60_000, distinct)
    rows = {None: None, "exact": len(cells), "too few": len(cells) // 2}[announced]
    builder = ColumnBuilder(rows=rows)
    for start in range(0, len(cells), 997):
        builder.add(cells.iloc[start : start + 997])
    column = builder.build()
    codes, uniques = pd.factorize(cells, use_na_sentinel=True)
    assert list(column.values) == list(uniques)
    np.testing.assert_array_equal(column.codes, codes)
    assert column.codes.dtype == coded.narrow(codes, len(uniques)).dtype  # as narrow as before


def test_chunked_lookup_and_first_rows_equal_the_whole_array_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(coded, "ROW_CHUNK", 7)
    rng = np.random.default_rng(1)
    codes = rng.integers(-1, 50, 1_000).astype(np.int16)
    table = rng.integers(0, 100, 51).astype(np.int8)
    np.testing.assert_array_equal(lookup(table, codes), table[codes])
    expected = np.array(
        [np.flatnonzero(codes == c)[0] if (codes == c).any() else len(codes) for c in range(60)]
    )
    np.testing.assert_array_equal(first_rows(codes, 60), expected)


def test_key_codes_are_distinct_per_combination_and_32_bit_when_they_fit() -> None:
    rng = np.random.default_rng(2)
    columns = [
        coded.Coded(rng.integers(0, n, 5_000).astype(np.int16), np.arange(n).astype(object))
        for n in (40, 30, 4)
    ]
    key = key_codes(*columns)
    assert key.dtype == np.int32
    pairs = pd.DataFrame({i: c.codes for i, c in enumerate(columns)})
    assert len(np.unique(key)) == len(pairs.drop_duplicates())
    wide = [coded.Coded(np.zeros(3, np.int32), np.arange(70_000).astype(object))] * 2
    assert key_codes(*wide).dtype == np.int64
