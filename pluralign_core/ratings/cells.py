"""Cell-level parsing of an imported ratings file: missing values, cleaned text and scores on the scale.

Statistics tools spell "no value" in several ways and spreadsheets mix numbers, labels and lists in one
column; this module turns every cell into plain text (or a tuple for list cells) and every score cell into
a whole point on the dataset's scale, reporting each bad cell with its row and column. It also holds the
check that a value keyed by an id (an item's text, a rater's demographics) is the same on every row.
"""

from __future__ import annotations

import math

import pandas as pd

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


def clean(series: pd.Series, text_only: bool) -> pd.Series:
    """Cells as stripped text, ``None`` for missing; JSON/Parquet lists become tuples."""
    if text_only:
        return series.map(lambda v: (v.strip() or None) if isinstance(v, str) else None).astype(object)
    return series.map(_cell).astype(object)


def is_missing(value: object) -> bool:
    """An empty cell: None, pandas NA or NaN (a spelled-out ``NA`` is not; see :func:`is_not_stated`)."""
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def is_not_stated(value: object) -> bool:
    """Missing, or a spelled-out missing value such as ``NA`` (demographic and score cells only)."""
    return is_missing(value) or (isinstance(value, str) and value.strip().casefold() in NA_TOKENS)


def first_row_conflicts(
    base: pd.DataFrame, key: str, value: str, problems: Problems, kind: str, message, column: str | None
) -> None:
    """Report rows where ``value`` differs from its first occurrence within the same ``key``."""
    present = base[base[key].notna() & base[value].notna()]
    if present.empty:
        return
    first = present.groupby(key, sort=False)[[value, "_row"]].transform("first")
    differs = present[value] != first[value]
    if not differs.any():
        return
    bad = present[differs].assign(
        _first_value=first.loc[differs, value], _first_row=first.loc[differs, "_row"]
    )
    bad = bad.drop_duplicates(key)
    messages = pd.Series(
        [message(r[key], r[value], r._first_value, r._first_row) for _, r in bad.iterrows()], index=bad.index
    )
    problems.add_rows(kind, messages, bad["_row"], column=column)


def parse_scores(raw: pd.Series, spec: ImportSpec, rows: pd.Series, columns: pd.Series, problems: Problems):
    """Parse score cells to integers; report every bad cell. Returns (scores, keep mask)."""
    text = raw.map(lambda v: " ".join(v) if isinstance(v, tuple) else (None if is_not_stated(v) else v))
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
    bad = pd.Series(False, index=raw.index)
    for kind, mask, template in checks:
        if spec.scale_kind == "labels" and kind != "unknown_label":
            mask = mask & is_label
        messages = text[mask].map(lambda v, t=template: t.format(v=v, lo=lo, hi=hi))
        problems.add_rows(kind, messages, rows[mask], column=columns[mask])
        bad |= mask
    if missing.any():
        first = rows[missing].min()
        problems.add(
            "empty_score",
            f"{int(missing.sum()):,} empty score cell(s) were skipped (first in row {first}); a blank "
            "cell means the rater gave no score",
            severity="warning",
        )
    return scores, ~missing & ~bad


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
