"""The first rows of a ratings file, for the import wizard's preview and mapping guess.

The wizard shows 20 rows and guesses the mapping from the column names and values; reading the whole
file into a DataFrame for that cost a multiple of the file's size in the one server process every
session shares, and then the check and the import read it again anyway. :func:`read_head` goes through
the same dispatcher as the whole-file readers (:mod:`pluralign_core.ratings.file_dispatch`: same size
checks, same encoding detection, same messages) but parses only the first ``rows`` records: Parquet one
record batch after the footer checks, CSV with ``nrows``, JSON Lines the first lines. The rows it gives
are exactly the first rows :func:`~pluralign_core.ratings.reading.read_table` gives for the same file.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pluralign_core.ratings.batched_reading import _head, open_checked_parquet
from pluralign_core.ratings.file_dispatch import FormatReaders, read_with
from pluralign_core.ratings.parquet_file import ParquetRefused, record_batches
from pluralign_core.ratings.reading import (
    ImportLimits,
    Problems,
    Table,
    Upload,
    _checked_size,
    _decode,
    _read_csv,
    _read_folder,
    _read_jsonl,
    open_upload,
)

#: Rows the wizard reads: enough for the preview and for the values a mapping lists (dimensions of a long
#: file, demographic answers), a small fraction of a large file.
HEAD_ROWS = 5000


def read_head(
    source: str | Path | Upload,
    problems: Problems,
    rows: int = HEAD_ROWS,
    limits: ImportLimits | None = None,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
) -> Table | None:
    """The first ``rows`` rows of the file as a :class:`Table`, or None with the reasons in ``problems``.

    A problem further down the file (a malformed row, a bad cell) is not seen here: the check and the
    import read the whole file.
    """
    limits = limits or ImportLimits()
    readers = FormatReaders(
        open=lambda opened: open_upload(opened, problems, limits),
        decode=lambda data, picked: _decode(data, problems, picked),
        folder=lambda folder: _first(_read_folder(folder, problems, limits), rows),
        parquet=lambda data, name: _parquet_head(data, name, rows, problems, limits),
        csv=lambda text, used, name: _encoded(_read_csv(text, name, problems, delimiter, rows), used),
        jsonl=lambda text, used, name: _encoded(_read_jsonl(_head(text, rows + 1), name, problems), used),
        checked=lambda table: _first(_checked_size(table, problems, limits), rows),
    )
    return read_with(source, readers, encoding=encoding)


def _first(table: Table | None, rows: int) -> Table | None:
    if table is None or len(table.frame) <= rows:
        return table
    return Table(table.frame.head(rows), table.rows.head(rows), table.file, table.text_only, table.encoding)


def _encoded(table: Table | None, encoding: str) -> Table | None:
    if table is not None:
        table.encoding = encoding
    return table


def _parquet_head(
    data: bytes, name: str, rows: int, problems: Problems, limits: ImportLimits
) -> Table | None:
    try:
        parquet = open_checked_parquet(data, problems, limits)
        if parquet is None:
            return None
        first = next(record_batches(parquet, rows, use_threads=False), None)
    except ParquetRefused as refusal:
        problems.add(refusal.kind, str(refusal))
        return None
    frame = (parquet.schema_arrow.empty_table() if first is None else first).to_pandas()
    frame.columns = [str(c).strip() for c in frame.columns]
    return Table(frame, pd.Series(range(2, len(frame) + 2), index=frame.index, dtype="int64"), name)
