"""Train page: configure a DPO or GRPO run, queue it, and follow runs live.

The form is rendered from :class:`RunConfig`'s fields (type, ``help``, ``choices``, ``group`` metadata, via
:meth:`RunConfig.form_fields`), so a new config field shows up here without a hand-written widget. A run can
also be queued from an uploaded or edited YAML config; the form and the YAML go through the same typed
validation, and a wrong type or unknown key is shown as one line naming the key. Runs are separate
processes started by :class:`JobQueue`; this page only reads their run folders (``status.json``,
``trainer_log.jsonl``, ``process.log``) every two seconds, so a browser reload or app restart loses nothing.
"""

from __future__ import annotations

import typing
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from pages._config_form import field_widget, field_widgets
from pages._downloads import show_chart
from pages._frame import active_dataset_info, get_store, simulated_notice
from pages._tables import show_table
from pluralign_core import paths
from pluralign_core.config_base import FormField
from pluralign_core.models.base import EMBEDDED_MODEL
from pluralign_core.ratings.reading import csv_safe
from pluralign_core.training.config import RunConfig
from pluralign_core.training.jobs import JobQueue

GROUP_TITLES = {
    "loss": "Loss",
    "lora": "LoRA",
    "optimizer": "Optimizer and schedule",
    "lengths": "Lengths and sampling",
}
SPECIAL_WIDGETS = ("base_model", "preference_set", "prompt_set", "reward_models")
OTHER_MODEL = "Local folder or hub id…"


@st.cache_resource
def _queue(root: str) -> JobQueue:
    """One queue per runs folder for the app's lifetime (it keeps handles of the processes it started)."""
    return JobQueue(Path(root))


def get_queue() -> JobQueue:
    return _queue(str(paths.subdir("runs")))


def _path_choice(label: str, artifacts, help_text: str, key: str) -> str:
    options = {
        f"{row['name']} ({row['artifact_id']})": row["path"] for _, row in artifacts.iterrows() if row["path"]
    }
    choice = st.selectbox(label, [*options, OTHER_MODEL], help=help_text, key=key)
    if choice == OTHER_MODEL:
        return st.text_input(f"{label}: folder", key=f"{key}_path", help=help_text)
    return options[choice]


def _data_widgets(algorithm: str, fields: dict[str, FormField]) -> dict[str, typing.Any]:
    store = get_store()
    values: dict[str, typing.Any] = {}
    model_choice = st.selectbox(
        "base model",
        ["Embedded SmolLM2-135M-Instruct", OTHER_MODEL],
        help=fields["base_model"].help,
        key="train_base_model_choice",
    )
    values["base_model"] = (
        EMBEDDED_MODEL
        if model_choice != OTHER_MODEL
        else st.text_input("base model folder or hub id", key="train_base_model")
    )
    preference_sets = store.artifacts("preference_set")
    if algorithm == "dpo":
        if preference_sets.empty:
            st.info("No preference set registered yet: build one on the Preferences page, or give a folder.")
        values["preference_set"] = _path_choice(
            "preference set",
            preference_sets,
            fields["preference_set"].help,
            "train_preference_set",
        )
        return values
    values["prompt_set"] = _path_choice(
        "prompt set (or a preference set: its prompts are used)",
        preference_sets,
        fields["prompt_set"].help,
        "train_prompt_set",
    )
    reward_models = store.artifacts("reward_model")
    if reward_models.empty:
        st.info("No reward model registered yet: train group reward models first (pluralign reward).")
    labels = {f"{row['name']} ({row['artifact_id']})": row["path"] for _, row in reward_models.iterrows()}
    chosen = st.multiselect(
        "reward models",
        list(labels),
        help=fields["reward_models"].help,
        key="train_reward_models",
    )
    values["reward_models"] = [labels[c] for c in chosen]
    values["reward_weights"] = [
        float(st.number_input(f"weight of {c}", min_value=0.0, value=1.0, key=f"train_weight_{i}"))
        for i, c in enumerate(chosen)
    ]
    return values


def _queue_run(config: RunConfig) -> None:
    queue = get_queue()
    run_id = queue.submit(config)
    queue.poll()
    st.session_state["train_selected_run"] = run_id
    st.success(f"Queued run `{run_id}`; follow it below.")


def new_run_form() -> None:
    fields = RunConfig.form_fields()
    values: dict[str, typing.Any] = {}
    top = st.columns(2)
    with top[0]:
        values["algorithm"] = field_widget(fields["algorithm"], "train_algorithm")
    with top[1]:
        values["name"] = field_widget(fields["name"], "train_name")
    values.update(_data_widgets(values["algorithm"], fields))
    for group, title in GROUP_TITLES.items():
        with st.expander(title, expanded=group == "optimizer"):
            members = [f for f in fields.values() if f.group == group and f.name not in SPECIAL_WIDGETS]
            values.update(field_widgets(members, "train"))
    if st.button("Queue run", type="primary", key="train_submit", icon=":material/play_arrow:"):
        try:
            config = RunConfig.from_dict(values, source="Train form")
        except ValueError as error:
            st.error(f"The run is not valid: {error}")
            return
        _queue_run(config)


