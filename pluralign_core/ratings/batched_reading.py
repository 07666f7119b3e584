"""Reading a ratings file for import batch by batch into coded columns, so no whole frame is ever built.

:func:`pluralign_core.ratings.reading.read_table` gives the whole file as a DataFrame, which the preview
and the mapping guess need for a few rows; an import needs every row but only as
:class:`~pluralign_core.ratings.coded.CodedTable` columns (one small integer per cell, each distinct
value once). :func:`read_coded` builds those directly:

* Parquet: the footer is checked first (row limit, memory budget; nothing decoded), then the row groups
  are decoded :data:`CODED_BATCH_ROWS` rows at a time;
* CSV in UTF-8 (checked in 1 MB slices, never decoded whole): pandas parses the bytes in chunks of the
  same size; other encodings are decoded once and parsed in chunks;
* JSON Lines and dataset folders: read whole as before, then coded (their records are objects anyway).

Every check, message and row number is the one :func:`read_table` gives for the same file.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pluralign_core.ratings.cells import prepare_cell
from pluralign_core.ratings.coded import CodedTable, ColumnBuilder
from pluralign_core.ratings.file_dispatch import FormatReaders, read_with
from pluralign_core.ratings.parquet_file import ParquetRefused, open_parquet, record_batches
from pluralign_core.ratings.reading import (
    CSV_CELLS_AS_TEXT,
    ImportLimits,
    Problems,
    Table,
    Upload,
    _csv_row_numbers,
    _decode,
    _header_problems,
    _read_folder,
    _read_jsonl,
    _report_csv_rows,
    _too_many_rows,
    open_upload,
)
from pluralign_core.ratings.text_encoding import BOMS, SNIFF_LINES, _utf16_without_bom, sniff_delimiter

UTF8_SLICE = 1024**2
#: Rows decoded at a time. Small on purpose: a batch's cells exist as Python strings until they are coded,
#: and Arrow's allocator keeps what a batch used, so 8,192 rows cost a few MB where 65,536 cost tens of MB.
CODED_BATCH_ROWS = 8192


def read_coded(
    source: str | Path | Upload,
    problems: Problems,
    limits: ImportLimits | None = None,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
) -> CodedTable | None:
    """The file's rows as coded columns, or None with the reasons recorded in ``problems``."""
    limits = limits or ImportLimits()
    readers = FormatReaders(
        open=lambda opened: open_upload(opened, problems, limits),
        decode=lambda data, picked: _decode(data, problems, picked),
        folder=lambda folder: _from_table(_read_folder(folder, problems, limits)),
        parquet=lambda data, name: _read_parquet(data, name, problems, limits),
        csv=lambda text, used, name: _read_csv(text, used, name, problems, delimiter, limits),
        jsonl=lambda text, used, name: _with_encoding(_from_table(_read_jsonl(text, name, problems)), used),
        checked=lambda table: _checked(table, problems, limits),
        utf8_csv=lambda data, name: _read_csv(data, "utf-8", name, problems, delimiter, limits),
        utf8=_is_utf8,
    )
    return read_with(source, readers, encoding=encoding)


def _with_encoding(table: CodedTable | None, encoding: str) -> CodedTable | None:
    if table is not None:
        table.encoding = encoding
    return table


def _from_table(table: Table | None) -> CodedTable | None:
    return None if table is None else coded_table(table)


def coded_table(table: Table) -> CodedTable:
    """A table read whole (pandas) as coded columns, each cell prepared as the batched readers do."""
    return CodedTable.from_frame(
        table.frame,
        table.rows,
        table.file,
        text_only=table.text_only,
        encoding=table.encoding,
        prepare=prepare_cell,
    )


def _checked(table: CodedTable | None, problems: Problems, limits: ImportLimits) -> CodedTable | None:
    if table is None:
        return None
    if not len(table):
        problems.add("empty_file", "the file has a header but no data rows")
        return None
    if len(table) > limits.max_rows:
        problems.add("too_many_rows", _too_many_rows(f"{len(table):,}", limits))
        return None
    return table


def _is_utf8(data: bytes) -> bool:
    """Whether ``data`` is UTF-8 without a byte-order mark, checked without decoding it all at once."""
    if any(data.startswith(bom) for bom, _ in BOMS) or _utf16_without_bom(data) is not None:
        return False
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    try:
        for start in range(0, len(data), UTF8_SLICE):
            decoder.decode(view[start : start + UTF8_SLICE])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _build(
    names: list[str], batches: Iterable[pd.DataFrame], limits: ImportLimits, rows: int | None = None
) -> tuple[dict, int]:
    builders = {name: ColumnBuilder(prepare_cell, rows) for name in names}
    count = 0
    for batch in batches:
        count += len(batch)
        if count > limits.max_rows:
            return {}, count
        for name, column in zip(names, batch.columns, strict=True):
            builders[name].add(batch[column])
    return {name: builder.build() for name, builder in builders.items()}, count


