"""Preferences: turn ratings into DPO preference pairs under explicit choices, inspect them and save them.

Thin UI over :mod:`pluralign_core.preferences.build` (building), :mod:`pluralign_core.preferences.jury`
(reweighting) and
:mod:`pluralign_core.preferences.export` (saving). Building is cached on the store file, the dataset's
fingerprint and the exact configuration, so unrelated widgets do not rebuild.
"""

from __future__ import annotations

import json
from typing import Any

import plotly.express as px
import streamlit as st

from pages._downloads import show_chart
from pages._frame import active_dataset_id, get_store, simulated_notice
from pages._tables import show_table
from pluralign_core import paths
from pluralign_core.analysis.display import format_number
from pluralign_core.preferences.build import (
    DISAGREEMENT,
    NEUTRAL,
    SCALES,
    PreferenceConfig,
    PreferenceResult,
    build_preferences,
    compare_results,
    describe_choices,
)
from pluralign_core.preferences.counts import no_pairs_reason
from pluralign_core.preferences.expected_flips import simulated_flip_shares
from pluralign_core.preferences.export import export_preferences
from pluralign_core.preferences.unpaired import (
    build_unpaired,
    export_unpaired,
    saved_sets,
    to_jsonl,
    why_no_pairs,
)
from pluralign_core.ratings.reading import csv_safe
from pluralign_core.store import catalog
from pluralign_core.store.selection import RaterSelection

DISAGREEMENT_LABELS = {
    "majority": "Majority vote",
    "preserve": "Preserve disagreement",
    "soft": "Soft labels",
}
PREVIEW_COLUMNS = [
    "prompt",
    "chosen",
    "rejected",
    "weight",
    "probability",
    "judgement_share",
    "agreement",
    "n_raters",
]


PRESET_KEY = "preferences_preset"  # set by the Items page: two groups and a prompt whose flips to show
CONTESTED_PROMPT = "contested_prompt"


def _apply_preset(dataset_id: str) -> None:
    """Turn a preset from the Items page into widget values: one group here, the other in the comparison,
    its dimension, and the prompt whose contested pairs to show (set before the widgets exist)."""
    preset = st.session_state.pop(PRESET_KEY, None)
    if not preset or preset.get("dataset_id") != dataset_id:
        return
    for key in [k for k in st.session_state if str(k).startswith(("main_filter_", "compare_filter_"))]:
        st.session_state[key] = []
    st.session_state[f"main_filter_{preset['attribute']}"] = [preset["first"]]
    st.session_state[f"compare_filter_{preset['attribute']}"] = [preset["second"]]
    st.session_state["dims"] = [preset["dimension"]]
    st.session_state[CONTESTED_PROMPT] = preset["prompt_id"]


def _fingerprint(dataset_id: str) -> tuple[str, str]:
    store = get_store()
    return str(store.path), catalog.dataset_fingerprint(store, dataset_id)


@st.cache_data(show_spinner="Building preference pairs…", max_entries=16)
def _build(config_json: str, _key: tuple[str, str]) -> PreferenceResult:
    return build_preferences(get_store(), PreferenceConfig.from_dict(json.loads(config_json)))


def build(config: PreferenceConfig) -> PreferenceResult:
    return _build(json.dumps(config.to_dict(), sort_keys=True), _fingerprint(config.dataset_id))


@st.cache_data(max_entries=8)
def _attribute_values(dataset_id: str, _key: tuple[str, str]) -> dict[str, list[str]]:
    rows = catalog.attribute_value_counts(get_store(), dataset_id)
    return {a: list(group.value) for a, group in rows.groupby("attribute", sort=True)}


@st.cache_data(max_entries=8)
def _attribute_labels(dataset_id: str, _key: tuple[str, str]) -> dict[str, str]:
    return {a.name: a.label or a.name for a in get_store().attributes(dataset_id)}


def _selection_widgets(values: dict[str, list[str]], prefix: str) -> dict[str, list[str]]:
    dataset_id = str(active_dataset_id())
    labels = _attribute_labels(dataset_id, _fingerprint(dataset_id))
    filters: dict[str, list[str]] = {}
    for attribute, options in values.items():
        chosen = st.multiselect(
            labels.get(attribute, attribute),
            options,
            key=f"{prefix}_filter_{attribute}",
            placeholder="everyone",
        )
        if chosen:
            filters[attribute] = chosen
    return filters


