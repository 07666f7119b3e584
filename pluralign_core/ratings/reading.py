"""Reading an uploaded ratings file safely, and collecting every problem found in it.

Real data arrives as spreadsheets exported by survey tools, so the reader is strict about what it
accepts (CSV or JSON Lines in a detected encoding, Parquet, Hugging Face ``datasets`` folders; never
pickle, never ``eval``) and generous about what it reports: instead of stopping at the first bad cell it
records *all* problems, each with the file, the row as a spreadsheet shows it (header = row 1) and the
column, so that a user can fix the file in one pass.

Cells are read as plain text. A cell that starts with ``=``, ``+``, ``-`` or ``@`` stays exactly as
written (nothing is evaluated) and is flagged; :func:`csv_safe` escapes such cells with a leading ``'``
whenever pluralign itself writes a CSV, so a downloaded table cannot run a formula in a spreadsheet.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from pluralign_core.ratings.file_dispatch import FormatReaders, read_with
from pluralign_core.ratings.parquet_file import ParquetRefused, read_parquet_frame
from pluralign_core.ratings.text_encoding import (
    DecodedText,
    EncodingError,
    decode_text,
    describe,
    sniff_delimiter,
)

SUPPORTED_EXTENSIONS = (".csv", ".parquet", ".jsonl")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ImportLimits:
    """Upper bounds that protect the app from files it cannot handle (both configurable)."""

    max_bytes: int = field(default=2 * 1024**3, metadata={"help": "largest accepted file, in bytes"})
    max_rows: int = field(default=20_000_000, metadata={"help": "most data rows accepted"})
    max_problems: int = field(default=200, metadata={"help": "problems listed before the rest are counted"})
    max_expansion: float = field(default=100.0, metadata={"help": "Parquet memory once read / file size"})
    expansion_floor: int = field(default=256 * 1024**2, metadata={"help": "Parquet memory always allowed"})

    def __post_init__(self) -> None:
        limits = (self.max_bytes, self.max_rows, self.max_problems, self.max_expansion, self.expansion_floor)
        if min(limits) <= 0:
            raise ValueError("import limits must be positive")


@dataclass(frozen=True)
class Problem:
    """One thing wrong (``severity="error"``) or worth knowing (``"warning"``) about an input file."""

    kind: str
    message: str
    file: str = ""
    row: int | None = None
    column: str | None = None
    severity: str = "error"

    def where(self) -> str:
        parts = [self.file] if self.file else []
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column {self.column!r}")
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.where()
        return f"{where}: {self.message}" if where else self.message


class Problems:
    """Collects problems up to a limit; beyond it only counts them, so a huge bad file stays cheap."""

    def __init__(self, file: str = "", limit: int = 200) -> None:
        self.file = file
        self.limit = limit
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []
        self.error_count = 0
        self.warning_count = 0

    def add(
        self,
        kind: str,
        message: str,
        *,
        row: int | None = None,
        column: str | None = None,
        severity: str = "error",
    ) -> None:
        problem = Problem(kind, message, self.file, None if row is None else int(row), column, severity)
        if severity == "error":
            self.error_count += 1
            if len(self.errors) < self.limit:
                self.errors.append(problem)
        else:
            self.warning_count += 1
            if len(self.warnings) < self.limit:
                self.warnings.append(problem)

    def add_rows(
        self,
        kind: str,
        messages: pd.Series,
        rows: pd.Series,
        *,
        column: str | pd.Series | None = None,
        severity: str = "error",
    ) -> None:
        """Add one problem per entry of ``messages`` (aligned with ``rows``), cheaply past the limit."""
        total = len(messages)
        if not total:
            return
        room = max(self.limit - len(self.errors if severity == "error" else self.warnings), 0)
        columns = column if isinstance(column, pd.Series) else None
        for position, (index, message) in enumerate(messages.items()):
            if position >= room:
                break
            col = columns.loc[index] if columns is not None else column
            self.add(kind, str(message), row=int(rows.loc[index]), column=col, severity=severity)
        rest = total - min(total, room)
        if severity == "error":
            self.error_count += rest
        else:
            self.warning_count += rest

    @property
    def ok(self) -> bool:
        return self.error_count == 0


class Upload(Protocol):
    """Anything with a file name and its bytes (a Streamlit ``UploadedFile`` qualifies)."""

    name: str

    def getvalue(self) -> bytes: ...


@dataclass(frozen=True)
class ImportSource:
    """A file to import, held in memory: its name (for the extension and for messages) and its bytes."""

    name: str
    data: bytes

    def getvalue(self) -> bytes:
        return self.data


@dataclass
class Table:
    """The parsed file: cells as read, plus the spreadsheet row number of every data row."""

    frame: pd.DataFrame
    rows: pd.Series
    file: str
    text_only: bool = False
    encoding: str | None = None  # what a text file was decoded with (None for Parquet and folders)


def source_name(source: str | Path | Upload) -> str:
    return Path(source).name if isinstance(source, str | Path) else Path(source.name).name


def _load_bytes(source: str | Path | Upload, limits: ImportLimits, problems: Problems) -> bytes | None:
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            problems.add("missing_file", f"there is no file at {path}; check the path and try again")
            return None
        size = path.stat().st_size
        if size > limits.max_bytes:
            problems.add("too_large", _too_large(size, limits))
            return None
        return path.read_bytes()
    data = source.getvalue()
    if len(data) > limits.max_bytes:
        problems.add("too_large", _too_large(len(data), limits))
        return None
    return data


def _too_large(size: int, limits: ImportLimits) -> str:
    return (
        f"the file is {size / 1024**2:,.1f} MB, above the limit of {limits.max_bytes / 1024**2:,.1f} MB; "
        "split it into smaller files or raise the limit (ImportLimits.max_bytes)"
    )


def read_table(
    source: str | Path | Upload,
    problems: Problems,
    limits: ImportLimits | None = None,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
) -> Table | None:
    """Read a CSV, Parquet or JSONL file, or a Hugging Face ``datasets`` folder, into a table, or record why
    it cannot be read. ``delimiter`` and ``encoding`` override what is detected."""
    limits = limits or ImportLimits()
    readers = FormatReaders(
        open=lambda opened: open_upload(opened, problems, limits),
        decode=lambda data, picked: _decode(data, problems, picked),
        folder=lambda folder: _read_folder(folder, problems, limits),
        parquet=lambda data, name: _read_parquet(data, name, problems, limits),
        csv=lambda text, used, name: _with_encoding(_read_csv(text, name, problems, delimiter), used),
        jsonl=lambda text, used, name: _with_encoding(_read_jsonl(text, name, problems), used),
        checked=lambda table: _checked_size(table, problems, limits),
    )
    return read_with(source, readers, encoding=encoding)


def _with_encoding(table: Table | None, encoding: str) -> Table | None:
    if table is not None:
        table.encoding = encoding
    return table


def open_upload(
    source: str | Path | Upload, problems: Problems, limits: ImportLimits
) -> tuple[str, str, bytes] | None:
    """The file's name, lower-case extension and bytes, or None (with the reason recorded) when its
    extension, size or line count rules it out before parsing."""
    name = source_name(source)
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_EXTENSIONS:
        extra = (
            " Pickle files are never loaded because they can run code."
            if suffix in (".pkl", ".pickle")
            else ""
        )
        problems.add(
            "unsupported_extension",
            f"files ending in {suffix or '(no extension)'!r} cannot be imported; save the data as CSV "
            f"Parquet or JSON Lines (.jsonl), or give a Hugging Face datasets folder.{extra}",
        )
        return None
    data = _load_bytes(source, limits, problems)
    if data is None:
        return None
    if not data.strip():
        problems.add("empty_file", "the file is empty; export the ratings again, including the header row")
        return None
    if suffix != ".parquet" and (lines := data.count(b"\n")) > limits.max_rows + 1:
        problems.add("too_many_rows", _too_many_rows(f"about {lines:,}", limits))
        return None
    return name, suffix, data


def _read_folder(folder: Path, problems: Problems, limits: ImportLimits) -> Table | None:
    from pluralign_core.ratings.dataset_folders import FolderError, read_dataset_folder

    try:
        frame = read_dataset_folder(folder, limits.max_bytes)
    except FolderError as error:
        problems.add(error.kind, str(error))
        return None
    return Table(frame, pd.Series(range(2, len(frame) + 2), index=frame.index, dtype="int64"), folder.name)


def _checked_size(table: Table | None, problems: Problems, limits: ImportLimits) -> Table | None:
    if table is None:
        return None
    if table.frame.empty:
        problems.add("empty_file", "the file has a header but no data rows")
        return None
    if len(table.frame) > limits.max_rows:
        problems.add("too_many_rows", _too_many_rows(f"{len(table.frame):,}", limits))
        return None
    return table


def _too_many_rows(count: str, limits: ImportLimits) -> str:
    return (
        f"the file has {count} rows, above the limit of {limits.max_rows:,}; split it or raise the limit "
        "(ImportLimits.max_rows)"
    )


_RESAVE = (
    "If it is text, re-save it as UTF-8 (Excel: Save As → 'CSV UTF-8'; LibreOffice: character set "
    "'Unicode (UTF-8)') and import it again."
)


def _decode(data: bytes, problems: Problems, encoding: str | None = None) -> DecodedText | None:
    """The file's text in the detected (or given) encoding; a non-UTF-8 guess is reported as a warning."""
    try:
        decoded = decode_text(data, encoding)
    except EncodingError as error:
        problems.add("encoding", f"the file cannot be read as text: {error}. {_RESAVE}", row=error.line)
        return None
    if not decoded.certain:
        problems.add(
            "encoding_detected",
            f"the file is not UTF-8; it was read as {describe(decoded.encoding)}. Check accented letters "
            "in the preview; if they look wrong, re-save the file as UTF-8",
            severity="warning",
        )
    return decoded


