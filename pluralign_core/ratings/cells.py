"""Cell-level parsing of an imported ratings file: missing values, cleaned text and scores on the scale.

Statistics tools spell "no value" in several ways and spreadsheets mix numbers, labels and lists in one
column; this module turns every cell into plain text (or a tuple for list cells) and every score cell into
a whole point on the dataset's scale, reporting each bad cell with its row and column. It also holds the
check that a value keyed by an id (an item's text, a rater's demographics) is the same on every row.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from pluralign_core.ratings.coded import MISSING, Coded, first_rows, lookup, report_rows
from pluralign_core.ratings.reading import Problems
from pluralign_core.ratings.schema import AGREEMENT_LABELS_EN, Scale
from pluralign_core.ratings.spec import ImportSpec, normalize_label

# Spellings of "no value" that statistics tools write (R: NA, pandas: NaN, Excel: #N/A). "None" is not
# one of them: it is a real answer to questions such as religious affiliation.
NA_TOKENS = frozenset({"na", "n/a", "nan", "null", "#n/a"})


def _cell(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, list | tuple):
        items = [str(_cell(v)) for v in value if _cell(v) is not None]
        return tuple(items) if items else None
    if hasattr(value, "tolist") and not isinstance(value, str):  # numpy arrays from Parquet lists
        return _cell(value.tolist())
    if isinstance(value, bool):
        return str(value).lower()
    text = str(value).strip()
    return text or None


def is_missing(value: object) -> bool:
    """An empty cell: None, pandas NA or NaN (a spelled-out ``NA`` is not; see :func:`is_not_stated`)."""
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def is_not_stated(value: object) -> bool:
    """Missing, or a spelled-out missing value such as ``NA`` (demographic and score cells only)."""
    return is_missing(value) or (isinstance(value, str) and value.strip().casefold() in NA_TOKENS)


def first_row_conflicts(
    key: Coded,
    value: Coded,
    rows: np.ndarray,
    problems: Problems,
    kind: str,
    message,
    column: str | None,
) -> None:
    """Report rows where ``value`` differs from its first occurrence within the same ``key``.

    One row is reported per key (the first that differs), with ``message(key, value, first, first_row)``.
    """
    present = key.notna() & value.notna()
    if not present.any():
        return
    keys = np.where(present, key.codes, MISSING)
    first = first_rows(keys, len(key.values))
    first_value = np.append(value.codes, MISSING)[first]
    differs = present & (value.codes != lookup(first_value, keys))
    if not differs.any():
        return
    reported = first_rows(np.where(differs, keys, MISSING), len(key.values))
    mask = np.zeros(len(rows), dtype=bool)
    mask[reported[reported < len(rows)]] = True
    report_rows(
        problems,
        kind,
        mask,
        lambda i: message(
            key.values[key.codes[i]],
            value.values[value.codes[i]],
            value.values[value.codes[first[key.codes[i]]]],
            int(rows[first[key.codes[i]]]),
        ),
        rows,
        column=column,
    )


def prepare_cell(value: object) -> object:
    """A hashable stand-in for a cell (list cells become tuples), so that equal cells are stored once."""
    return _cell(value)


def cleaner(text_only: bool):
    """How a cell is cleaned: stripped text, ``None`` for missing, tuples for list cells (JSON, Parquet).

    Applied once per distinct cell (:meth:`~pluralign_core.ratings.coded.Coded.map`)."""
    if text_only:
        return lambda v: (v.strip() or None) if isinstance(v, str) else None
    return _cell


def _score_text(value: object) -> object:
    return " ".join(value) if isinstance(value, tuple) else (None if is_not_stated(value) else value)


def _score_checks(distinct: pd.Series, spec: ImportSpec):
    """Per distinct score cell: its text, whether missing, its score and the failed checks."""
    text = distinct.map(_score_text)
    missing = text.isna()
    number = pd.to_numeric(text.where(~missing), errors="coerce")
    is_number = number.notna()
    labels = spec.labels()
    by_label = text.where(~missing & ~is_number).map(lambda v: labels.get(normalize_label(v)) if v else None)
    is_label = by_label.notna()
    scores = number.where(is_number, by_label.astype(float))
    lo, hi = spec.scale_min, spec.scale_max
    known = ", ".join(repr(k) for k in list(labels)[:6]) + (" …" if len(labels) > 6 else "")
    checks = []
    if spec.scale_kind == "numeric":
        checks.append(
            ("not_a_number", ~missing & ~is_number, "score {v!r} is not a number (expected {lo}..{hi})")
        )
    elif spec.scale_kind == "labels":
        checks.append(
            ("unknown_label", ~missing & ~is_label, "{v!r} is not a known scale label; known: " + known)
        )
    else:
        checks.append(
            (
                "unknown_label",
                ~missing & ~is_number & ~is_label,
                "{v!r} is neither a number nor a known scale label (known: " + known + "); add it to "
                "label_map with its score",
            )
        )
    usable = scores.notna()
    fractional = usable & (scores != scores.round())
    checks.append(
        ("fractional_score", fractional, "score {v} is not a whole number; the scale has whole points")
    )
    out = usable & ~fractional & ((scores < lo) | (scores > hi))
    checks.append(("out_of_range", out, "score {v} is outside the scale {lo}..{hi}"))
    if spec.scale_kind == "labels":
        checks = [(k, m if k == "unknown_label" else m & is_label, t) for k, m, t in checks]
    return text, missing, scores, checks


def parse_scores(raw: Coded, spec: ImportSpec, rows: np.ndarray, column_of, problems: Problems):
    """Parse score cells to integers, once per distinct cell; report every bad cell.

    ``column_of(i)`` names the column of rating ``i``. Returns the score of each distinct cell (indexed by
    ``raw.codes``; the last entry is the missing cell's) and the mask of ratings to keep.
    """
    distinct = pd.Series([*raw.values, None], dtype=object)
    text, missing, scores, checks = _score_checks(distinct, spec)
    lo, hi = spec.scale_min, spec.scale_max
    bad = np.zeros(len(distinct), dtype=bool)
    for kind, mask, template in checks:
        hits = mask.to_numpy(dtype=bool)
        report_rows(
            problems,
            kind,
            lookup(hits, raw.codes),
            lambda i, t=template: t.format(v=text.iloc[raw.codes[i]], lo=lo, hi=hi),
            rows,
            column=column_of,
        )
        bad |= hits
    missing_rows = lookup(missing.to_numpy(dtype=bool), raw.codes)
    if missing_rows.any():
        problems.add(
            "empty_score",
            f"{int(missing_rows.sum()):,} empty score cell(s) were skipped (first in row "
            f"{int(rows[missing_rows].min())}); a blank cell means the rater gave no score",
            severity="warning",
        )
    keep = lookup(~missing.to_numpy(dtype=bool) & ~bad, raw.codes)
    return scores.fillna(0).to_numpy(dtype=float), keep


def dataset_scale(spec: ImportSpec) -> Scale:
    """The dataset's scale, labelled as far as the spec allows.

    Labels the user gave for the points come first; then the label map names the points when it covers
    every one; a 5-point label scale otherwise gets the
    study's agreement labels, and anything else stays numbered only.
    """
    points = spec.scale_max - spec.scale_min + 1
    if spec.scale_labels:
        return Scale(spec.scale_min, spec.scale_max, tuple(spec.scale_labels))
    by_score = {}
    for label, score in spec.label_map.items():
        by_score.setdefault(score, label)
    if len(by_score) == points:
        return Scale(
            spec.scale_min,
            spec.scale_max,
            tuple(by_score[s] for s in range(spec.scale_min, spec.scale_max + 1)),
        )
    if points == 5 and spec.scale_kind != "numeric":
        return Scale(spec.scale_min, spec.scale_max, AGREEMENT_LABELS_EN)
    return Scale(spec.scale_min, spec.scale_max, ())
