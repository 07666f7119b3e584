"""Rater demographics of an imported ratings file: one value set per rater and attribute, checked.

Demographics sit on every row of a long ratings file, so the same rater's answer is repeated many times;
it must be identical on each row (a conflict is reported with both rows). Multi-select answers (a
separator, or list cells) become several values; study attributes keep their declared label and order.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from pluralign_core.ratings.cells import first_row_conflicts, is_not_stated
from pluralign_core.ratings.coded import MISSING, Coded, first_rows
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
    rater: Coded, answers: dict[str, Coded], rows: np.ndarray, spec: ImportSpec, problems: Problems
) -> tuple[pd.DataFrame, list[Attribute]]:
    """Long ``rater_id, attribute, value`` rows, and each attribute's declaration.

    ``answers`` holds each demographic column's cleaned cells. A rater's first stated answer is kept;
    every row that contradicts it is reported as a conflict. Values are split and compared once per
    distinct cell.
    """
    frames, attributes = [], []
    for demo in spec.demographics:
        values = answers[demo.column].map(lambda v, s=demo.separator: _demographic_values(v, s))
        joined = values.map(lambda v: None if v is None else "; ".join(v))
        first_row_conflicts(
            rater,
            joined,
            rows,
            problems,
            "conflicting_demographics",
            lambda r, v, f, fr, a=demo.attribute: (
                f"rater {r!r} has {a} = {v!r} here but {f!r} in row {fr}; a rater's "
                "demographics must be the same on every row"
            ),
            demo.column,
        )
        stated = np.where(values.notna(), rater.codes, MISSING)
        firsts = first_rows(stated, len(rater.values))
        firsts = np.sort(firsts[firsts < len(stated)])
        answered = pd.DataFrame(
            {"rater_id": rater.cells(firsts), "value": values.cells(firsts)}, index=pd.RangeIndex(len(firsts))
        )
        multi = bool(demo.separator) or bool((answered["value"].map(len) > 1).any())
        exploded = answered.explode("value")
        frames.append(
            pd.DataFrame(
                {"rater_id": exploded.rater_id, "attribute": demo.attribute, "value": exploded.value}
            )
        )
        attributes.append(_attribute(demo, multi, set(exploded.value)))
    long = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["rater_id", "attribute", "value"])
    )
    return long, attributes


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
