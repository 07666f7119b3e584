"""Explore: do demographic groups rate the same responses differently?

Thin UI over :mod:`pluralign_core.analysis`. Every computation is wrapped in ``st.cache_data`` keyed on the
store file, the dataset's fingerprint and exactly the settings it uses, so changing one widget reruns only
what depends on it (the correction method does not re-aggregate the group means, and so on).
"""

from __future__ import annotations

import json

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from pages import _explore_charts as charts
from pages._downloads import chart_download, show_chart
from pages._explore_charts import group_label, raters_per_group
from pages._frame import active_dataset_id, get_store, simulated_notice
from pages._tables import show_table
from pluralign_core import analysis
from pluralign_core.analysis import display, headlines
from pluralign_core.analysis.effects import CROSS_SEPARATOR, DEFINITION, pooled_difference
from pluralign_core.analysis.filters import AnalysisFilter
from pluralign_core.analysis.regression import METHOD
from pluralign_core.ratings.reading import csv_safe
from pluralign_core.store import catalog
from pluralign_core.store.selection import RaterSelection

NONE = "(none)"
DEFAULT_DATASET_ID = "default-simulated"
PROMPT_FILTER_LABELS = {"language": "Prompt language", "topic": "Prompt topic", "split": "Prompt split"}
TABS = ("Group means", "Answer distribution", "% differences", "Mixed model", "Agreement")
CORRECTIONS = {"holm": "Holm (family-wise)", "bh": "Benjamini–Hochberg (FDR)", "none": "none"}


# ----------------------------------------------------------------------------- cached computations
def _shared_figure(builder):
    """``builder`` with its figures built once per input and shared by every session.

    Building the page's six plotly figures took longer than all its (cached) statistics together, on
    every rerun of every session. A shared figure is never changed after it is built: ``st.plotly_chart``
    only serialises it and the HTML download copies it when clicked.
    """
    return st.cache_resource(show_spinner=False, max_entries=256)(builder)


means_chart = _shared_figure(charts.means_chart)
likert_chart = _shared_figure(charts.likert_chart)
heatmap = _shared_figure(charts.heatmap)
coefficient_chart = _shared_figure(charts.coefficient_chart)
alpha_chart = _shared_figure(charts.alpha_chart)
split_chart = _shared_figure(charts.split_chart)


def _key(dataset_id: str) -> tuple[str, str]:
    """Cache key of a dataset: the store file and the dataset fingerprint (changes when rows change)."""
    store = get_store()
    return str(store.path), catalog.dataset_fingerprint(store, dataset_id)


def _filter(filter_json: str) -> AnalysisFilter:
    data = json.loads(filter_json)
    return AnalysisFilter(
        RaterSelection.from_dict(data["raters"]),
        tuple(data["languages"]),
        tuple(data["topics"]),
        tuple(data["splits"]),
    )


@st.cache_data(show_spinner=False, max_entries=64)
def _choices(key: tuple[str, str], dataset_id: str) -> dict:
    store = get_store()
    values = catalog.attribute_value_counts(store, dataset_id)
    prompts = catalog.prompt_facets(store, dataset_id)
    attributes = store.attributes(dataset_id)
    declared = {a.name: a for a in attributes}
    names = [a.name for a in attributes] + sorted(set(values.attribute) - set(declared))
    by_attribute = {}
    for name in names:
        present = list(values.loc[values.attribute == name, "value"])
        by_attribute[name] = analysis.slices.group_order(store, dataset_id, name, present)
    return {
        "attributes": names,
        "labels": {n: (declared[n].label if n in declared else n) for n in names},
        "multi": {n: bool(declared[n].multi_valued) if n in declared else False for n in names},
        "values": by_attribute,
        "prompt_values": {c: prompts[c] for c in PROMPT_FILTER_LABELS},
        "dimensions": [(d.name, d.label or d.name) for d in store.dimensions(dataset_id)],
    }