def _header_problems(header: list[str], problems: Problems) -> bool:
    ok = True
    for position, column in enumerate(header, start=1):
        if not column.strip():
            problems.add("empty_column_name", f"column {position} has no name in the header row", row=1)
            ok = False
    for column, count in Counter(c.strip() for c in header).items():
        if column and count > 1:
            problems.add(
                "duplicate_column",
                f"the column name {column!r} appears {count} times in the header; give each column its "
                "own name",
                row=1,
                column=column,
            )
            ok = False
    return ok


#: ``read_csv`` options every CSV reader uses: each cell is the file's text, nothing parsed as a number or NA.
CSV_CELLS_AS_TEXT: dict[str, Any] = {
    "dtype": str,
    "keep_default_na": False,
    "na_filter": False,
    "skip_blank_lines": True,
    "engine": "c",
}


def _read_csv(
    text: str, name: str, problems: Problems, delimiter: str | None, rows: int | None = None
) -> Table | None:
    """The CSV text as a table; with ``rows``, only its first ``rows`` records are parsed."""
    delimiter = delimiter or sniff_delimiter(text)
    try:
        header = next(csv.reader(io.StringIO(text.split("\n", 1)[0]), delimiter=delimiter))
    except (csv.Error, StopIteration) as error:
        problems.add("parse_error", f"the header row cannot be read as CSV ({error})", row=1)
        return None
    if not _header_problems(header, problems):
        return None
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delimiter, nrows=rows, **CSV_CELLS_AS_TEXT)
    except (pd.errors.ParserError, csv.Error, ValueError):
        _report_csv_rows(text, delimiter, len(header), problems)
        return None
    frame.columns = [c.strip() for c in frame.columns]
    rows = pd.Series(_csv_row_numbers(text, delimiter, len(frame)), index=frame.index)
    return Table(frame, rows, name, text_only=True)