def open_checked_parquet(data: bytes, problems: Problems, limits: ImportLimits) -> Any:
    """The Parquet file opened with the import's limits checked from its footer and its header checked
    (problems recorded); None when the header has problems. Raises :class:`ParquetRefused`."""
    return open_parquet(
        data,
        max_rows=limits.max_rows,
        max_expansion=limits.max_expansion,
        expansion_floor=limits.expansion_floor,
        header_ok=lambda names: _header_problems(names, problems),
        pre_buffer=False,
    )


def _read_parquet(data: bytes, name: str, problems: Problems, limits: ImportLimits) -> CodedTable | None:
    try:
        parquet = open_checked_parquet(data, problems, limits)
        if parquet is None:
            return None
        names = [str(c).strip() for c in parquet.schema_arrow.names]
        batches = (
            batch.to_pandas() for batch in record_batches(parquet, CODED_BATCH_ROWS, use_threads=False)
        )
        columns, count = _build(names, batches, limits, parquet.metadata.num_rows)
    except ParquetRefused as refusal:
        problems.add(refusal.kind, str(refusal))
        return None
    return CodedTable(columns, np.arange(2, count + 2, dtype=np.int64), name)


def _head(data: bytes | str, lines: int) -> bytes | str:
    """The start of the file up to and including its first ``lines`` line breaks (or all of it)."""
    newline = b"\n" if isinstance(data, bytes) else "\n"
    end = -1
    for _ in range(lines):
        end = data.find(newline, end + 1)
        if end < 0:
            return data
    return data[: end + 1]


def csv_header(
    data: bytes | str, encoding: str, delimiter: str | None, problems: Problems
) -> tuple[Callable[[Any], str], str, list[str]] | None:
    """How to decode ``data`` as text, its delimiter (sniffed unless given) and its checked header row;
    ``None`` when the header cannot be read or is invalid (the problem is recorded)."""
    as_text = (lambda b: b.decode(encoding)) if isinstance(data, bytes) else (lambda t: t)
    delimiter = delimiter or sniff_delimiter(as_text(_head(data, SNIFF_LINES + 2)))
    first_line = as_text(_head(data, 1)).split("\n", 1)[0]
    try:
        header = next(csv.reader(io.StringIO(first_line), delimiter=delimiter))
    except (csv.Error, StopIteration) as error:
        problems.add("parse_error", f"the header row cannot be read as CSV ({error})", row=1)
        return None
    if not _header_problems(header, problems):
        return None
    return as_text, delimiter, header


def csv_chunks(data: bytes | str, encoding: str, delimiter: str, **options: Any) -> Any:
    """pandas' chunked reader of ``data`` as plain strings, :data:`CODED_BATCH_ROWS` rows at a time
    (``options``: more ``read_csv`` arguments, e.g. ``usecols``)."""
    return pd.read_csv(
        io.BytesIO(data) if isinstance(data, bytes) else io.StringIO(data),
        sep=delimiter,
        encoding=encoding if isinstance(data, bytes) else None,
        chunksize=CODED_BATCH_ROWS,
        **CSV_CELLS_AS_TEXT,
        **options,
    )


def _read_csv(
    data: bytes | str,
    encoding: str,
    name: str,
    problems: Problems,
    delimiter: str | None,
    limits: ImportLimits,
) -> CodedTable | None:
    """CSV from UTF-8 bytes, or from text already decoded, parsed :data:`CODED_BATCH_ROWS` rows at a time."""
    opened = csv_header(data, encoding, delimiter, problems)
    if opened is None:
        return None
    as_text, delimiter, header = opened
    try:
        with csv_chunks(data, encoding, delimiter) as reader:
            columns, count = _build_csv(reader, limits)
    except (pd.errors.ParserError, csv.Error, ValueError):
        _report_csv_rows(as_text(data), delimiter, len(header), problems)
        return None
    if count > limits.max_rows:
        problems.add("too_many_rows", _too_many_rows(f"{count:,}", limits))
        return None
    rows = _row_numbers(data, as_text, delimiter, count)
    return CodedTable(columns, rows, name, text_only=True, encoding=encoding)


def _build_csv(reader, limits: ImportLimits) -> tuple[dict, int]:
    chunks = iter(reader)
    first = next(chunks, None)
    if first is None:
        return {}, 0
    first.columns = [str(c).strip() for c in first.columns]

    def batches():
        yield first
        yield from chunks

    return _build(list(first.columns), batches(), limits)


def _row_numbers(data: bytes | str, as_text, delimiter: str, count: int) -> np.ndarray:
    newline, blank, crlf_blank = ("\n", "\n\n", "\r\n\r\n")
    if isinstance(data, bytes):
        newline, blank, crlf_blank = (s.encode() for s in (newline, blank, crlf_blank))
    if data.count(newline) <= count + 1 and blank not in data and crlf_blank not in data:
        return np.arange(2, count + 2, dtype=np.int64)
    return np.asarray(_csv_row_numbers(as_text(data), delimiter, count), dtype=np.int64)
