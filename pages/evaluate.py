"""Evaluate: answer the held-out prompts with one model and score the answers.

Thin UI over :mod:`pluralign_core.evaluation`: pick the base model or a trained adapter and queue an
evaluation. It runs as its own process (:class:`EvaluationQueue`, the same queue code as training runs),
so navigating away, a browser reload or an app restart does not stop it; this page polls its folder
every two seconds for progress and offers Cancel. Then read any stored evaluation — per-dimension means
with confidence intervals, the change against a base-model evaluation and the answers themselves — and
download each table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import plotly.express as px
import streamlit as st

from pages import _grid_report as grid_report
from pages._downloads import show_chart
from pages._frame import active_dataset_id, active_dataset_info, get_store, simulated_notice
from pages._tables import show_table
from pluralign_core import paths
from pluralign_core.analysis import display
from pluralign_core.analysis.colours import group_colours
from pluralign_core.chat.pool import default_base_ref
from pluralign_core.evaluation.config import ALL_LANGUAGES, CLASSIFIER_SCORER, EvaluationConfig
from pluralign_core.evaluation.evaluate import check_evaluation
from pluralign_core.evaluation.jobs import EvaluationQueue
from pluralign_core.evaluation.results import EvaluationResult, evaluations, load_result, relative_change
from pluralign_core.experiments.demo_process import demo_matrix_document
from pluralign_core.ratings.reading import csv_safe
from pluralign_core.store import catalog

BASE_LABEL = "base model"
ACTIVE = ("queued", "running")


@st.cache_resource
def _queue(root: str) -> EvaluationQueue:
    """One queue per folder for the app's lifetime (it keeps handles of the processes it started)."""
    return EvaluationQueue(Path(root))


def get_queue() -> EvaluationQueue:
    return _queue(str(paths.subdir("evaluations")))


@st.cache_data(show_spinner="Loading the evaluation…", max_entries=32)
def _load(path: str) -> EvaluationResult:
    return load_result(path)


def _adapters(store) -> dict[str, str]:
    """Every registered adapter (one tuned on another dataset can answer these prompts too)."""
    rows = store.artifacts("adapter")
    return {f"{row.name} ({row.artifact_id})": row.artifact_id for row in rows.itertuples()}


def _launch_form(store, dataset_id: str) -> None:
    """The form offers only what the dataset has: its prompt languages, and its training prompts when no
    prompt is held out; a dataset without prompts (or without prompt languages) gets one sentence why."""
    shape = catalog.dataset_shape(store, dataset_id)
    if shape.n_prompts == 0:
        st.warning(
            "This dataset has no prompts (its texts stand alone), so there is nothing for a model to answer: "
            "evaluation needs prompts. Import a dataset with a prompt column to evaluate models on it.",
            icon=":material/block:",
        )
        return
    if not shape.languages:
        st.warning(
            "This dataset's prompts have no language, and evaluation answers prompts per language: re-import "
            "it with a language column (or a constant one, e.g. all 'en') to evaluate models on it.",
            icon=":material/block:",
        )
        return
    split = "heldout"
    if shape.n_heldout == 0:
        split = "train"
        st.warning(
            "No prompt of this dataset is held out, so the evaluation answers its training prompts: a tuned "
            "model has seen them, so read its scores as fit, not as generalisation.",
            icon=":material/warning:",
        )
    adapters = _adapters(store)
    languages_present = list(shape.languages)
    with st.form("evaluate_form", border=True):
        left, middle, right = st.columns([2, 1, 1])
        choice = left.selectbox("Model", [BASE_LABEL, *adapters], key="eval_model")
        languages = left.multiselect(
            "Languages", languages_present, default=languages_present, key="eval_languages"
        )
        prompts_label = "Held-out" if split == "heldout" else "Training"
        max_prompts = middle.number_input(
            f"{prompts_label} prompts per language (0 = all)", 0, 500, 3, key="eval_max_prompts"
        )
        max_new_tokens = middle.number_input("Answer length (tokens)", 8, 512, 48, key="eval_max_new_tokens")
        seed = right.number_input("Seed", 0, 2**31 - 1, 0, key="eval_seed")
        greedy = right.checkbox("Greedy decoding (deterministic)", True, key="eval_greedy")
        submitted = st.form_submit_button("Evaluate model", type="primary")
    if not submitted:
        return
    model_id = adapters.get(choice, "base")
    try:
        config = EvaluationConfig(
            dataset_id=dataset_id,
            model_id=model_id,
            base_model=default_base_ref() if model_id == "base" else "",
            languages=list(languages),
            split=split,
            max_prompts=int(max_prompts),
            max_new_tokens=int(max_new_tokens),
            seed=int(seed),
            greedy=bool(greedy),
        )
        label = check_evaluation(store, config)
    except (ValueError, KeyError, FileNotFoundError, OSError) as error:
        st.error(f"The evaluation did not run: {error}")
        return
    queue = get_queue()
    evaluation_id = queue.submit(config)
    queue.poll()
    st.session_state["eval_job"] = evaluation_id
    st.success(f"Queued evaluation `{evaluation_id}` of {label}; follow it below.")