def _csv_row_numbers(text: str, delimiter: str, n_rows: int) -> list[int]:
    """Spreadsheet row numbers of the data records (blank lines are skipped by the reader, not counted)."""
    if text.count("\n") <= n_rows + 1 and "\n\n" not in text and "\r\n\r\n" not in text:
        return list(range(2, n_rows + 2))
    numbers = []
    for number, record in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), start=1):
        if number > 1 and any(cell.strip() for cell in record):
            numbers.append(number)
            if len(numbers) == n_rows:
                break
    return (numbers + list(range(len(numbers) + 2, n_rows + 2)))[:n_rows]


def _report_csv_rows(text: str, delimiter: str, width: int, problems: Problems) -> None:
    """List every record whose field count differs from the header, or the parser's own complaint."""
    found = False
    try:
        for number, record in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), start=1):
            if record and len(record) > width:
                found = True
                problems.add(
                    "parse_error",
                    f"this row has {len(record)} fields but the header has {width}; a value probably "
                    f"contains an unquoted {delimiter!r} — put such values in double quotes",
                    row=number,
                )
    except csv.Error as error:
        found = True
        problems.add("parse_error", f"the CSV cannot be parsed: {error}; check quotes around values")
    if not found:
        problems.add("parse_error", "the CSV cannot be parsed; check quoting and the delimiter")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = Counter(k for k, _ in pairs)
    repeated = [k for k, n in keys.items() if n > 1]
    if repeated:
        raise KeyError(repeated[0])
    return dict(pairs)


