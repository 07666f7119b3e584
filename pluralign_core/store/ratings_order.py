"""Appending a dataset's ratings to the store: in which order, and how many at a time.

Ratings are stored clustered by dimension, then rater (what ``ORDER BY dimension, rater_id`` gives):
analyses read one dimension at a time, and DuckDB's per-row-group min/max statistics then skip the other
dimensions' rows (about 4/5 of the table). The order is computed here on the frame's codes instead of by
DuckDB, so that the rows can be appended one row group at a time rather than sorted and held whole.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pluralign_core.ratings.coded import lookup, narrow

#: Ratings appended per INSERT: one DuckDB row group, so each is compressed and written out as it comes
#: instead of the whole table being sorted and held in memory until the commit.
INSERT_ROWS = 122_880


def sort_ranks(column: pd.Series) -> np.ndarray:
    """Each cell's rank in the column's text order (DuckDB's VARCHAR order: by code point)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        labels = np.asarray(column.cat.categories, dtype=object).astype(str)
        ranks = np.argsort(np.argsort(labels, kind="stable"), kind="stable")
        return lookup(narrow(np.append(ranks, len(ranks)), len(ranks) + 1), column.cat.codes.to_numpy())
    codes, _ = pd.factorize(column.astype(object).map(lambda v: None if v is None else str(v)), sort=True)
    return np.where(codes < 0, codes.max(initial=-1) + 1, codes)


def _key_part(column: pd.Series) -> tuple[np.ndarray, int]:
    """The column's cells as codes from 0 (missing cells share one) and how many codes there can be."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy(), len(column.cat.categories) + 1
    codes, uniques = pd.factorize(column.astype(object).map(lambda v: None if v is None else str(v)))
    return codes, len(uniques) + 1


def repeated_ratings(ratings: pd.DataFrame) -> bool:
    """Whether a rater rated the same response on the same dimension more than once (missing ids alike).

    Sorts one integer per rating made from the columns' category codes. A ``GROUP BY`` in DuckDB needed a
    hash table of a million text keys, the largest memory use of a whole import (issue 17).
    """
    parts = [_key_part(ratings[name]) for name in ("rater_id", "response_id", "dimension")]
    combinations = int(np.prod([width for _, width in parts], dtype=object))
    if combinations >= 2**63:
        return bool(pd.DataFrame({i: codes for i, (codes, _) in enumerate(parts)}).duplicated().any())
    key = np.zeros(len(ratings), dtype=np.int32 if combinations < 2**31 else np.int64)
    for codes, width in parts:
        key *= width
        key += codes
        key += 1
    key.sort()
    return bool((key[1:] == key[:-1]).any())


def clustered_order(ratings: pd.DataFrame) -> np.ndarray:
    """Row positions by dimension, then rater (ties keep their order).

    One stable sort of a combined integer key: ``np.lexsort`` over the two rank columns held several
    64-bit copies of them at once."""
    rater, dimension = sort_ranks(ratings["rater_id"]), sort_ranks(ratings["dimension"])
    width = int(rater.max(initial=0)) + 1
    wide = (int(dimension.max(initial=0)) + 1) * width >= 2**31
    key = dimension.astype(np.int64 if wide else np.int32)
    key *= width
    key += rater
    del rater, dimension
    return np.argsort(key, kind="stable")


def append_ratings(con: Any, ratings: pd.DataFrame, dataset_id: str) -> None:
    """Insert ``ratings`` (``rater_id, response_id, dimension, score``) in the clustered order, one row
    group per INSERT, inside the caller's transaction."""
    order = clustered_order(ratings)
    for start in range(0, len(order), INSERT_ROWS):
        con.register("_ratings_batch", _as_arrow(ratings.iloc[order[start : start + INSERT_ROWS]]))
        con.execute(
            "INSERT INTO ratings SELECT ?, CAST(rater_id AS VARCHAR), CAST(response_id AS VARCHAR), "
            "CAST(dimension AS VARCHAR), CAST(score AS SMALLINT) FROM _ratings_batch",
            [dataset_id],
        )
        con.unregister("_ratings_batch")


def _as_arrow(batch: pd.DataFrame) -> Any:
    """The batch as an Arrow table (category columns as dictionary arrays), which DuckDB scans with about
    half the memory a pandas frame of category columns takes; the frame itself when Arrow cannot hold a
    column (mixed Python types)."""
    import pyarrow as pa

    try:
        return pa.Table.from_pandas(batch, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return batch
