"""Rater demographics of an imported ratings file: one value set per rater and attribute, checked.

Demographics sit on every row of a long ratings file, so the same rater's answer is repeated many times;
it must be identical on each row (a conflict is reported with both rows). Multi-select answers (a
separator, or list cells) become several values; study attributes keep their declared label and order.
"""

from __future__ import annotations

import re

import pandas as pd

from pluralign_core.ratings.cells import first_row_conflicts, is_missing, is_not_stated
from pluralign_core.ratings.reading import Problems
from pluralign_core.ratings.schema import STUDY_ATTRIBUTES, Attribute
from pluralign_core.ratings.spec import DemographicSpec, ImportSpec

# Values that start with a number (age bands "18-24", "65+", income "10k-20k") are ordered by it, so an
# ordinal attribute reads in order without the user listing its values.
_LEADING_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)")


def _demographic_values(value: object, separator: str | None) -> tuple[str, ...] | None:
    """A cell as a sorted tuple of values (several for a multi-select cell), None when not stated."""
    if isinstance(value, tuple):
        parts = value
    elif is_not_stated(value):
        return None
    else:
        parts = str(value).split(separator) if separator else (str(value),)
    cleaned = sorted({p.strip() for p in parts if p.strip() and not is_not_stated(p)})
    return tuple(cleaned) or None


def rater_demographics(
    base: pd.DataFrame, spec: ImportSpec, problems: Problems, raters: pd.Index
) -> tuple[pd.DataFrame, list[Attribute]]:
    """Long ``rater_id, attribute, value`` rows for ``raters``, and each attribute's declaration.

    A rater's first stated answer is kept; every row that contradicts it is reported as a conflict.
    """
    rows, attributes = [], []
    for demo in spec.demographics:
        column = f"demo:{demo.column}"
        values = base[column].map(lambda v, s=demo.separator: _demographic_values(v, s)).astype(object)
        frame = pd.DataFrame({"rater_id": base["rater_id"], "value": values, "_row": base["_row"]})
        frame["joined"] = values.map(lambda v: None if is_missing(v) else "; ".join(v)).astype(object)
        first_row_conflicts(
            frame,
            "rater_id",
            "joined",
            problems,
            "conflicting_demographics",
            lambda r, v, f, fr, a=demo.attribute: (
                f"rater {r!r} has {a} = {v!r} here but {f!r} in row {fr}; a rater's "
                "demographics must be the same on every row"
            ),
            demo.column,
        )
        firsts = frame.dropna(subset=["value", "rater_id"]).drop_duplicates("rater_id")
        multi = bool(demo.separator) or bool((firsts["value"].map(len) > 1).any())
        exploded = firsts.explode("value")
        rows.append(
            pd.DataFrame(
                {"rater_id": exploded.rater_id, "attribute": demo.attribute, "value": exploded.value}
            )
        )
        attributes.append(_attribute(demo, multi, set(exploded.value)))
    long = (
        pd.concat(rows, ignore_index=True)
        if rows
        else pd.DataFrame(columns=["rater_id", "attribute", "value"])
    )
    return long[long.rater_id.isin(raters)], attributes


def _attribute(demo: DemographicSpec, multi: bool, present: set[str]) -> Attribute:
    study = {a.name: a for a in STUDY_ATTRIBUTES}.get(demo.attribute)
    order = tuple(demo.values)
    if not order and study is not None and present and present <= set(study.values):
        order = tuple(v for v in study.values if v in present)
    if not order and present and all(_LEADING_NUMBER.match(v) for v in present):
        order = tuple(sorted(present, key=lambda v: (float(_LEADING_NUMBER.match(v).group(1)), v)))
    label = (
        study.label
        if study is not None and demo.label == demo.column.replace("_", " ").capitalize()
        else demo.label
    )
    return Attribute(demo.attribute, label, study is not None, multi, order)