@st.cache_data(show_spinner="Aggregating ratings…", max_entries=128)
def _means(key, dataset_id, attribute, attribute2, dimensions, filter_json, min_raters) -> pd.DataFrame:
    return analysis.group_means(
        get_store(),
        dataset_id,
        attribute,
        list(dimensions),
        _filter(filter_json),
        attribute2=attribute2,
        min_group_raters=min_raters,
    )


@st.cache_data(show_spinner=False, max_entries=128)
def _distribution(key, dataset_id, attribute, dimensions, filter_json) -> pd.DataFrame:
    return analysis.score_distribution(
        get_store(), dataset_id, attribute, list(dimensions), _filter(filter_json)
    )


@st.cache_data(show_spinner="Comparing groups…", max_entries=128)
def _differences(
    key, dataset_id, attribute, attribute2, reference, dimensions, filter_json, correction, min_raters
):
    return analysis.percent_differences(
        get_store(),
        dataset_id,
        attribute,
        reference,
        list(dimensions),
        _filter(filter_json),
        attribute2=attribute2,
        correction=correction,
        min_group_raters=min_raters,
    )


@st.cache_data(show_spinner="Fitting the mixed model (a few seconds per dimension)…", max_entries=32)
def _mixed(key, dataset_id, attribute, reference, dimensions, filter_json) -> pd.DataFrame:
    return analysis.mixed_model(
        get_store(), dataset_id, attribute, reference, list(dimensions), _filter(filter_json)
    )


@st.cache_data(show_spinner="Computing agreement…", max_entries=64)
def _agreement(key, dataset_id, attribute, dimensions, filter_json) -> tuple[pd.DataFrame, pd.DataFrame]:
    store, filt = get_store(), _filter(filter_json)
    alphas = analysis.alpha_by_group(store, dataset_id, attribute, list(dimensions), filt)
    split = analysis.disagreement_decomposition(store, dataset_id, attribute, list(dimensions), filt)
    return alphas, split


@st.cache_data(show_spinner="Measuring the published effects…", max_entries=8)
def _headlines(key, dataset_id) -> pd.DataFrame:
    """Published vs measured effects, with this page's rater-clustered 95% CI added where it applies."""
    store = get_store()
    table = headlines.measure_headlines(store, dataset_id)
    definitions = {h.name: h for h in headlines.HEADLINES}
    low, high = [], []
    for name in table.name:
        h = definitions.get(name)
        result = {}
        if h is not None and h.attribute in {a.name for a in store.attributes(dataset_id)}:
            result = pooled_difference(store, dataset_id, h.attribute, h.dimension, h.group, h.reference)
        low.append(result.get("pct_ci_low"))
        high.append(result.get("pct_ci_high"))
    position = (
        list(table.columns).index("measured_pct") + 1 if "measured_pct" in table else len(table.columns)
    )
    table.insert(position, "measured_ci_low", low)
    table.insert(position + 1, "measured_ci_high", high)
    return table


def _headline_panel(table: pd.DataFrame) -> None:
    st.caption(
        "The three effects reported by Ali et al. (arXiv 2511.14476) next to the same percent difference "
        "measured on this dataset (95% CI clustered by rater; pooled groups such as conservative + very "
        "conservative count a rater once)."
    )
    first = ["name", "published_pct", "measured_pct", "measured_ci_low", "measured_ci_high", "difference_pts"]
    ordered = table[[c for c in first if c in table] + [c for c in table if c not in first]]
    percent = {c: st.column_config.NumberColumn(format="%+.1f%%") for c in first[1:5]}
    percent["difference_pts"] = st.column_config.NumberColumn(format="%+.1f")
    show_table(ordered, column_config=percent, missing="not measured")
    _downloads(ordered, "headline_findings")


# ----------------------------------------------------------------------------- small UI helpers
def _column_labels(attribute: str, attribute2: str | None, labels: dict[str, str]) -> dict[str, str]:
    """Table headers in the dataset's words: the group columns are named after their attributes."""
    names = {"group": labels.get(attribute, attribute)}
    if attribute2:
        names["group2"] = labels.get(attribute2, attribute2)
    return names


