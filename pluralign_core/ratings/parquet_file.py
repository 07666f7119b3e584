"""Reading an uploaded Parquet file with its size checked from the footer before anything is decoded.

Parquet compresses repeated values extremely well: a 70 kB file can hold 5 million rows and take hundreds
of MB once decoded, in the one server process that every session shares. The footer gives the row and
column counts without decoding anything, so the row limit and a memory budget (``max_expansion`` × the
file size, at least ``expansion_floor``) are checked first; the rows are then decoded in batches, so no
whole Arrow table sits beside the pandas frame.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pandas as pd

#: Memory one decoded cell takes in the table (a Python object and its pointer), for the estimate.
CELL_BYTES = 64
BATCH_ROWS = 65_536


class ParquetRefused(ValueError):
    """The file cannot or should not be read; ``kind`` is the import problem kind."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def decoded_estimate(rows: int, columns: int) -> int:
    """Bytes the decoded table is expected to take (an upper-side estimate for text cells)."""
    return rows * max(columns, 1) * CELL_BYTES


def open_parquet(
    data: bytes,
    *,
    max_rows: int,
    max_expansion: float,
    expansion_floor: int,
    header_ok: Callable[[list[str]], bool] = lambda names: True,
    pre_buffer: bool = True,
):
    """The file as a ``pyarrow.parquet.ParquetFile``, checked from its footer; None when ``header_ok``
    rejects the column names. Nothing is decoded. ``pre_buffer=False`` reads each column chunk when it is
    decoded instead of a whole row group's up front (less memory, a little slower).

    Raises :class:`ParquetRefused` for a corrupt file, too many rows or too much memory once decoded.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(pa.BufferReader(data), pre_buffer=pre_buffer)  # no copy of the bytes
        metadata = parquet.metadata
        names = [str(c) for c in parquet.schema_arrow.names]
    except Exception as error:  # pyarrow raises several unrelated types for a corrupt file
        message = f"the Parquet file cannot be read ({error}); export it again"
        raise ParquetRefused("parse_error", message) from error
    if not header_ok(names):
        return None
    rows = metadata.num_rows
    if rows > max_rows:
        raise ParquetRefused(
            "too_many_rows",
            f"the file has {rows:,} rows, above the limit of {max_rows:,}; split it or raise the limit "
            "(ImportLimits.max_rows)",
        )
    estimate = decoded_estimate(rows, metadata.num_columns)
    if estimate > max(expansion_floor, max_expansion * len(data)):
        raise ParquetRefused(
            "too_large",
            f"the Parquet file ({len(data) / 1024:,.0f} kB) holds {rows:,} rows × {metadata.num_columns} "
            f"columns, about {estimate / 1024**2:,.0f} MB once read: more than {max_expansion:g} times its "
            "size. Split it, or raise ImportLimits.max_expansion if the data is genuine.",
        )
    return parquet


def record_batches(
    parquet, rows: int = BATCH_ROWS, *, use_threads: bool = True, columns: list[str] | None = None
) -> Iterator:
    """The file's rows, ``rows`` at a time (Arrow record batches), of every column or only ``columns``;
    one column after the other without ``use_threads``, which keeps one column's pages in memory instead
    of all of them."""
    try:
        yield from parquet.iter_batches(batch_size=rows, use_threads=use_threads, columns=columns)
    except Exception as error:
        message = f"the Parquet file cannot be read ({error}); export it again"
        raise ParquetRefused("parse_error", message) from error


def read_parquet_frame(
    data: bytes,
    *,
    max_rows: int,
    max_expansion: float,
    expansion_floor: int,
    header_ok: Callable[[list[str]], bool] = lambda names: True,
) -> pd.DataFrame | None:
    """The file's rows as a DataFrame; None when ``header_ok`` rejects the column names.

    Raises :class:`ParquetRefused` for a corrupt file, too many rows or too much memory once decoded.
    """
    parquet = open_parquet(
        data,
        max_rows=max_rows,
        max_expansion=max_expansion,
        expansion_floor=expansion_floor,
        header_ok=header_ok,
    )
    if parquet is None:
        return None
    batches = [batch.to_pandas() for batch in record_batches(parquet)]
    if not batches:
        return parquet.schema_arrow.empty_table().to_pandas()
    return pd.concat(batches, ignore_index=True) if len(batches) > 1 else batches[0]