def _read_jsonl(text: str, name: str, problems: Problems) -> Table | None:
    records, rows = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line, object_pairs_hook=_no_duplicate_keys)
        except KeyError as error:
            problems.add(
                "duplicate_column",
                f"the key {error.args[0]!r} appears twice in this JSON object",
                row=number,
                column=str(error.args[0]),
            )
            continue
        except json.JSONDecodeError as error:
            problems.add(
                "parse_error",
                f"this line is not valid JSON ({error.msg} at character {error.colno}); each line must be "
                "one JSON object",
                row=number,
            )
            continue
        if not isinstance(record, dict):
            problems.add("parse_error", "this line is JSON but not an object ({...})", row=number)
            continue
        records.append(record)
        rows.append(number)
    if not problems.ok:
        return None
    frame = pd.DataFrame.from_records(records)
    frame.columns = [str(c).strip() for c in frame.columns]
    return Table(frame, pd.Series(rows, index=frame.index, dtype="int64"), name)


def _read_parquet(data: bytes, name: str, problems: Problems, limits: ImportLimits) -> Table | None:
    try:
        frame = read_parquet_frame(
            data,
            max_rows=limits.max_rows,
            max_expansion=limits.max_expansion,
            expansion_floor=limits.expansion_floor,
            header_ok=lambda names: _header_problems(names, problems),
        )
    except ParquetRefused as refusal:
        problems.add(refusal.kind, str(refusal))
        return None
    if frame is None:
        return None
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = frame.reset_index(drop=True)
    return Table(frame, pd.Series(range(2, len(frame) + 2), index=frame.index, dtype="int64"), name)


def looks_like_formula(value: object) -> bool:
    """True for text a spreadsheet would run as a formula (numbers such as ``-1`` are fine)."""
    if not isinstance(value, str) or not value.startswith(FORMULA_PREFIXES):
        return False
    try:
        float(value)
    except ValueError:
        return True
    return False


def formula_mask(series: pd.Series) -> pd.Series:
    """Vectorised :func:`looks_like_formula` for a column of cells."""
    text = series.astype("string")
    starts = text.str.startswith(FORMULA_PREFIXES).fillna(False).astype(bool)
    if not starts.any():
        return starts
    numeric = pd.to_numeric(text.where(starts), errors="coerce").notna()
    return starts & ~numeric


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` safe to offer as a CSV download: formula-like text gets a leading ``'``.

    Use it for every table the app lets people download. Numbers are untouched; only text cells (and
    column names) that a spreadsheet would evaluate are escaped.
    """
    safe = frame.copy()
    safe.columns = [f"'{c}" if looks_like_formula(c) else c for c in safe.columns]
    for column in safe.columns:
        series = safe[column]
        if series.dtype == object or isinstance(series.dtype, pd.StringDtype):
            mask = formula_mask(series.where(series.map(lambda v: isinstance(v, str)), None))
            if mask.any():
                safe[column] = series.where(~mask, "'" + series.astype(str))
    return safe