def _jury_widgets(values: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    dataset_id = str(active_dataset_id())
    labels = _attribute_labels(dataset_id, _fingerprint(dataset_id))
    attributes = st.multiselect(
        "Balance raters by", list(values), format_func=lambda a: labels.get(a, a), key="jury_attributes"
    )
    jury: dict[str, dict[str, float]] = {}
    for attribute in attributes:
        options = values[attribute]
        st.caption(
            f"Target shares for **{labels.get(attribute, attribute)}** (normalised to sum to 1; 0 leaves a "
            "group out)"
        )
        columns = st.columns(min(len(options), 4))
        shares = {}
        for i, value in enumerate(options):
            shares[value] = columns[i % len(columns)].number_input(
                value, 0.0, 1.0, round(1 / len(options), 3), 0.05, key=f"jury_{attribute}_{value}"
            )
        if sum(shares.values()) > 0:
            jury[attribute] = shares
    return jury


def _config_widgets(dataset_id: str) -> PreferenceConfig:
    store = get_store()
    values = _attribute_values(dataset_id, _fingerprint(dataset_id))
    dimensions = store.dimensions(dataset_id)
    labels = {d.name: d.label + ("" if d.higher_is_better else " (lower is better)") for d in dimensions}
    left, right = st.columns(2)
    with left:
        st.subheader("Who gives feedback")
        filters = _selection_widgets(values, "main")
        with st.expander("Jury: reweight raters to target proportions"):
            jury = _jury_widgets(values)
        st.subheader("Dimensions")
        default = ["toxicity"] if "toxicity" in labels else [dimensions[0].name]
        default = None if "dims" in st.session_state else default  # a preset from Items set it already
        chosen = st.multiselect("Dimensions", list(labels), default, format_func=labels.get, key="dims")
        weights = {}
        for name in chosen:
            weights[name] = (
                st.slider(f"Weight of {labels[name]}", 0.0, 1.0, 1.0, 0.05, key=f"w_{name}")
                if len(chosen) > 1
                else 1.0
            )
    with right:
        st.subheader("How ratings become pairs")
        scale = st.radio("Scale", SCALES, horizontal=True, key="scale")
        neutral = st.radio(
            "Neutral ratings (binary scale)",
            NEUTRAL,
            horizontal=True,
            key="neutral",
            disabled=scale != "binary",
        )
        disagreement = st.radio(
            "Disagreement",
            DISAGREEMENT,
            format_func=DISAGREEMENT_LABELS.get,
            horizontal=True,
            key="disagreement",
        )
        aggregate = st.radio(
            "Majority vote aggregate",
            ["median", "mean"],
            format_func=str.capitalize,
            horizontal=True,
            key="aggregate",
            disabled=disagreement != "majority",
        )
        fmt = st.radio("Format", ["conversational", "plain"], horizontal=True, key="format")
        languages = catalog.prompt_facets(store, dataset_id)["language"]
        language = st.selectbox("Prompt language", ["all", *languages], key="language")
        cap = st.number_input("Max pairs per prompt (0 = no limit)", 0, 100_000, 0, key="cap")
        seed = st.number_input("Seed", 0, 2**31 - 1, 0, key="seed")
    if not weights:
        st.warning("Choose at least one dimension.")
        st.stop()
    return PreferenceConfig(
        dataset_id=dataset_id,
        selection={"filters": filters},
        jury=jury,
        dimensions=weights if sum(weights.values()) > 0 else {k: 1.0 for k in weights},
        scale=scale,
        neutral_as=neutral,
        disagreement=disagreement,
        aggregate=aggregate,
        format=fmt,
        language=None if language == "all" else language,
        seed=int(seed),
        max_pairs_per_prompt=int(cap) or None,
    )


def _text(value) -> str:
    if isinstance(value, list):
        return " / ".join(str(m.get("content", "")) for m in value)
    return str(value)


def _counts(result: PreferenceResult) -> None:
    stats = result.stats
    cols = st.columns(6)
    cols[0].metric("Pairs", f"{stats['pairs']:,}")
    cols[1].metric("Ties dropped", f"{stats['ties_dropped']:,}")
    cols[2].metric(
        "Duplicates",
        f"{stats['duplicates']:,}",
        help="Rows repeating an earlier pair (by design in "
        "'preserve disagreement', where a pair appears once per rater behind it).",
    )
    cols[3].metric(
        "Pairs per prompt",
        f"{stats['pairs_per_prompt_mean']:.1f}",
        help=f"min {stats['pairs_per_prompt_min']}, max {stats['pairs_per_prompt_max']}",
    )
    raters, effective = stats["raters_used"], stats["effective_sample_size"]
    cols[4].metric(
        "Raters",
        format_number(raters, "count"),
        help=f"Raters whose ratings enter the pairs, of {stats['raters_selected']:,} selected (a selected "
        "rater who rated none of the paired answers adds nothing).",
    )
    cols[5].metric(
        "Effective sample size",
        format_number(effective, "count"),
        help="How many equally weighted raters the same raters are worth (Kish's (Σw)²/Σw²). It equals the "
        "rater count unless a jury gives raters different weights; then it is smaller.",
    )
    if round(effective) < raters:
        st.caption(
            f":material/info: The jury's weights make the {format_number(raters, 'count')} raters count as "
            f"{format_number(effective, 'count')} equally weighted ones: the more unequal the weights, the "
            "fewer."
        )
    if result.jury is not None:
        st.caption(f"Jury shares reached: {result.jury.achieved}")


def _histogram(result: PreferenceResult) -> None:
    if result.pairs.empty:
        st.warning(no_pairs_reason(result.stats))
        return
    fig = px.histogram(
        result.pairs, x="agreement", nbins=20, range_x=[0.5, 1.0],
        title="Agreement of the pairs (0.5: raters split evenly, 1: unanimous)",
    )  # fmt: skip
    fig.update_layout(xaxis_title="Agreement", yaxis_title="Pairs")
    show_chart(fig, "agreement", key="agreement_hist")


def _preview(result: PreferenceResult) -> None:
    preview = result.pairs.head(200).copy()
    for column in ("prompt", "chosen", "rejected"):
        preview[column] = preview[column].map(_text)
    show_table(preview[[c for c in PREVIEW_COLUMNS if c in preview]], key="preview")
    flat = result.pairs.copy()
    for column in ("prompt", "chosen", "rejected"):
        flat[column] = flat[column].map(_text)
    st.download_button(
        "Pairs (CSV)", csv_safe(flat).to_csv(index=False), "pairs.csv", "text/csv", key="pairs_csv"
    )


def _compare(config: PreferenceConfig, result: PreferenceResult, values: dict[str, list[str]]) -> None:
    st.subheader("Compare with another group")
    st.caption(
        "Same choices, a different rater selection: which pairs flip direction between the two groups?"
    )
    other_filters = _selection_widgets(values, "compare")
    other = build(PreferenceConfig.from_dict({**config.to_dict(), "selection": {"filters": other_filters},
                                              "jury": {}}))  # fmt: skip
    contested = compare_results(result, other)
    st.metric(
        "Contested pairs",
        f"{len(contested):,} of {len(result.summary):,}",
        help="Response pairs whose preferred response differs (or is a tie in one group only).",
    )
    _expected_flips(config)
    prompt = st.session_state.get(CONTESTED_PROMPT)
    if prompt is not None and prompt not in set(contested.prompt_id):
        st.caption(f"No pair of prompt {prompt} (opened from Items) flips between these two selections.")
    if contested.empty:
        return
    if prompt in set(contested.prompt_id) and st.checkbox(
        f"Only prompt {prompt} (opened from Items)", True, key="contested_only_prompt"
    ):
        contested = contested[contested.prompt_id == prompt]
    text = catalog.response_texts(get_store(), config.dataset_id)
    table = contested.assign(text_a=contested.response_a.map(text), text_b=contested.response_b.map(text))[
        [
            "prompt_id",
            "text_a",
            "text_b",
            "direction_first",
            "p_a_first",
            "direction_second",
            "p_a_second",
            "gap",
        ]
    ]
    table = table.rename(columns={
        "direction_first": f"this: {result.config.rater_selection.label}",
        "direction_second": f"other: {other.config.rater_selection.label}",
    })  # fmt: skip
    show_table(table, key="contested")
    st.download_button(
        "Contested pairs (CSV)", csv_safe(table).to_csv(index=False), "contested.csv", "text/csv"
    )


@st.cache_data(show_spinner=False, max_entries=16)
def _flip_shares(key: tuple[str, str], dataset_id: str, dimensions: tuple) -> Any:
    del key  # cache key only: store file and dataset fingerprint
    return simulated_flip_shares(get_store(), dataset_id, dict(dimensions))


def _expected_flips(config: PreferenceConfig) -> None:
    """For simulated data: how many pairs the groups' *expected* preferences flip (the model is known)."""
    shares = _flip_shares(
        _fingerprint(config.dataset_id), config.dataset_id, tuple(sorted(config.dimensions.items()))
    )
    if shares is None:
        return
    st.caption(
        "In expectation (from the simulation's rating model, so without sampling noise), these shares of "
        "same-prompt answer pairs are preferred in opposite directions by the two groups; the contested "
        "pairs above also include pairs that flip by chance."
    )
    shown = shares.assign(flipped_pct=100 * shares.flip_share)
    show_table(shown[["contrast", "response_pairs", "flipped", "flipped_pct"]], key="expected_flips")


def _save(config: PreferenceConfig, result: PreferenceResult) -> None:
    st.subheader("Save preference set")
    default = f"{config.dataset_id}-{config.disagreement}-{config.scale}-{config.fingerprint()[:6]}"
    previous = st.session_state.get("save_name_default")
    if st.session_state.get("save_name") in (None, previous):  # not edited by the user: follow the choices
        st.session_state["save_name"] = default
    st.session_state["save_name_default"] = default
    name = st.text_input("Name", key="save_name")
    replace = st.checkbox("Replace a set already saved under this name", key="save_replace")
    if st.button("Save preference set", type="primary", key="save", disabled=result.pairs.empty):
        try:
            with st.spinner("Exporting (datasets folder, JSONL, Parquet, card) and registering…"):
                folder, artifact_id = export_preferences(get_store(), result, name, overwrite=replace)
        except ValueError as error:
            st.error(str(error))
            return
        st.success(f"Saved {len(result.pairs):,} pairs to `{folder}` (registered as `{artifact_id}`). "
                   "Pick it on the Train page.")  # fmt: skip
    _saved_sets(config.dataset_id)


def _saved_sets(dataset_id: str) -> None:
    """The dataset's saved sets, paired (DPO / GRPO) and unpaired (KTO), in one list."""
    saved = saved_sets(get_store(), dataset_id)
    if not saved.empty:
        with st.expander(f"Saved preference sets ({len(saved)})"):
            show_table(saved[["name", "kind", "path", "created_at"]])


def _unpaired(dataset_id: str) -> None:
    """Desirable / undesirable per text for a rater selection, in trl's unpaired (KTO) format."""
    store = get_store()
    values = _attribute_values(dataset_id, _fingerprint(dataset_id))
    st.subheader("Unpaired labels (KTO)")
    st.caption(
        "A text is **desirable** when the selected raters' mean rating is on the better side of the scale "
        "midpoint (below it for a lower-is-better dimension), **undesirable** on the worse side; a mean "
        "exactly on the midpoint gives no label. trl's KTO trainer learns from such labels without pairs."
    )
    dimensions = store.dimensions(dataset_id)
    labels = {d.name: d.label + ("" if d.higher_is_better else " (lower is better)") for d in dimensions}
    left, right = st.columns(2)
    with left:
        filters = _selection_widgets(values, "kto")
    with right:
        dimension = st.selectbox("Dimension", list(labels), format_func=labels.get, key="kto_dimension")
    result = build_unpaired(store, dataset_id, dimension, RaterSelection(filters))
    stats = result.stats
    cols = st.columns(5)
    cols[0].metric("Texts labelled", f"{stats['labelled']:,}", help=f"of {stats['texts']:,} texts rated")
    cols[1].metric("Desirable", f"{stats['desirable']:,}")
    cols[2].metric("Undesirable", f"{stats['undesirable']:,}")
    cols[3].metric("Ties dropped", f"{stats['ties_dropped']:,}", help="mean exactly on the scale midpoint")
    cols[4].metric(
        "Raters",
        f"{stats['raters_used']:,}",
        help=f"raters who rated these texts, of {stats['raters_selected']:,} selected",
    )
    if result.labels.empty:
        st.warning(
            "No text gets a label with these choices: widen the rater selection or pick another dimension."
        )
        return
    show_table(result.labels.head(200), key="kto_preview")
    name = st.text_input("Name", f"{dataset_id}-{dimension}-unpaired", key="kto_name")
    left, right = st.columns(2)
    left.download_button(
        "Unpaired labels (JSONL)", to_jsonl(result), f"{paths.safe_name(name)}.jsonl", "application/jsonl",
        key="kto_jsonl",
    )  # fmt: skip
    if right.button("Save unpaired set", key="kto_save", type="primary"):
        try:
            folder, artifact_id = export_unpaired(store, result, name)
        except ValueError as error:
            st.error(str(error))
            return
        st.success(f"Saved {stats['labelled']:,} labels to `{folder}` (trl unpaired preference format, "
                   f"registered as `{artifact_id}`).")  # fmt: skip


st.title("Preferences")
st.caption(
    "Turn ratings into preference pairs for DPO. Who gives feedback and how their ratings become training "
    "data change the aligned model, so every choice is explicit here and saved with the data."
)
dataset_id = active_dataset_id()
if not dataset_id:
    st.info("No dataset yet: import one on the Data page.")
    st.stop()
simulated_notice(get_store().dataset_info(dataset_id))
_apply_preset(dataset_id)
with st.expander("What each choice does to the data"):
    for title, text in describe_choices().items():
        st.markdown(f"**{title}.** {text}")
shape = catalog.dataset_shape(get_store(), dataset_id)
reason = why_no_pairs(shape.n_prompts, shape.n_shared_prompts)
if reason:
    st.info(reason, icon=":material/info:")
    _unpaired(dataset_id)
    _saved_sets(dataset_id)
    st.stop()
config = _config_widgets(dataset_id)
try:
    result = build(config)
except ValueError as error:
    st.error(str(error))
    st.stop()
_counts(result)
_histogram(result)
_preview(result)
_compare(config, result, _attribute_values(dataset_id, _fingerprint(dataset_id)))
_save(config, result)
with st.expander("Unpaired labels (KTO): one desirable / undesirable label per response"):
    _unpaired(dataset_id)
