"""Columns of an imported ratings file held as codes into their distinct values (dictionary encoding).

Ratings files repeat themselves: a million rows hold a few hundred prompts and answers, a few thousand
raters and a handful of demographic answers. Held as Python objects, one row costs tens of bytes per
column and the checks build several such columns, so a 5 MB Parquet file grew by about 1 GB while being
imported. A :class:`Coded` column keeps one small integer per row (``int8`` … ``int32``, ``-1`` for a
missing cell) and each distinct value once; cleaning, id hashing and label parsing then run once per
distinct value (:meth:`Coded.map`, :func:`combine`), and the checks compare codes.

Invariant: every value in :attr:`Coded.values` occurs in at least one row, in order of first occurrence,
so "distinct values in row order" is simply ``values``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

MISSING = -1
#: Rows indexed at a time by :func:`lookup` and :func:`first_rows`. NumPy converts a fancy index to 64-bit
#: integers first, so ``table[codes]`` over a million one-byte codes allocated 8 MB besides its result;
#: a chunk at a time it allocates half a megabyte.
ROW_CHUNK = 65_536


def lookup(table: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``table[codes]`` (a code of -1 takes the last entry), :data:`ROW_CHUNK` rows at a time."""
    if len(codes) <= ROW_CHUNK:
        return table[codes]
    result = np.empty(len(codes), dtype=table.dtype)
    for start in range(0, len(codes), ROW_CHUNK):
        result[start : start + ROW_CHUNK] = table[codes[start : start + ROW_CHUNK]]
    return result


def narrow(codes: np.ndarray, count: int) -> np.ndarray:
    """``codes`` in the smallest signed integer type that holds ``count`` distinct values and ``-1``."""
    for dtype in (np.int8, np.int16, np.int32):
        if count < np.iinfo(dtype).max:
            return codes.astype(dtype, copy=False)
    return codes.astype(np.int64, copy=False)


def _intern(results: Iterable[object]) -> tuple[np.ndarray, list[object]]:
    """Positions of ``results`` in their distinct non-missing values (``-1`` for None), and the values."""
    index: dict[object, int] = {}
    values: list[object] = []
    positions = []
    for value in results:
        if value is None:
            positions.append(MISSING)
            continue
        position = index.get(value)
        if position is None:
            position = index[value] = len(values)
            values.append(value)
        positions.append(position)
    return np.asarray(positions, dtype=np.int64), values


def _object_array(values: list[object]) -> np.ndarray:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


@dataclass
class Coded:
    """One column: ``values[codes[i]]`` is row ``i``'s cell, ``codes[i] == -1`` a missing one."""

    codes: np.ndarray
    values: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))

    def __len__(self) -> int:
        return len(self.codes)

    @classmethod
    def constant(cls, value: object, rows: int) -> Coded:
        if value is None:
            return cls(np.full(rows, MISSING, dtype=np.int8))
        return cls(np.zeros(rows, dtype=np.int8), _object_array([value] if rows else []))

    def isna(self) -> np.ndarray:
        return self.codes < 0

    def notna(self) -> np.ndarray:
        return self.codes >= 0

    def cells(self, positions: np.ndarray | None = None) -> np.ndarray:
        """The cells (object array, None where missing) of all rows or of the rows at ``positions``."""
        codes = self.codes if positions is None else self.codes[positions]
        extended = np.append(self.values, np.array([None], dtype=object))
        return lookup(extended, codes)

    def map(self, function: Callable[[object], object]) -> Coded:
        """``function`` applied to every distinct value (and to None for missing cells), re-encoded."""
        inputs = list(self.values)
        has_missing = bool((self.codes < 0).any())
        if has_missing:
            inputs.append(None)
        positions, values = _intern(function(v) for v in inputs)
        if not has_missing:
            positions = np.append(positions, MISSING)
        remap = narrow(positions, len(values))
        return Coded(lookup(remap, self.codes), _object_array(values))

    def mask(self, predicate: Callable[[object], bool]) -> np.ndarray:
        """Rows whose value satisfies ``predicate`` (evaluated once per distinct value; missing: False)."""
        hits = np.array([bool(predicate(v)) for v in self.values] + [False], dtype=bool)
        return lookup(hits, self.codes)

    def where(self, keep: np.ndarray) -> Coded:
        """Cells where ``keep``, missing elsewhere (values no longer used are dropped)."""
        return Coded.from_codes(np.where(keep, self.codes, MISSING), self.values)

    @classmethod
    def from_codes(cls, codes: np.ndarray, values: np.ndarray) -> Coded:
        """A column from codes into ``values`` that may leave some unused or out of first-use order."""
        first = first_rows(codes, len(values))
        used = np.flatnonzero(first < len(codes))
        order = used[np.argsort(first[used], kind="stable")]
        remap = np.full(len(values) + 1, MISSING, dtype=np.int64)
        remap[order] = np.arange(len(order))
        return cls(narrow(lookup(remap, codes), len(order)), values[order])

    def take(self, positions: np.ndarray | None) -> Coded:
        """The rows at ``positions`` (all rows, uncopied, for None)."""
        return self if positions is None else Coded.from_codes(self.codes[positions], self.values)