def yaml_run_form() -> None:
    """Queue a run from a run config YAML: uploaded (e.g. from another run folder) or edited here."""
    upload = st.file_uploader("Run config (.yaml)", type=["yaml", "yml"], key="train_yaml_upload")
    text = st.text_area(
        "…or edit a run config",
        value=RunConfig.template_yaml(),
        height=300,
        help="Every field of the form above; unknown keys and wrong types are reported by name.",
        key="train_yaml_text",
    )
    if not st.button("Queue run from YAML", key="train_yaml_submit", icon=":material/upload_file:"):
        return
    try:
        if upload is not None:
            config = RunConfig.from_yaml_text(upload.getvalue().decode("utf-8"), source=upload.name)
        else:
            config = RunConfig.from_yaml_text(text, source="edited run config")
    except (ValueError, UnicodeDecodeError) as error:
        st.error(f"The run config is not valid: {error}")
        return
    _queue_run(config)


def _loss_figure(history) -> go.Figure:
    figure = go.Figure()
    figure.add_scatter(x=history["step"], y=history["loss"], mode="lines+markers", name="loss")
    for column, name in (("reward_margin", "reward margin"), ("reward_mean", "mean reward")):
        if column in history:
            figure.add_scatter(x=history["step"], y=history[column], mode="lines", name=name, yaxis="y2")
    figure.update_layout(
        height=320,
        margin={"t": 30, "b": 30},
        xaxis_title="step",
        yaxis_title="loss",
        yaxis2={"overlaying": "y", "side": "right", "title": "reward"},
    )
    return figure


def run_detail(queue: JobQueue, run_id: str) -> None:
    status = queue.status(run_id)
    progress = queue.progress(run_id)
    state = status.get("state", "unknown")
    step, total = int(progress.get("step") or 0), int(progress.get("max_steps") or 0)
    st.progress(min(step / total, 1.0) if total else 0.0, text=f"{state} · step {step}/{total or '?'}")
    metrics = st.columns(4)
    metrics[0].metric("Loss", f"{progress['loss']:.4f}" if "loss" in progress else "–")
    if "reward_margin" in progress:
        metrics[1].metric("Reward margin", f"{progress['reward_margin']:.4f}")
    elif "reward_mean" in progress:
        metrics[1].metric("Mean reward", f"{progress['reward_mean']:.4f}")
    eta = progress.get("eta")
    metrics[2].metric("Time left", f"{eta:,.0f} s" if eta is not None and state == "running" else "–")
    metrics[3].metric("Elapsed", f"{progress.get('elapsed', 0):,.0f} s")
    if status.get("error"):
        st.error(f"{state}: {status['error']}")
    history = queue.history(run_id)
    if not history.empty:
        figure = _loss_figure(history)
        show_chart(figure, f"{run_id}-loss", key=f"train_chart_{run_id}")
    buttons = st.columns(3)
    if state in ("queued", "running") and buttons[0].button(
        "Cancel", key=f"train_cancel_{run_id}", icon=":material/stop:"
    ):
        queue.cancel(run_id)
        st.rerun(scope="fragment")
    if state in ("interrupted", "failed", "cancelled") and buttons[1].button(
        "Resume from last checkpoint", key=f"train_resume_{run_id}", icon=":material/replay:"
    ):
        try:
            queue.resume(run_id)
            queue.poll()
        except ValueError as error:
            st.error(str(error))
    with st.expander("Log", expanded=state in ("failed", "interrupted")):
        st.code(status.get("log_tail") or queue.log_tail(run_id, 60) or "(no output yet)", language="text")
    card = queue.run_dir(run_id) / "adapter" / "README.md"
    if state == "completed" and card.exists():
        with st.expander("Model card"):
            st.code(card.read_text(encoding="utf-8"), language="markdown", wrap_lines=True)


@st.fragment(run_every=2)
def runs_panel() -> None:
    queue = get_queue()
    queue.poll()
    try:
        queue.register_finished(get_store())
    except Exception as error:  # a busy store only delays registration to the next poll
        st.caption(f"Registering finished runs later: {error}")
    table = queue.runs()
    if table.empty:
        st.info("No runs yet: configure one above and press **Queue run**.")
        return
    show_table(table.drop(columns=["error"]), key="train_runs_table", missing="–")
    st.download_button(
        "Download runs (CSV)",
        csv_safe(table).to_csv(index=False),
        "runs.csv",
        "text/csv",
        key="train_runs_csv",
    )
    ids = list(table.run_id)
    selected = st.session_state.get("train_selected_run")
    run_id = st.selectbox(
        "Run", ids, index=ids.index(selected) if selected in ids else 0, key="train_run_pick"
    )
    run_detail(queue, run_id)


st.title("Train")
simulated_notice(active_dataset_info())
st.caption(
    "Fine-tune a base model with LoRA on one group's preferences (DPO) or rewards (GRPO). Each run is "
    "a separate process writing into its run folder; this page follows it."
)
with st.container(border=True):
    st.subheader("New run")
    new_run_form()
    with st.expander("From a YAML run config"):
        yaml_run_form()
st.subheader("Runs")
runs_panel()
