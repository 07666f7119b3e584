"""Chat page: send one message to 2–4 models (base and adapters) and compare their replies side by side,
each reply with the predicted rating of the selected rater groups on every dimension.

Thin UI over :mod:`pluralign_core.chat.pool` (shared model pool, streaming, export) and
:mod:`pluralign_core.rewards.training` (group reward models). Messages are rendered as plain
text (``st.text``), never as Markdown or HTML: a reply is untrusted text, and Markdown would turn an image
link in it into a request from the user's browser to any URL, which can carry the conversation away.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from pages._chat_votes import current_form, rating_controls, votes_panel
from pages._downloads import show_chart
from pages._frame import active_dataset_id, active_dataset_info, get_store, simulated_notice
from pluralign_core.analysis.colours import group_colours
from pluralign_core.chat.pool import (
    MAX_INPUT_CHARS,
    ChatModelPool,
    ChatModelSpec,
    GenerationSettings,
    available_models,
    check_input,
    conversation_to_json,
    conversation_to_markdown,
    default_base_ref,
    rate_reply,
)
from pluralign_core.experiments.demo_process import demo_chat_models
from pluralign_core.experiments.unaligned_start import TEACHING_LABEL
from pluralign_core.rewards.training import (
    default_groups,
    load_group_reward_models,
    registered_reward_models,
    train_group_reward_models,
)

HISTORY_KEY = "chat_histories"
DEMO_START_KEY = "demo-start"


@st.cache_resource(show_spinner=False)
def get_pool() -> ChatModelPool:
    """One pool per server process: the base weights load once and every session shares them."""
    return ChatModelPool()


@st.cache_resource(show_spinner="Loading the group reward models…", max_entries=8)
def reward_models(dataset_id: str, versions: tuple[tuple[str, str, float], ...]) -> dict:
    """Group reward models of a dataset; ``versions`` (id, path, mtime) makes retrained ones reload."""
    return load_group_reward_models(get_store(), dataset_id, [v[0] for v in versions])


def _versions(rows: pd.DataFrame) -> tuple[tuple[str, str, float], ...]:
    return tuple(
        (r.artifact_id, r.path, (Path(r.path) / "weights.npz").stat().st_mtime) for r in rows.itertuples()
    )


def rating_chart(table: pd.DataFrame):
    """Grouped bars: one bar per group on each dimension; the axis spans the dataset's scale."""
    shown = table.assign(
        dimension=[
            f"{label} ({'↑' if good else '↓'} better)"
            for label, good in zip(table.dimension_label, table.higher_is_better, strict=True)
        ]
    )
    fig = px.bar(
        shown,
        x="predicted",
        y="dimension",
        color="group",
        color_discrete_map=group_colours(list(shown.group)),
        barmode="group",
        orientation="h",
        range_x=[table.scale_min.min(), table.scale_max.max()],
        labels={"predicted": "predicted rating", "dimension": "", "group": ""},
    )
    fig.update_layout(
        height=300,
        margin={"l": 0, "r": 0, "t": 30, "b": 0},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
        yaxis={"autorange": "reversed"},
    )
    return fig


def stream_as_text(chunks: Iterator[object]) -> str:
    """Show a streamed reply as plain text while it arrives (``st.write_stream`` renders Markdown)."""
    placeholder = st.empty()
    reply = ""
    for chunk in chunks:
        reply += str(chunk)
        placeholder.text(reply)
    return reply


def show_ratings(records: list[dict] | None, key: str) -> None:
    if not records:
        return
    table = pd.DataFrame(records)
    show_chart(rating_chart(table), "Predicted group ratings", key=key, html=False)


st.title("Chat side by side")
info = active_dataset_info()
simulated_notice(info)
store = get_store()
dataset_id = active_dataset_id()
pool = get_pool()
specs = {spec.key: spec for spec in available_models(store, default_base_ref())}
# When `pluralign demo` (or the Home page button) has built the demo models, Chat opens with them.
demo = demo_chat_models(dataset_id)
captions: dict[str, str] = {}
if demo is not None:
    start_note = f"Its base, the unaligned start, is a {TEACHING_LABEL}."
    captions = {key: f"{caption} {start_note}" for key, caption in demo.adapters.items() if key in specs}
    specs[DEMO_START_KEY] = ChatModelSpec(
        DEMO_START_KEY, f"Unaligned start ({TEACHING_LABEL})", demo.start_dir
    )
    captions[DEMO_START_KEY] = (
        f"A {TEACHING_LABEL}: the base model fine-tuned on hostile and stereotyped answers, so that "
        "alignment has something to remove. The demo adapters are tuned from it. Do not deploy it."
    )
for spec in specs.values():
    pool.add(spec)
demo_keys = [key for key in (demo.adapters if demo else {}) if key in specs]
default_models = demo_keys[:2] if len(demo_keys) >= 2 else list(specs)[:2]