def first_rows(codes: np.ndarray, count: int) -> np.ndarray:
    """For each of ``count`` codes, the position of its first row (``len(codes)`` when it has none).

    A scatter-minimum over the rows, :data:`ROW_CHUNK` rows at a time: no sort and no hash table,
    so it costs a few small arrays whatever the column's length.
    """
    first = np.full(count + 1, len(codes), dtype=np.int64)  # the last slot collects missing cells (-1)
    for start in range(0, len(codes), ROW_CHUNK):
        part = codes[start : start + ROW_CHUNK]
        np.minimum.at(first, part, np.arange(start, start + len(part), dtype=np.int64))
    return first[:count]


def combine(first: Coded, second: Coded, function: Callable[[object, object], object]) -> Coded:
    """``function(a, b)`` over the pairs of cells that occur together, once per distinct pair."""
    width = len(second.values) + 1
    pairs = (len(first.values) + 1) * width
    if pairs <= max(4 * len(first), 1024):
        dtype = np.int32 if pairs < 2**31 else np.int64
        keys = (first.codes.astype(dtype) + 1) * width + (second.codes.astype(dtype) + 1)
        starts = first_rows(keys, pairs)
        seen = np.flatnonzero(starts < len(keys))
        seen = seen[np.argsort(starts[seen], kind="stable")]
        positions, values = _intern(
            function(a, b) for a, b in zip(first.cells(starts[seen]), second.cells(starts[seen]), strict=True)
        )
        result = np.full(pairs, MISSING, dtype=np.int64)
        result[seen] = positions
        return Coded(lookup(narrow(result, len(values)), keys), _object_array(values))
    keys = (first.codes.astype(np.int64) + 1) * width + (second.codes.astype(np.int64) + 1)
    pair_codes, _ = pd.factorize(keys)
    del keys
    _, starts = np.unique(pair_codes, return_index=True)
    a, b = first.cells(starts), second.cells(starts)
    positions, values = _intern(function(x, y) for x, y in zip(a, b, strict=True))
    return Coded(narrow(positions, len(values))[pair_codes], _object_array(values))


def first_positions(column: Coded) -> np.ndarray:
    """Positions of the first row of each distinct value, in row order."""
    return np.sort(first_rows(column.codes, len(column.values)))


def key_codes(*columns: Coded) -> np.ndarray:
    """One number per row for the combination of ``columns`` (rows must have no missing cell): 32-bit
    when every combination fits, else 64-bit."""
    combinations = int(np.prod([max(len(column.values), 1) for column in columns], dtype=object))
    key = np.zeros(len(columns[0]), dtype=np.int32 if combinations < 2**31 else np.int64)
    for column in columns:
        key *= max(len(column.values), 1)
        key += column.codes
    return key


