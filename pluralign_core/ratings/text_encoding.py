"""Which character encoding and which delimiter a text ratings file uses, guessed so a person can confirm.

Survey tools and spreadsheets export in whatever the machine uses: UTF-8, UTF-16 (Excel's "Unicode text"),
or a Windows code page (Excel's plain "CSV" on a German or French Windows is Windows-1252). The guess, in
order of certainty:

1. a byte-order mark (UTF-8, UTF-16, UTF-32) settles it;
2. NUL bytes in every other position mean UTF-16 without a mark; NUL bytes elsewhere mean a binary file;
3. text that decodes as UTF-8 is UTF-8 (other encodings rarely produce valid multi-byte UTF-8);
4. otherwise charset-normalizer ranks the code pages by how chaotic the decoded text looks. On short files
   its first pick is unreliable (``für`` alone comes out as Big5, French as Central European), so
   Windows-1252 wins whenever its text looks no more chaotic than the best candidate's: it is by far the
   most common single-byte export, and the tie-break changes nothing for Polish or Czech, whose letters
   make Windows-1252 text visibly chaotic.

The encoding is always reported back (a warning when it is not UTF-8), because a wrong guess shows only in
accented letters, which the user can check in the preview.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass

BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
WESTERN = "cp1252"
CHAOS_TIE = 0.01
DELIMITERS = (",", ";", "\t", "|")
# What a person can pick when the guess is wrong (the import wizard's picker, ``pluralign import
# --encoding``): the encodings spreadsheets and survey tools export, by how often they do.
COMMON_ENCODINGS = (
    "utf-8",
    "cp1252",
    "latin-1",
    "iso-8859-15",
    "utf-16",
    "utf-16-le",
    "utf-16-be",
    "cp1250",
    "mac-roman",
    "shift_jis",
    "gb18030",
)
SNIFF_LINES = 50


@dataclass(frozen=True)
class DecodedText:
    """The text of a file, the encoding it was read with, and how sure that is (``certain``)."""

    text: str
    encoding: str
    certain: bool


class EncodingError(ValueError):
    """The bytes are not text in any encoding we can name; ``line`` is where UTF-8 failed, if known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def _utf16_without_bom(data: bytes) -> str | None:
    """``utf-16-le``/``utf-16-be`` for wide text without a mark, ``"binary"`` for other NUL bytes."""
    head = data[:4096]
    if b"\x00" not in head:
        return None
    even, odd = head[0::2], head[1::2]
    zeros, text = (even, odd) if even.count(0) > odd.count(0) else (odd, even)
    controls = sum(byte < 0x20 and byte not in b"\t\n\r" for byte in text)
    if zeros.count(0) >= 0.3 * len(zeros) and controls <= 0.05 * len(text):
        return "utf-16-be" if zeros is even else "utf-16-le"
    return "binary"


def _code_page(data: bytes) -> str | None:
    """The single-byte (or CJK) code page charset-normalizer and the Windows-1252 tie-break pick."""
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    western = from_bytes(data, cp_isolation=[WESTERN]).best()
    if western is not None and (best is None or western.chaos <= best.chaos + CHAOS_TIE):
        return WESTERN
    return best.encoding if best is not None else None


def decode_text(data: bytes, encoding: str | None = None) -> DecodedText:
    """Decode ``data`` with ``encoding`` when given, else with the guess described in the module docstring.

    Raises :class:`EncodingError` with a message a user can act on when no encoding fits.
    """
    if encoding:
        try:  # a byte-order mark is not text, whichever encoding the person picked
            return DecodedText(data.decode(encoding).removeprefix("\ufeff"), encoding, True)
        except (UnicodeDecodeError, LookupError) as error:
            raise EncodingError(f"the file cannot be read as {encoding} ({error})") from error
    for bom, name in BOMS:
        if data.startswith(bom):
            try:
                return DecodedText(data.decode(name), name.removesuffix("-sig"), True)
            except UnicodeDecodeError as error:
                raise EncodingError(f"the file starts like {name} text but is not ({error})") from error
    wide = _utf16_without_bom(data)
    if wide == "binary":
        raise EncodingError("it is not valid UTF-8 nor any text: a binary file (it holds NUL bytes)")
    if wide is not None:
        try:
            return DecodedText(data.decode(wide), wide, False)
        except UnicodeDecodeError as error:
            raise EncodingError(f"it looks like UTF-16 text but is not valid UTF-16 ({error})") from error
    try:
        return DecodedText(data.decode("utf-8"), "utf-8", True)
    except UnicodeDecodeError as error:
        utf8_error = error
    guess = _code_page(data)
    if guess is not None:
        try:
            return DecodedText(data.decode(guess), guess, False)
        except UnicodeDecodeError:
            pass
    line = data[: utf8_error.start].count(b"\n") + 1
    raise EncodingError(
        f"it is not valid UTF-8 (byte {data[utf8_error.start]:#04x} on line {line}) and no other text "
        "encoding fits (a compressed or binary file?)",
        line,
    )


def describe(encoding: str) -> str:
    """A name people know: ``cp1252`` is what Excel and Windows call Windows-1252 (Western European)."""
    names = {
        "cp1252": "Windows-1252 (Western European, Excel's default CSV on Windows)",
        "cp1250": "Windows-1250 (Central European)",
        "utf-16-le": "UTF-16 little-endian (no byte-order mark)",
        "utf-16-be": "UTF-16 big-endian (no byte-order mark)",
        "latin-1": "Latin-1 (ISO-8859-1, Western European)",
        "iso-8859-15": "ISO-8859-15 (Western European with €)",
        "mac-roman": "Mac Roman (old Mac exports)",
    }
    return names.get(encoding, encoding.upper().replace("_", "-"))


def sniff_delimiter(text: str, candidates: tuple[str, ...] = DELIMITERS, max_lines: int = SNIFF_LINES) -> str:
    """The delimiter that splits the first ``max_lines`` records into the same number of fields as the
    header (the most such records wins, then the most fields; ``,`` on a tie or for one column).

    Counting on the header line alone is fooled by a quoted header cell holding another delimiter, or by
    a header without any; consistency over many rows is not.
    """
    lines = text.splitlines()
    truncated = len(lines) > max_lines
    sample = "\n".join(line for line in lines[:max_lines] if line.strip())
    best: tuple[float, int, bool] | None = None
    chosen = ","
    for delimiter in candidates:
        try:
            records = [r for r in csv.reader(io.StringIO(sample), delimiter=delimiter) if r]
        except csv.Error:
            continue
        if truncated and len(records) > 2:
            records = records[:-1]  # the cut may fall inside a quoted multi-line cell
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        rows = records[1:] or records
        key = (sum(len(r) == width for r in rows) / len(rows), width, delimiter == ",")
        if best is None or key > best:
            best, chosen = key, delimiter
    return chosen