def _job_detail(queue: EvaluationQueue, job: Any) -> None:
    """Progress bar and Cancel for an active evaluation; the error and log for one that did not finish."""
    if job.state in ACTIVE:
        text = f"{job.state} · {job.message or 'waiting for a free slot'}"
        st.progress(min(max(job.fraction, 0.0), 1.0), text=f"{job.evaluation_id}: {text}")
        if st.button("Cancel", key=f"eval_cancel_{job.evaluation_id}", icon=":material/stop:"):
            queue.cancel(job.evaluation_id)
            st.rerun()  # the whole page: a click may come in a full run, where a fragment rerun is refused
        return
    st.error(f"Evaluation {job.evaluation_id} {job.state}: {job.error or 'stopped before it finished'}")
    with st.expander("Log", expanded=job.state != "cancelled"):
        log = queue.status(job.evaluation_id).get("log_tail") or queue.log_tail(job.evaluation_id, 60)
        st.code(log or "(no output)", language="text")


@st.fragment(run_every=2)
def jobs_panel(dataset_id: str) -> None:
    """Queued and running evaluations of this dataset; a full rerun when one finishes shows its results."""
    queue = get_queue()
    queue.poll()
    jobs = queue.jobs(dataset_id)
    completed = set(jobs.evaluation_id[jobs.state == "completed"])
    known = st.session_state.get("eval_completed")
    st.session_state["eval_completed"] = completed
    if known is not None and completed - known:
        watched = st.session_state.get("eval_job")
        if watched in completed - known:
            st.session_state["eval_show_next"] = watched
            st.toast(f"Evaluation {watched} finished.")
        st.rerun()
    watched = st.session_state.get("eval_job")
    shown = jobs[jobs.state.isin(ACTIVE) | ((jobs.evaluation_id == watched) & (jobs.state != "completed"))]
    for job in shown.itertuples():
        _job_detail(queue, job)
    if not jobs.empty:
        with st.expander(f"Queued evaluations ({len(jobs)})"):
            show_table(jobs, key="eval_jobs_table", missing="–")


def _summary_chart(summary: pd.DataFrame, dimensions: list[str]):
    pooled = summary[(summary.language == ALL_LANGUAGES) & (summary.scorer != CLASSIFIER_SCORER)]
    pooled = pooled[pooled.dimension.isin(dimensions)]
    if pooled.empty:
        return None
    pooled = pooled.assign(
        error_plus=pooled.ci_high - pooled["mean"], error_minus=pooled["mean"] - pooled.ci_low
    )
    return px.bar(
        pooled,
        x="dimension",
        y="mean",
        color="group",
        color_discrete_map=group_colours(list(pooled.group)),
        barmode="group",
        error_y="error_plus",
        error_y_minus="error_minus",
        title="How each group's reward model rates the answers (mean, 95% CI over prompts)",
        labels={"mean": "predicted rating", "dimension": "", "group": "Group"},
    )


def _dimension_labels() -> dict[str, str]:
    """The active dataset's dimension labels (an evaluation scores that dataset's dimensions)."""
    dataset_id = active_dataset_id()
    return {d.name: d.label or d.name for d in get_store().dimensions(dataset_id)} if dataset_id else {}


def _download(table: pd.DataFrame, name: str, key: str) -> None:
    st.download_button(
        "Download table (CSV)",
        csv_safe(table).to_csv(index=False).encode("utf-8"),
        f"{name}.csv",
        "text/csv",
        key=key,
    )


