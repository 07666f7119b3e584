"""The distinct values of one column over a whole ratings file, for the import wizard's value lists.

The wizard reads only the file's head (:mod:`~pluralign_core.ratings.head_reading`), but a value can
first appear further down: the dimensions of a long file sorted by dimension, an education level that
only late raters give. Listing one column's values must not cost an import, so only that column is read:
Parquet decodes that column alone, a batch at a time; CSV is parsed in chunks that keep that column
alone (``usecols``); JSON Lines and dataset folders are read as the import reads them (their records are
objects anyway). Only distinct values are kept, and at most ``max_values`` of them: a column with more is
no list a person orders by hand, so it is refused with a message instead of growing with the file.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from pluralign_core.ratings.batched_reading import (
    CODED_BATCH_ROWS,
    _is_utf8,
    coded_table,
    csv_chunks,
    csv_header,
    open_checked_parquet,
    read_coded,
)
from pluralign_core.ratings.cells import prepare_cell
from pluralign_core.ratings.coded import CodedTable
from pluralign_core.ratings.file_dispatch import FormatReaders, read_with
from pluralign_core.ratings.parquet_file import ParquetRefused, record_batches
from pluralign_core.ratings.reading import (
    ImportLimits,
    Problems,
    Upload,
    _decode,
    _read_jsonl,
    _report_csv_rows,
    open_upload,
)

#: Distinct values listed at most; above it the column is refused (``too_many_values``).
MAX_VALUES = 1000


class _TooMany(Exception):
    pass


class _Distinct:
    """The distinct non-empty values of batches of cells, as stripped text, at most ``limit`` of them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.values: set[str] = set()

    def add(self, cells: pd.Series) -> None:
        try:
            _, uniques = pd.factorize(cells, use_na_sentinel=True)
        except TypeError:  # unhashable cells (lists from Parquet or JSON)
            _, uniques = pd.factorize(cells.map(prepare_cell).astype(object), use_na_sentinel=True)
        for value in uniques:
            text = str(value.item() if isinstance(value, np.generic) else value).strip()
            if text:
                self.values.add(text)
        if len(self.values) > self.limit:
            raise _TooMany

    def add_coded(self, table: CodedTable | None, column: str) -> list[str] | None:
        if table is None or column not in table.columns:
            return None
        coded = table.columns[column]
        used = np.unique(coded.codes[coded.codes >= 0])
        self.add(pd.Series(coded.values[used], dtype=object))
        return sorted(self.values)


def column_values(
    source: str | Path | Upload,
    column: str,
    problems: Problems,
    limits: ImportLimits | None = None,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    max_values: int = MAX_VALUES,
) -> list[str] | None:
    """Every distinct non-empty value of ``column`` over the whole file, stripped and sorted.

    None when the file cannot be read, has no such column, or the column has more than ``max_values``
    distinct values (``too_many_values`` in ``problems``, with what to do).
    """
    limits = limits or ImportLimits()
    distinct = _Distinct(max_values)
    readers = FormatReaders(
        open=lambda opened: open_upload(opened, problems, limits),
        decode=lambda data, picked: _decode(data, problems, picked),
        folder=lambda folder: distinct.add_coded(read_coded(folder, problems, limits), column),
        parquet=lambda data, name: _parquet(data, column, distinct, problems, limits),
        csv=lambda text, used, name: _csv(text, used, column, distinct, problems, delimiter),
        jsonl=lambda text, used, name: _jsonl(text, name, column, distinct, problems),
        checked=lambda values: values,
        utf8_csv=lambda data, name: _csv(data, "utf-8", column, distinct, problems, delimiter),
        utf8=_is_utf8,
    )
    try:
        return read_with(source, readers, encoding=encoding)
    except _TooMany:
        problems.add(
            "too_many_values",
            f"the column {column!r} has more than {max_values:,} different values, too many to list or "
            "order by hand; if it is an ordinal attribute, check that the right column is mapped",
            column=column,
        )
        return None


def _jsonl(text: str, name: str, column: str, distinct: _Distinct, problems: Problems) -> list[str] | None:
    table = _read_jsonl(text, name, problems)
    return distinct.add_coded(None if table is None else coded_table(table), column)


def _parquet(
    data: bytes, column: str, distinct: _Distinct, problems: Problems, limits: ImportLimits
) -> list[str] | None:
    try:
        parquet = open_checked_parquet(data, problems, limits)
        if parquet is None:
            return None
        names = [str(c) for c in parquet.schema_arrow.names]
        stripped = [name.strip() for name in names]
        if column not in stripped:
            return None
        chosen = [names[stripped.index(column)]]
        for batch in record_batches(parquet, CODED_BATCH_ROWS, use_threads=False, columns=chosen):
            distinct.add(batch.column(0).to_pandas())
    except ParquetRefused as refusal:
        problems.add(refusal.kind, str(refusal))
        return None
    return sorted(distinct.values)


def _csv(
    data: bytes | str,
    encoding: str,
    column: str,
    distinct: _Distinct,
    problems: Problems,
    delimiter: str | None,
) -> list[str] | None:
    """One CSV column from UTF-8 bytes or decoded text, :data:`CODED_BATCH_ROWS` rows at a time."""
    opened = csv_header(data, encoding, delimiter, problems)
    if opened is None:
        return None
    as_text, delimiter, header = opened
    stripped = [name.strip() for name in header]
    if column not in stripped:
        return None
    try:
        with csv_chunks(data, encoding, delimiter, usecols=[stripped.index(column)]) as reader:
            for chunk in reader:
                distinct.add(chunk.iloc[:, 0])
    except (pd.errors.ParserError, csv.Error, ValueError):
        _report_csv_rows(as_text(data), delimiter, len(header), problems)
        return None
    return sorted(distinct.values)
