"""Widgets for any config dataclass, chosen from its field metadata (:meth:`YamlConfig.form_fields`).

The core decides what kind of input a field needs (choice, bool, int, float, list, text); this module only
maps that kind to a Streamlit widget, so every page renders a config the same way and a new field shows up
without a hand-written widget. Values go back through ``from_dict``, which converts and validates them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import streamlit as st

from pluralign_core.analysis.display import readable_name
from pluralign_core.config_base import FormField


def field_widget(field: FormField, key: str) -> Any:
    """One widget for one config field; returns the widget's value."""
    default = None if field.default is dataclasses.MISSING else field.default
    label, help_text = readable_name(field.label), field.help
    if field.kind == "choice":
        choices = list(field.choices)
        index = choices.index(default) if default in choices else 0
        return st.selectbox(
            label, choices, index=index, format_func=lambda c: readable_name(str(c)), help=help_text, key=key
        )
    if field.kind == "bool":
        return st.checkbox(label, value=bool(default), help=help_text, key=key)
    if field.kind == "int":
        return int(st.number_input(label, value=int(default or 0), step=1, help=help_text, key=key))
    if field.kind == "float":
        return float(st.number_input(label, value=float(default or 0), format="%g", help=help_text, key=key))
    if field.kind == "list":
        text = st.text_input(label, value=", ".join(str(v) for v in default or ()), help=help_text, key=key)
        return [v.strip() for v in text.split(",") if v.strip()]
    return st.text_input(label, value="" if default is None else str(default), help=help_text, key=key)


def field_widgets(fields: Iterable[FormField], key_prefix: str, columns: int = 3) -> dict[str, Any]:
    """Widgets for several fields laid out in ``columns``; keys are ``<key_prefix>_<field name>``."""
    fields = list(fields)
    slots = st.columns(columns) if fields else []
    values = {}
    for index, field in enumerate(fields):
        with slots[index % columns]:
            values[field.name] = field_widget(field, f"{key_prefix}_{field.name}")
    return values