def _largest_group(table: pd.DataFrame) -> int:
    """Position of the group with the most raters: the default reference for comparisons."""
    sizes = table.assign(label=group_label(table)).groupby("label", sort=False).n_raters.max()
    labels = list(dict.fromkeys(group_label(table)))
    return labels.index(max(labels, key=lambda g: (sizes[g], -labels.index(g))))


def _downloads(table: pd.DataFrame, name: str, fig: go.Figure | None = None) -> None:
    """CSV of the table and, with a figure, a standalone HTML of the chart (PNG: the chart's camera icon)."""
    left, right = st.columns(2)
    left.download_button(
        "Download table (CSV)",
        csv_safe(table).to_csv(index=False),
        f"{name}.csv",
        "text/csv",
        key=f"csv_{name}",
    )
    if fig is not None:
        right.download_button(
            "Download chart (HTML)",
            chart_download(fig),
            f"{name}.html",
            "text/html",
            key=f"html_{name}",
        )


def _small_warning(table: pd.DataFrame, min_raters: int, shown_as: str = "hollow markers") -> None:
    if table.empty or "small_group" not in table or not table.small_group.any():
        return
    small = sorted(set(group_label(table[table.small_group])))
    single = sorted(set(group_label(table[table.n_raters < 2]))) if "n_raters" in table else []
    alone = (
        f" With a single rater, {', '.join(single)} get(s) a mean but no CI, % difference or p-value "
        "(*not estimable*)."
        if single
        else ""
    )
    st.warning(
        f"Fewer than {min_raters} raters in: {', '.join(small)}. These groups are shown ({shown_as}) "
        f"but their estimates are noisy; read them with care or widen the filters.{alone}",
        icon=":material/warning:",
    )


# ----------------------------------------------------------------------------- page
st.title("Explore")
st.caption(
    "Do groups of raters rate the same responses differently? Pick an attribute, dimensions and filters."
)

dataset_id = active_dataset_id()
if dataset_id is None:
    st.info("No dataset yet: import one on the Data page (or run `pluralign init`).")
    st.stop()
store = get_store()
info = store.dataset_info(dataset_id)
simulated_notice(info)
key = _key(dataset_id)
choices = _choices(key, dataset_id)
if not choices["attributes"]:
    st.info(f"Dataset {info.name!r} has no rater attributes, so there are no groups to compare.")
    st.stop()
dim_labels = dict(choices["dimensions"])
labels = choices["labels"]

st.caption(f"Dataset: **{info.name}** (`{dataset_id}`); switch datasets in the sidebar.")

headline_table = _headlines(key, dataset_id)
if not headline_table.empty:
    if dataset_id == DEFAULT_DATASET_ID:
        with st.container(border=True):
            st.subheader("Headline findings: published vs measured here")
            _headline_panel(headline_table)
    elif headline_table.measured_pct.notna().any():
        with st.expander("Do the published headline effects hold in this dataset?"):
            _headline_panel(headline_table)

controls = st.columns([2, 2, 3])
default_attribute = "gender" if "gender" in choices["attributes"] else choices["attributes"][0]
attribute = controls[0].selectbox(
    "Attribute",
    choices["attributes"],
    index=choices["attributes"].index(default_attribute),
    format_func=lambda a: labels.get(a, a),
    key="explore_attribute",
)
attribute2_choice = controls[1].selectbox(
    "Cross with",
    [NONE, *[a for a in choices["attributes"] if a != attribute]],
    format_func=lambda a: labels.get(a, a),
    key="explore_attribute2",
)
attribute2 = None if attribute2_choice == NONE else attribute2_choice
dimension_names = [name for name, _ in choices["dimensions"]]
dimensions = controls[2].multiselect(
    "Dimensions",
    dimension_names,
    default=dimension_names,
    format_func=dim_labels.get,
    key="explore_dimensions",
)
if choices["multi"].get(attribute) or (attribute2 and choices["multi"].get(attribute2)):
    st.caption(
        ":material/info: A multi-valued attribute (e.g. race): a rater who lists several values counts in "
        "each of those groups, so group sizes can add up to more than the number of raters."
    )

