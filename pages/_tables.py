"""Tables as people read them: readable column names and one number style (see
:mod:`pluralign_core.analysis.display`). The CSV downloads beside a table keep the machine names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import streamlit as st

from pluralign_core.analysis import display


def _text(values: pd.Series, kind: display.NumberKind, missing: str) -> pd.Series:
    return values.map(lambda v: missing if pd.isna(v) else display.format_number(v, kind))


def readable_table(
    frame: pd.DataFrame,
    labels: Mapping[str, str] | None = None,
    missing: str = "not estimable",
    values: Mapping[str, Mapping[str, str]] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``frame`` with readable column names, and the ``column_config`` that formats its numbers.

    ``values`` relabels cells per column (a dimension's name → its label), keeping unknown values.

    p-values and numeric columns with empty cells become text (the browser would draw an empty cell as
    "None" and a tiny p-value as a run of zeros); other numbers keep their type, so the table still sorts
    by them, and get the format of their kind.
    """
    shown = frame.copy()
    for column, mapping in (values or {}).items():
        if column in shown:
            shown[column] = shown[column].map(lambda v, m=mapping: m.get(v, v))
    config: dict[str, Any] = {}
    names: dict[str, str] = {}
    for column in shown.columns:
        name = str(column)
        readable = display.readable_name(name, labels)
        while readable in names.values():
            readable = f"{readable} ({name})"
        names[column] = readable
        values = shown[column]
        if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
            continue
        kind = display.number_kind(name)
        if kind == "count" and not pd.api.types.is_integer_dtype(values) and values.dropna().mod(1).any():
            kind = "measure"  # a weighted "count" (a jury's effective raters) is not whole
        if kind == "p" or values.isna().any():
            shown[column] = _text(values, kind, missing)
        else:
            config[readable] = st.column_config.NumberColumn(format=display.NUMBER_FORMATS[kind])
    return shown.rename(columns=names), config


def show_table(
    frame: pd.DataFrame,
    *,
    labels: Mapping[str, str] | None = None,
    missing: str = "not estimable",
    values: Mapping[str, Mapping[str, str]] | None = None,
    key: str | None = None,
    width: str | int = "stretch",
    column_config: Mapping[str, Any] | None = None,
    container: Any = None,
) -> None:
    """``st.dataframe`` of ``frame`` under readable names (``labels``: the dataset's own, first).

    ``column_config`` is keyed by the *machine* column names and overrides the default format."""
    shown, config = readable_table(frame, labels, missing, values)
    for column, setting in (column_config or {}).items():
        config[display.readable_name(str(column), labels)] = setting
    target = container if container is not None else st
    target.dataframe(shown, hide_index=True, width=width, column_config=config, key=key)
