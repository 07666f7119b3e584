"""Trade-offs page helpers: draw a grid's report document (a user's grid or the shipped reference run).

The document is :func:`pluralign_core.experiments.report.report_data`'s (or the reference run's): every
number comes with its 95 % CI and a *resolved* flag, computed in the core; this module only draws.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import plotly.express as px
import streamlit as st

from pages._downloads import show_chart
from pages._tables import show_table
from pluralign_core.analysis.colours import group_colours
from pluralign_core.ratings.reading import csv_safe

MEASURE_NAMES = {
    "reward_model": "all-raters toxicity reward model (scale points)",
    "classifier": "offline toxicity classifier (probability, English only)",
}


def _download(table: pd.DataFrame, name: str, key: str) -> None:
    st.download_button(
        "Download table (CSV)", csv_safe(table).to_csv(index=False).encode("utf-8"), f"{name}.csv", key=key
    )


def _with_errors(frame: pd.DataFrame, value: str, low: str, high: str) -> pd.DataFrame:
    return frame.assign(error_plus=frame[high] - frame[value], error_minus=frame[value] - frame[low])


def reductions(document: Mapping[str, Any], measure: str, key: str) -> None:
    """Each design choice's toxicity reduction against the start, per language, with its 95 % CI."""
    cells = pd.DataFrame(document.get("cells") or [])
    shown = cells[cells.measure == measure] if not cells.empty else cells
    if shown.empty:
        st.info("No finished cell has a reduction on this measure yet.")
        return
    fig = px.scatter(
        _with_errors(shown, "toxicity_reduction", "ci_low", "ci_high"),
        x="cell_id",
        y="toxicity_reduction",
        color="language",
        color_discrete_map=group_colours(list(shown.language.unique())),
        symbol="resolved",
        error_y="error_plus",
        error_y_minus="error_minus",
        labels={"cell_id": "", "toxicity_reduction": "toxicity reduction vs the start (points)"},
        title=f"Reduction against the start, {MEASURE_NAMES[measure]}; seeds pooled, 95 % CIs",
    )
    fig.add_hline(y=0, line_dash="dot")
    fig.update_layout(xaxis_tickangle=-30)
    show_chart(fig, f"reductions_{measure}", key=f"{key}_reduction_chart")
    st.caption(
        "Above 0: less toxic than the start on held-out prompts. The CI resamples prompts, then seeds; "
        "*resolved* = the CI excludes 0. Languages are never pooled."
    )
    _download(shown, f"reductions_{measure}", f"{key}_reduction_csv")


def likelihood(document: Mapping[str, Any], key: str) -> None:
    """The likelihood measure: each design's per-token implicit-reward margin on each group's pairs."""
    table = pd.DataFrame(document.get("likelihood") or [])
    if table.empty:
        st.info("No likelihood measure yet (it is computed as each cell finishes).")
        return
    languages = sorted(table.language.unique())
    language = st.radio("Language", languages, horizontal=True, key=f"{key}_likelihood_language")
    part = table[table.language == language]
    text = part.apply(
        lambda r: (
            f"{r.margin:+.2f} [{r.margin_ci_low:+.2f}, {r.margin_ci_high:+.2f}]"
            + ("" if r.resolved else " (not resolved)")
        ),
        axis=1,
    )
    margins = part.assign(text=text).pivot(index="design_id", columns="group", values="margin")
    labels = part.assign(text=text).pivot(index="design_id", columns="group", values="text")
    fig = px.imshow(
        margins,
        color_continuous_scale="RdBu",
        color_continuous_midpoint=0.0,
        aspect="auto",
        labels={"x": "preference pairs of group", "y": "model (design choice)", "color": "margin"},
        title="Per-token implicit-reward margin (chosen − rejected) on held-out pairs, 95 % CI",
    )
    fig.update_traces(text=labels.to_numpy(), texttemplate="%{text}")
    show_chart(fig, f"likelihood_{language}", key=f"{key}_likelihood_chart")
    st.caption(
        "How far tuning moved each model's log-probabilities (per answer token, against the model it was "
        "tuned from) towards each group's held-out preferences: above 0, the group's chosen answers gained "
        "on its rejected ones. The start's row is measured against the instruct model (negative: it moved "
        "away). Needs no generation and no judge."
    )
    _download(part, f"likelihood_{language}", f"{key}_likelihood_csv")


def answers(document: Mapping[str, Any], key: str) -> None:
    """Answer length and degenerate rate beside the scores: a broken model must not pass as less toxic."""
    table = pd.DataFrame(document.get("answers") or [])
    if table.empty:
        return
    show_table(table, key=f"{key}_answers")
    st.caption(
        "Mean answer length in words and the share of degenerate answers (empty, cut to a word or two, "
        "or mostly repetition) per design choice and language: compare with the start's row."
    )


def comparisons(document: Mapping[str, Any], measure: str, key: str) -> None:
    """The study's design-choice comparisons as a table (A − B with CI, resolved, matches the study)."""
    table = pd.DataFrame(document.get("comparisons") or [])
    shown = table[table.measure == measure] if not table.empty else table
    if shown.empty:
        st.info("No comparison has both of its sides finished.")
        return
    columns = ["name", "language", "difference", "ci_low", "ci_high", "resolved", "matches_study"]
    show_table(shown[[*columns, "study_text"]], key=f"{key}_cmp")
