"""The one way a ratings file is opened: folder or file, size and line checks, encoding, format by suffix.

Three readers need the same steps and differ only in what they build from each format:
:func:`~pluralign_core.ratings.reading.read_table` (the whole file as a DataFrame),
:func:`~pluralign_core.ratings.batched_reading.read_coded` (coded columns, batch by batch, for the import)
and :func:`~pluralign_core.ratings.head_reading.read_head` (the first rows, for the wizard's preview and
mapping guess). Each hands :func:`read_with` a :class:`FormatReaders`; the checks, the messages and the
order in which they are made then cannot drift apart. This module imports no reader (the readers import
it), so the checks are handed in too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from pluralign_core.ratings.text_encoding import DecodedText

Read = TypeVar("Read")


@dataclass(frozen=True)
class FormatReaders(Generic[Read]):
    """What one reader builds from each format; ``None`` from any of them means "recorded in problems"."""

    open: Callable[[Any], tuple[str, str, bytes] | None]
    """A file or upload's ``(name, suffix, data)`` after the extension, size and line checks
    (:func:`~pluralign_core.ratings.reading.open_upload`)."""
    decode: Callable[[bytes, str | None], DecodedText | None]
    """The text of the bytes in the picked (or else detected) encoding."""
    folder: Callable[[Path], Read | None]
    parquet: Callable[[bytes, str], Read | None]
    csv: Callable[[str, str, str], Read | None]
    """``(text, encoding, name)``: a CSV file decoded to text."""
    jsonl: Callable[[str, str, str], Read | None]
    checked: Callable[[Read | None], Read | None]
    """The last check of what was read (no rows, too many rows)."""
    utf8_csv: Callable[[bytes, str], Read | None] | None = None
    """``(data, name)``: a CSV file to parse from its bytes without decoding it whole; it is called only
    when ``utf8`` says the bytes are UTF-8 without a byte-order mark and no encoding was picked."""
    utf8: Callable[[bytes], bool] = lambda data: False


def read_with(source: Any, readers: FormatReaders[Read], *, encoding: str | None = None) -> Read | None:
    """Open ``source`` (a file, an upload or a ``datasets`` folder) and read it with ``readers``."""
    if isinstance(source, str | Path) and Path(source).is_dir():
        return readers.checked(readers.folder(Path(source)))
    opened = readers.open(source)
    if opened is None:
        return None
    name, suffix, data = opened
    if suffix == ".parquet":
        return readers.checked(readers.parquet(data, name))
    if suffix == ".csv" and encoding is None and readers.utf8_csv is not None and readers.utf8(data):
        return readers.checked(readers.utf8_csv(data, name))
    decoded = readers.decode(data, encoding)
    if decoded is None:
        return None
    read = readers.jsonl if suffix == ".jsonl" else readers.csv
    return readers.checked(read(decoded.text, decoded.encoding, name))