with st.expander("Filters and settings", expanded=False):
    rater_filters: dict[str, tuple[str, ...]] = {}
    filter_columns = st.columns(3)
    for i, name in enumerate(choices["attributes"]):
        picked = filter_columns[i % 3].multiselect(
            labels.get(name, name), choices["values"][name], key=f"explore_filter_{name}"
        )
        if picked:
            rater_filters[name] = tuple(picked)
    prompt_picks = {}
    prompt_columns = st.columns(3)
    for i, (column, label) in enumerate(PROMPT_FILTER_LABELS.items()):
        prompt_picks[column] = prompt_columns[i].multiselect(
            label, choices["prompt_values"][column], key=f"explore_prompt_{column}"
        )
    settings = st.columns(2)
    min_raters = int(
        settings[0].number_input(
            "Minimum raters per group",
            min_value=1,
            value=analysis.DEFAULT_MIN_GROUP_RATERS,
            help="Smaller groups are still shown, but flagged: their intervals are wide and unstable.",
            key="explore_min_raters",
        )
    )
    correction = settings[1].radio(
        "Multiple-comparison correction",
        list(CORRECTIONS),
        format_func=CORRECTIONS.get,
        horizontal=True,
        key="explore_correction",
    )

analysis_filter = AnalysisFilter(
    RaterSelection(rater_filters),
    languages=tuple(prompt_picks["language"]),
    topics=tuple(prompt_picks["topic"]),
    splits=tuple(prompt_picks["split"]),
)
filter_json = json.dumps(analysis_filter.to_dict(), sort_keys=True)
if not dimensions:
    st.info("Pick at least one dimension.")
    st.stop()
dims = tuple(dimensions)

means = _means(key, dataset_id, attribute, attribute2, dims, filter_json, min_raters)
if means.empty:
    st.warning(f"No ratings match the filters ({analysis_filter.label}). Remove a filter to see data.")
    st.stop()
st.caption(
    f"{analysis_filter.label} · {int(means.n_ratings.sum()):,} ratings in view · 95% confidence intervals "
    "clustered by rater (each rater gives several ratings)."
)

headers = _column_labels(attribute, attribute2, labels)
dim_values = {"dimension": dim_labels}
group_labels = list(dict.fromkeys(group_label(means)))
reference = st.selectbox(
    "Reference group for % differences",
    group_labels,
    index=_largest_group(means),
    key=f"explore_reference_{attribute}_{attribute2}",
    help=f"Each other group is compared with this one (default: the group with the most raters). "
    f"{DEFINITION}.",
)

# Only the open tab's statistics are computed and sent: a rerun (an attribute change, a new session) does
# one tab's work instead of five, and switching tabs reruns the page with the others' results cached.
tab_means, tab_likert, tab_diff, tab_model, tab_agree = st.tabs(
    list(TABS), key="explore_tab", on_change="rerun"
)

with tab_means:
    if tab_means.open:
        _small_warning(means, min_raters)
        fig = means_chart(means, dim_labels, labels.get(attribute, attribute), info.scale)
        show_chart(fig, f"group_means_{attribute}", key="chart_means", html=False)
        if display.clip_to_scale(means, info.scale).ci_clipped.any():
            st.caption(
                f":material/info: Some 95% CIs reach past the {info.scale.minimum}–{info.scale.maximum} "
                "scale (few raters): they are drawn clipped at the scale's end, marked by a grey triangle; "
                "the table keeps the unclipped interval."
            )
        show_table(means, labels=headers, values=dim_values)
        _downloads(means, f"group_means_{attribute}", fig)

with tab_likert:
    if tab_likert.open:
        distribution = _distribution(key, dataset_id, attribute, dims, filter_json)
        st.caption(f"Share of each answer by {labels.get(attribute, attribute)}.")
        _small_warning(display.flag_small(raters_per_group(means), min_raters), min_raters, "as bars")
        fig = likert_chart(distribution, dim_labels, info.scale)
        show_chart(fig, f"answer_distribution_{attribute}", key="chart_likert", html=False)
        _downloads(distribution, f"answer_distribution_{attribute}", fig)

