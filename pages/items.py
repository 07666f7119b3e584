"""Items: read the prompts and their answers, and see how each group rated each answer.

Thin UI over :mod:`pluralign_core.analysis.items`: the prompt list with each prompt's disagreement score
(its interval and whether it is resolved), filters by topic, language and split, and for the chosen prompt
its text, its answers and each group's rating distribution. A button opens Preferences on the pairs that
flip between the prompt's two most distant groups. Computations are cached on the store file, the
dataset's fingerprint and the settings they use.
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from pages._downloads import show_chart
from pages._frame import active_dataset_id, get_store, simulated_notice
from pages._item_charts import distribution_chart, means_chart
from pluralign_core.analysis import items
from pluralign_core.analysis.slices import group_order
from pluralign_core.ratings.reading import csv_safe
from pluralign_core.store import catalog

PRESET_KEY = "preferences_preset"
DEFAULT_ATTRIBUTE = "gender"
FACET_LABELS = {"topic": "Topic", "language": "Language", "split": "Split"}
CORRECTION_LABELS = {
    "bh": "False coverage rate (Benjamini–Hochberg)",
    "bonferroni": "Bonferroni (family-wise)",
    "none": "Within the prompt only",
}
SORTS = {"disagreement": "Disagreement, largest first", "prompt": "Prompt id"}
TABLE_COLUMNS = {
    "item_id": "Prompt id",
    "text": "Prompt",
    "groups": "Groups furthest apart",
    "diff": "Disagreement",
    "ci_low": "CI low",
    "ci_high": "CI high",
    "resolved": "Resolved",
    "topic": "Topic",
    "language": "Language",
    "split": "Split",
    "n_answers": "Answers",
    "n_raters": "Raters",
}


def _key(dataset_id: str) -> tuple[str, str]:
    store = get_store()
    return str(store.path), catalog.dataset_fingerprint(store, dataset_id)


@st.cache_data(show_spinner=False, max_entries=16)
def _choices(key: tuple[str, str], dataset_id: str) -> dict:
    del key  # cache key only
    store = get_store()
    values = catalog.attribute_value_counts(store, dataset_id)
    declared = {a.name: a.label or a.name for a in store.attributes(dataset_id)}
    names = [n for n in declared if n in set(values.attribute)] + sorted(
        set(values.attribute) - set(declared)
    )
    return {
        "attributes": names,
        "attribute_labels": {n: declared.get(n, n) for n in names},
        "values": {
            n: group_order(store, dataset_id, n, list(values[values.attribute == n].value)) for n in names
        },
        "dimensions": {d.name: d.label or d.name for d in store.dimensions(dataset_id)},
        "facets": catalog.prompt_facets(store, dataset_id),
        "has_pairs": catalog.dataset_shape(store, dataset_id).has_pairs,
    }


@st.cache_data(show_spinner="Scoring how much groups disagree on each prompt…", max_entries=32)
def _scores(key: tuple[str, str], dataset_id: str, settings_json: str) -> pd.DataFrame:
    del key
    s = json.loads(settings_json)
    item_filter = items.ItemFilter(tuple(s["languages"]), tuple(s["topics"]), tuple(s["splits"]))
    return items.item_disagreement(
        get_store(),
        dataset_id,
        s["attribute"],
        s["dimension"],
        item_filter,
        correction=s["correction"],
        min_group_raters=s["min_group_raters"],
    )


@st.cache_data(show_spinner=False, max_entries=64)
def _answers(key: tuple[str, str], dataset_id: str, item_id: str, attribute: str, dimension: str):
    del key
    store = get_store()
    answers = items.item_answers(store, dataset_id, item_id)
    return answers, items.answer_distributions(store, dataset_id, item_id, attribute, dimension)


def _controls(choices: dict) -> dict:
    attributes, dimensions = choices["attributes"], choices["dimensions"]
    several = [a for a in attributes if len(choices["values"][a]) > 1]
    several.sort(key=lambda a: a != DEFAULT_ATTRIBUTE)  # the study's headline contrast first when present
    top = st.columns(4)
    attribute = top[0].selectbox(
        "Groups by",
        attributes,
        index=attributes.index(several[0]) if several else 0,
        format_func=choices["attribute_labels"].get,
        key="items_attribute",
    )
    dimension = top[1].selectbox(
        "Dimension", list(dimensions), format_func=dimensions.get, key="items_dimension"
    )
    correction = top[2].selectbox(
        "Correction across prompts",
        list(CORRECTION_LABELS),
        format_func=CORRECTION_LABELS.get,
        key="items_correction",
    )
    min_raters = top[3].number_input(
        "Fewest raters per group",
        2,
        1000,
        items.DEFAULT_MIN_GROUP_RATERS,
        key="items_min_raters",
        help="Groups with fewer raters on a prompt are shown but do not enter its disagreement score.",
    )
    present = {f: v for f, v in choices["facets"].items() if v}
    chosen = {f: [] for f in FACET_LABELS}
    if present:
        columns = st.columns(len(present) + 1)
        for column, facet in zip(columns, [f for f in FACET_LABELS if f in present], strict=False):
            chosen[facet] = column.multiselect(
                FACET_LABELS[facet], present[facet], key=f"items_{facet}", placeholder="all"
            )
        sort = columns[-1].selectbox("Sort by", list(SORTS), format_func=SORTS.get, key="items_sort")
    else:
        sort = st.selectbox("Sort by", list(SORTS), format_func=SORTS.get, key="items_sort")
    return {
        "attribute": attribute,
        "dimension": dimension,
        "correction": correction,
        "min_group_raters": int(min_raters),
        "languages": chosen["language"],
        "topics": chosen["topic"],
        "splits": chosen["split"],
        "sort": sort,
    }


def _table(scores: pd.DataFrame, facets: dict[str, list[str]]) -> pd.DataFrame:
    shown = scores.assign(
        groups=[
            f"{h} vs {lo}" if isinstance(h, str) else "not estimable"
            for h, lo in zip(scores.group_high, scores.group_low, strict=True)
        ]
    )
    hidden = {f for f, v in facets.items() if not v}
    columns = [c for c in TABLE_COLUMNS if c not in hidden]
    return shown[columns].rename(columns=TABLE_COLUMNS)


def _prompt_table(scores: pd.DataFrame, facets: dict, level_note: str) -> None:
    table = _table(scores, facets)
    st.dataframe(
        table,
        hide_index=True,
        key="items_table",
        height=min(420, 38 + 35 * len(table)),
        column_config={
            "Prompt": st.column_config.TextColumn(width="medium"),
            "Disagreement": st.column_config.NumberColumn(format="%.2f", help=level_note),
            "CI low": st.column_config.NumberColumn(format="%.2f"),
            "CI high": st.column_config.NumberColumn(format="%.2f"),
        },
    )
    st.download_button(
        "Prompts and disagreement (CSV)",
        csv_safe(scores).to_csv(index=False),
        "items.csv",
        "text/csv",
        key="items_csv",
    )


def _flip_link(dataset_id: str, row: pd.Series, settings: dict, has_pairs: bool) -> None:
    if not (has_pairs and row.kind == "prompt" and row.n_answers >= 2 and row.estimable):
        return
    label = f"Pairs that flip between {row.group_high} and {row.group_low} on Preferences"
    if st.button(label, key="items_to_preferences", icon=":material/compare_arrows:"):
        st.session_state[PRESET_KEY] = {
            "dataset_id": dataset_id,
            "attribute": settings["attribute"],
            "first": row.group_high,
            "second": row.group_low,
            "dimension": settings["dimension"],
            "prompt_id": row.item_id,
        }
        st.switch_page("pages/preferences.py")


def _short(text: str, width: int = 90) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _selected(dataset_id: str, scores: pd.DataFrame, settings: dict, choices: dict) -> None:
    labels = dict(zip(scores.item_id, scores.text, strict=True))
    item_id = st.selectbox(
        "Prompt",
        list(scores.item_id),
        format_func=lambda i: f"{i}: {_short(labels[i])}",
        key="items_pick",
    )
    row = scores.set_index("item_id").loc[item_id].copy()
    row["item_id"] = item_id
    st.markdown(f"> {row.text}")
    facts = [f"{FACET_LABELS[f]}: {row[f]}" for f in FACET_LABELS if isinstance(row[f], str)]
    if row.estimable:
        verdict = "resolved" if row.resolved else "not resolved (its interval includes 0)"
        facts.append(
            f"largest difference {row['diff']:.2f} ({row.group_high} {row.mean_high:.2f} vs "
            f"{row.group_low} {row.mean_low:.2f}), {100 * row.ci_level:.2f}% CI "
            f"[{row.ci_low:.2f}, {row.ci_high:.2f}]: {verdict}"
        )
    else:
        facts.append("no two groups with two or more raters each: no disagreement score")
    st.caption(" · ".join(facts))
    _flip_link(dataset_id, row, settings, choices["has_pairs"])
    answers, dist = _answers(
        _key(dataset_id), dataset_id, item_id, settings["attribute"], settings["dimension"]
    )
    word = "Answer" if row.kind == "prompt" else "Text"
    names = {r: f"{word} {i}" for i, r in enumerate(answers.response_id, start=1)}
    for response_id, text, n_raters in answers.itertuples(index=False):
        st.markdown(f"**{names[response_id]}** ({n_raters:,} raters): {text}")
    if dist.counts.empty:
        st.info("Nobody rated these answers on this dimension.")
        return
    info = get_store().dataset_info(dataset_id)
    dimension_label = choices["dimensions"][settings["dimension"]]
    left, right = st.columns([3, 2])
    with left:
        fig = distribution_chart(dist.counts, names, dist.groups, info.scale, dimension_label)
        show_chart(fig, "Item rating distribution", key="items_distribution")
    with right:
        fig = means_chart(dist.means, names, dist.groups, info.scale, dimension_label)
        show_chart(fig, "Item group means", key="items_means")
    means = dist.means.assign(answer=dist.means.response_id.map(names))
    means = means[["answer", "group", "n_raters", "mean", "ci_low", "ci_high"]].rename(
        columns={"answer": "Answer", "group": "Group", "n_raters": "Raters", "mean": "Mean",
                 "ci_low": "CI low", "ci_high": "CI high"}
    )  # fmt: skip
    st.dataframe(means, hide_index=True, key="items_means_table", column_config={
        c: st.column_config.NumberColumn(format="%.2f") for c in ("Mean", "CI low", "CI high")
    })  # fmt: skip
    st.caption("95% CIs clustered by rater; a group of one rater has a mean but no interval.")


st.title("Items")
st.caption(
    "Read the prompts and their answers, and see how each group rated each answer. Sort by how much the "
    "groups disagree on a prompt to find the items where whose ratings count matters most."
)
dataset_id = active_dataset_id()
if not dataset_id:
    st.info("No dataset yet: import one on the Data page.")
    st.stop()
simulated_notice(get_store().dataset_info(dataset_id))
choices = _choices(_key(dataset_id), dataset_id)
if not choices["attributes"] or not choices["dimensions"]:
    st.info("This dataset has no rater attributes or no dimensions, so there are no groups to compare.")
    st.stop()
settings = _controls(choices)
scores = _scores(_key(dataset_id), dataset_id, json.dumps({k: v for k, v in settings.items() if k != "sort"}))
if scores.empty:
    st.info("No prompt matches these filters.")
    st.stop()
if settings["sort"] == "prompt":
    scores = scores.sort_values("item_id").reset_index(drop=True)
with st.expander("How the disagreement score is computed"):
    st.markdown(
        "Each rater's ratings of a prompt's answers are averaged; for every pair of groups with at least the "
        "chosen number of raters each, the difference of their means gets a Welch interval. The score is the "
        "largest difference (in scale points), with a Bonferroni correction over the prompt's pairs and the "
        "chosen correction across the prompts listed. **Resolved** means its interval excludes 0. Raters "
        "without a value are left out of the score."
    )
estimable = scores[scores.estimable]
cols = st.columns(3)
cols[0].metric("Prompts", f"{len(scores):,}")
cols[1].metric("With a disagreement score", f"{len(estimable):,}")
cols[2].metric("Resolved", f"{int(scores.resolved.sum()):,}")
level_note = (
    "Largest difference between two groups' mean ratings; intervals at "
    f"{100 * estimable.ci_level.min():.2f}% or more"
    if not estimable.empty
    else "not estimable"
)
_prompt_table(scores, choices["facets"], level_note)
_selected(dataset_id, scores, settings, choices)