def _show(rows: pd.DataFrame) -> None:
    if "eval_show_next" in st.session_state:  # set by the jobs panel before this picker is drawn
        st.session_state["eval_pick"] = st.session_state.pop("eval_show_next")
    labels = {row.artifact_id: f"{row.name} · {row.artifact_id}" for row in rows.itertuples()}
    if st.session_state.get("eval_pick") not in labels:
        st.session_state.pop("eval_pick", None)  # deleted meanwhile: fall back to the newest
    evaluation_id = st.selectbox("Evaluation", list(labels), format_func=labels.get, key="eval_pick")
    folders = dict(zip(rows.artifact_id, rows.path.astype(str), strict=True))
    path = folders[evaluation_id]
    try:
        result = _load(path)
    except (OSError, ValueError, KeyError) as error:
        st.error(f"Evaluation {evaluation_id} cannot be read from {path}: {error}")
        return
    st.subheader("Results")
    st.caption(
        f"Model **{result.meta.get('model_label', result.model_id)}** on "
        f"{result.generations.prompt_key.nunique()} {result.config.split} prompts × "
        f"{len(result.config.languages)} language(s), {result.config.max_new_tokens} tokens, "
        f"{'greedy' if result.config.greedy else 'sampled'} decoding, seed {result.config.seed}."
    )
    rated = sorted(result.summary.dimension.dropna().unique())
    dim_labels = _dimension_labels()
    shown = st.multiselect(
        "Dimensions",
        rated,
        default=rated,
        format_func=lambda d: dim_labels.get(d, d),
        key="eval_dimensions",
    )
    figure = _summary_chart(result.summary, shown)
    if figure is not None:
        show_chart(figure, f"{evaluation_id}-summary", key="eval_chart", html=True)
    show_table(result.summary, values={"dimension": dim_labels})
    _download(result.summary, f"{evaluation_id}-summary", "eval_summary_csv")

    bases = rows[rows.config.map(lambda c: (c or {}).get("model_id") == "base")]
    bases = bases[bases.artifact_id != evaluation_id]
    if result.model_id != "base" and not bases.empty:
        st.subheader("Change against the base model")
        base_id = st.selectbox(
            "Base-model evaluation", list(bases.artifact_id), key="eval_base_pick", format_func=labels.get
        )
        base = _load(folders[base_id])
        change = relative_change(result, base)
        change = change[change.language == ALL_LANGUAGES]
        st.caption(
            f"{display.readable_name('improvement_pct')} is positive when the model is better (for toxicity: "
            "the reduction in %)."
        )
        show_table(change, values={"dimension": dim_labels})
        _download(change, f"{evaluation_id}-vs-{base_id}", "eval_change_csv")
    elif result.model_id != "base":
        st.info("Evaluate the base model too (same settings) to see the relative change.")

    st.subheader("Answers")
    show_table(result.generations[["prompt_key", "language", "prompt_text", "response"]])
    _download(result.generations, f"{evaluation_id}-answers", "eval_answers_csv")


st.title("Evaluate")
simulated_notice(active_dataset_info())
store = get_store()
dataset_id = active_dataset_id()
if dataset_id is None:
    st.warning("No dataset yet: import one on the Data page.")
    st.stop()
st.markdown(
    "Answer the dataset's **held-out** prompts with one model (fixed, seeded decoding) and score each answer "
    "with an offline toxicity classifier and with every group's reward model (*how would group G rate "
    "this?*). Train group reward models on the Chat page or with `pluralign reward`; the grid on the "
    "Trade-offs page evaluates many models at once."
)
_launch_form(store, dataset_id)
jobs_panel(dataset_id)
demo_matrix = demo_matrix_document(dataset_id)
if demo_matrix is not None:
    with st.expander("Group × model agreement of the demo's models (likelihood measure)", expanded=True):
        grid_report.likelihood(demo_matrix, "eval_demo")
        diagonals = pd.DataFrame(
            [{"comparison": name, **values} for name, values in demo_matrix["diagonals"].items()]
        )
        if not diagonals.empty:
            st.caption(
                "Own group's adapter minus the other group's adapter, on the own group's held-out pairs "
                "(margin points, paired 95 % CI): *resolved* only when the CI excludes 0 and the own "
                "adapter agrees more."
            )
            show_table(diagonals, key="eval_demo_diagonals")
stored = evaluations(store, dataset_id)
if stored.empty:
    st.info("No evaluations of this dataset yet. Evaluate the base model first: it is the reference.")
    st.stop()
_show(stored)