with st.expander("Models, groups and sampling settings", expanded=True):
    left, right = st.columns(2)
    chosen = left.multiselect(
        "Models (2–4)",
        list(specs),
        default=default_models,
        format_func=lambda key: specs[key].label if key in specs else key,
        max_selections=4,
        key="chat_models",
        help="The base model and every registered adapter. They share one copy of the base weights.",
    )
    rows = registered_reward_models(store, dataset_id) if dataset_id else pd.DataFrame()
    groups_available = sorted({r["selection_label"] for r in rows.config}) if not rows.empty else []
    chosen_groups = right.multiselect(
        "Rater groups to predict ratings for",
        groups_available,
        default=groups_available[:4],
        key="chat_groups",
        help="Each group's reward models predict how that group would rate every reply.",
    )
    if dataset_id and not groups_available:
        right.info("No group reward models for this dataset yet.")
        if right.button("Train the default group reward models", key="chat_train_rewards"):
            bar = right.progress(0.0, "Training group reward models…")
            groups = default_groups(store, dataset_id)
            for index, group in enumerate(groups):
                train_group_reward_models(
                    store,
                    dataset_id,
                    group,
                    progress=lambda f, message, i=index: bar.progress((i + f) / len(groups), message),
                )
            bar.progress(1.0, "Done")
            st.rerun()
    a, b, c, d = st.columns(4)
    temperature = a.slider("Temperature", 0.0, 2.0, 0.7, 0.05, key="chat_temperature", help="0 = greedy")
    top_p = b.slider("Top-p", 0.05, 1.0, 0.9, 0.05, key="chat_top_p")
    max_tokens = c.number_input("Max new tokens", 1, 1024, 200, key="chat_max_tokens")
    seed = d.number_input("Seed", 0, 2**31 - 1, 0, key="chat_seed")
    system_prompt = st.text_area(
        "System prompt",
        "",
        max_chars=MAX_INPUT_CHARS,
        key="chat_system",
        height=70,
        help="Sent before the conversation to every model.",
    )

settings = GenerationSettings(float(temperature), float(top_p), int(max_tokens), int(seed), system_prompt)
histories: dict[str, list[dict]] = st.session_state.setdefault(HISTORY_KEY, {})
selected_rows = (
    rows[rows.config.map(lambda c: c.get("selection_label") in chosen_groups)] if chosen_groups else rows[:0]
)
models_by_group = (
    reward_models(dataset_id, _versions(selected_rows)) if dataset_id and len(selected_rows) else {}
)

if len(chosen) < 2:
    st.info(
        "Choose at least two models to compare. Adapters appear here once a training run registers one "
        "(Train page)."
        if len(specs) < 2
        else "Choose at least two models to compare."
    )

toolbar = st.columns([1, 1, 1, 3])
if toolbar[0].button("Reset conversation", key="chat_reset", icon=":material/restart_alt:"):
    histories.clear()
labelled = {specs[k].label if k in specs else k: histories.get(k, []) for k in chosen}
toolbar[1].download_button(
    "Export JSON",
    conversation_to_json(labelled, settings),
    "pluralign-chat.json",
    "application/json",
    key="chat_export_json",
    disabled=not any(labelled.values()),
)
toolbar[2].download_button(
    "Export Markdown",
    conversation_to_markdown(labelled, settings),
    "pluralign-chat.md",
    "text/markdown",
    key="chat_export_md",
    disabled=not any(labelled.values()),
)


def model_label(key: str) -> str:
    return specs[key].label if key in specs else key


form = current_form(dataset_id)
columns = st.columns(max(len(chosen), 1))
for column, key in zip(columns, chosen, strict=False):
    with column:
        st.subheader(model_label(key), divider="gray")
        if key in captions:
            st.caption(captions[key])
        history_shown = histories.get(key, [])
        if history_shown:
            st.caption(pool.decoding_note(key))
        for index, message in enumerate(history_shown):
            with st.chat_message(message["role"]):
                st.text(message["content"])
                if message["role"] == "assistant":
                    show_ratings(message.get("ratings"), f"chart-{key}-{index}")
                    rating_controls(form, history_shown, index, key, latest=index == len(history_shown) - 1)
if len(chosen) >= 2:
    votes_panel(form, histories, chosen, model_label)

prompt = st.chat_input(
    f"Message all selected models (up to {MAX_INPUT_CHARS:,} characters)", key="chat_input"
)
if prompt is not None and chosen:
    try:
        check_input(prompt)
    except ValueError as error:
        st.error(f"Not sent: {error}")
        prompt = None
if prompt is not None:
    turn = uuid.uuid4().hex[:8]  # matches the replies to this question across models (chat votes)
    for column, key in zip(columns, chosen, strict=False):
        history = histories.setdefault(key, [])
        messages = [*history, {"role": "user", "content": prompt, "turn": turn}]
        with column:
            with st.chat_message("user"):
                st.text(prompt)
            with st.chat_message("assistant"):
                try:
                    with st.spinner("Loading the model…", show_time=True):
                        pool.load(key)
                    reply = stream_as_text(pool.stream_reply(key, messages, settings))
                except (ValueError, OSError) as error:
                    st.error(f"{specs[key].label if key in specs else key} could not reply: {error}")
                    continue
                ratings = rate_reply(reply, prompt, models_by_group) if models_by_group else pd.DataFrame()
                records = ratings.to_dict("records")
                show_ratings(records, f"chart-{key}-{len(messages)}")
        history[:] = [*messages, {"role": "assistant", "content": reply, "ratings": records}]
    st.rerun()

if not models_by_group and dataset_id:
    st.caption("Pick rater groups above to see each group's predicted rating of every reply.")