with tab_diff:
    if tab_diff.open:
        diffs = _differences(
            key, dataset_id, attribute, attribute2, reference, dims, filter_json, correction, min_raters
        )
        if diffs.empty:
            st.info("Only one group has ratings here, so there is nothing to compare.")
        else:
            st.caption(
                f"Difference of each group's mean rating from **{reference}**: {DEFINITION} (`diff`, with "
                f"its 95% CI). * = significant at 5% after {CORRECTIONS[correction]} correction across all "
                "cells shown. CIs by the delta method, clustered by rater. A comparison with a group of "
                "fewer than 2 raters is *not estimable*: one rater gives no rater-clustered CI or p-value."
            )
            _small_warning(diffs, min_raters, "in the heatmap")
            fig = heatmap(diffs, dim_labels)
            show_chart(fig, f"percent_differences_{attribute}", key="chart_diffs", html=False)
            first = [
                "dimension", "group", "reference", "diff", "diff_ci_low", "diff_ci_high",
                "pct_diff", "pct_ci_low", "pct_ci_high", "p_adjusted",
            ]  # fmt: skip
            diffs = diffs[first + [c for c in diffs.columns if c not in first]]
            show_table(diffs, labels=headers, values=dim_values)
            _downloads(diffs, f"percent_differences_{attribute}", fig)

with tab_model:
    if tab_model.open:
        st.caption(
            f"Fitted: {METHOD}. A coefficient is the difference from the reference group in scale points "
            "among raters of the same responses, after each rater's overall leniency. A group that never "
            "rated the same responses as the others (e.g. a country whose raters saw answers in their own "
            "language only) is *not identified*: the response effects absorb its whole difference."
        )
        if attribute2:
            st.info("The mixed model uses the first attribute only.")
        model_reference = reference.split(CROSS_SEPARATOR)[0]
        if st.toggle("Fit the mixed model", key="explore_fit_model"):
            try:
                coefficients = _mixed(key, dataset_id, attribute, model_reference, dims, filter_json)
            except ValueError as error:
                st.error(str(error))
            else:
                notes = sorted(set(coefficients.note) - {""})
                for note in notes:
                    st.caption(f":material/info: {note}")
                if not coefficients.empty:
                    _small_warning(display.flag_small(coefficients, min_raters), min_raters, "in the chart")
                    fig = (
                        coefficient_chart(coefficients, dim_labels) if coefficients.identified.any() else None
                    )
                    if fig is not None:
                        show_chart(fig, f"mixed_model_{attribute}", key="chart_model", html=False)
                    show_table(coefficients, labels=headers, missing="not identified", values=dim_values)
                    _downloads(coefficients, f"mixed_model_{attribute}", fig)

with tab_agree:
    if tab_agree.open:
        alphas, split = _agreement(key, dataset_id, attribute, dims, filter_json)
        st.caption(
            "Krippendorff's alpha (ordinal) among all raters and among the raters of each group: 1 = "
            "perfect agreement, 0 = no more than chance. Below: how much of the spread of ratings of the "
            "same response lies between groups rather than within them, beyond what chance alone puts "
            "between a few ratings' group means (`share_between_raw` minus its expectation with no group "
            "effect; near 0 when groups do not differ)."
        )
        alphas = display.flag_small(alphas, min_raters)
        _small_warning(alphas[alphas.group != "all raters"], min_raters, "as hatched bars")
        fig = alpha_chart(alphas, dim_labels, labels.get(attribute, attribute))
        show_chart(fig, f"agreement_{attribute}", key="chart_alpha", html=False)
        show_table(alphas, labels=headers, values=dim_values)
        _downloads(alphas, f"agreement_{attribute}", fig)
        fig = split_chart(split, dim_labels)
        show_chart(fig, f"disagreement_split_{attribute}", key="chart_split", html=False)
        show_table(split, values=dim_values)
        _downloads(split, f"disagreement_split_{attribute}", fig)