class ColumnBuilder:
    """Builds a :class:`Coded` column from batches of raw cells, holding only codes between batches.

    ``prepare`` turns a batch's cells into hashable ones when they are not (list cells from Parquet or
    JSON), and is applied before the distinct values are looked up. With ``rows`` (the column's length,
    known from a Parquet footer) the codes are written into one array of that length, widened only when
    the distinct values outgrow its type, instead of into a list of per-batch arrays joined at the end:
    the join held the column twice, and thousands of small arrays kept alive between the batches'
    short-lived ones left the heap fragmented.
    """

    def __init__(self, prepare: Callable[[object], object] | None = None, rows: int | None = None) -> None:
        self.prepare = prepare
        self.index: dict[Hashable, int] = {}
        self.values: list[object] = []
        self.chunks: list[np.ndarray] = []
        self.codes: np.ndarray | None = None if rows is None else np.empty(rows, dtype=np.int8)
        self.filled = 0

    def add(self, cells: pd.Series) -> None:
        try:
            codes, uniques = pd.factorize(cells, use_na_sentinel=True)
        except TypeError:  # unhashable cells (lists, arrays)
            if self.prepare is None:
                raise
            codes, uniques = pd.factorize(cells.map(self.prepare).astype(object), use_na_sentinel=True)
        lookup = np.empty(len(uniques) + 1, dtype=np.int64)
        lookup[-1] = MISSING
        for position, value in enumerate(uniques):
            value = value.item() if isinstance(value, np.generic) else value
            code = self.index.get(value)
            if code is None:
                code = self.index[value] = len(self.values)
                self.values.append(value)
            lookup[position] = code
        batch = narrow(lookup, max(len(self.values), 1))[codes]
        if self.codes is None or self.filled + len(batch) > len(self.codes):
            self._spill()
            self.chunks.append(batch)
            return
        if batch.dtype.itemsize > self.codes.dtype.itemsize:
            self.codes = self.codes.astype(batch.dtype)
        self.codes[self.filled : self.filled + len(batch)] = batch
        self.filled += len(batch)

    def _spill(self) -> None:
        """More rows than announced: go on with a list of arrays, the rows written so far first."""
        if self.codes is not None:
            self.chunks.append(self.codes[: self.filled])
            self.codes = None

    def build(self) -> Coded:
        count = len(self.values)
        if self.codes is not None:
            codes, self.codes = self.codes[: self.filled], None
            return Coded(narrow(codes, count), _object_array(self.values))
        codes = (
            np.concatenate([narrow(c, count) for c in self.chunks]) if self.chunks else np.empty(0, np.int8)
        )
        self.chunks = []
        return Coded(narrow(codes, count), _object_array(self.values))


@dataclass
class CodedTable:
    """An imported file as coded columns, with the spreadsheet row number of every data row."""

    columns: dict[str, Coded]
    rows: np.ndarray
    file: str
    text_only: bool = False
    encoding: str | None = None

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        rows: Iterable[int],
        file: str,
        *,
        text_only: bool,
        encoding: str | None,
        prepare: Callable[[object], object],
    ) -> CodedTable:
        """Code a whole frame (as :func:`~pluralign_core.ratings.reading.read_table` gives it)."""
        columns = {}
        for name in frame.columns:
            builder = ColumnBuilder(prepare)
            builder.add(frame[name])
            columns[str(name)] = builder.build()
        return cls(columns, np.asarray(list(rows), dtype=np.int64), file, text_only, encoding)


def report_rows(
    problems,
    kind: str,
    mask: np.ndarray,
    message: Callable[[int], str],
    rows: np.ndarray,
    *,
    column: str | Callable[[int], str | None] | None = None,
    severity: str = "error",
) -> None:
    """One problem per row in ``mask`` (row order); messages are built only for the rows listed."""
    positions = np.flatnonzero(mask)
    if not len(positions):
        return
    listed = problems.errors if severity == "error" else problems.warnings
    room = max(problems.limit - len(listed), 0)
    for position in positions[:room]:
        where = column(position) if callable(column) else column
        problems.add(kind, message(position), row=int(rows[position]), column=where, severity=severity)
    rest = len(positions) - min(len(positions), room)
    if severity == "error":
        problems.error_count += rest
    else:
        problems.warning_count += rest
