"""Trade-offs: run the study's design-choice grid and compare the resulting models in one place.

Thin UI over :mod:`pluralign_core.experiments` (the grid's plan, its saved state, launch / resume / stop
through :mod:`~pluralign_core.experiments.process`) and :mod:`pluralign_core.experiments.tradeoffs` (the
tables). Results are read from the grid's ``grid.json`` and the stored evaluations, cached on the grid id
and its last update time, so widgets that only change a chart do not reload anything.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from pages import _grid_report as grid_report
from pages._downloads import chart_download, show_chart
from pages._frame import active_dataset_id, active_dataset_info, get_store, simulated_notice
from pages._tables import show_table
from pluralign_core import paths
from pluralign_core.experiments import grid_comparisons, process, reference_run, report, tradeoffs
from pluralign_core.experiments.grid_config import preset
from pluralign_core.experiments.plan import available_groups, plan_grid
from pluralign_core.experiments.state import list_grids, load_grid
from pluralign_core.ratings.reading import csv_safe
from pluralign_core.store import catalog

MEASURES = {
    "reduction_rm_pct": "all-raters toxicity reward model",
    "reduction_classifier_pct": "offline toxicity classifier",
}


COMPARISON_MEASURE = {"reduction_rm_pct": "reward_model", "reduction_classifier_pct": "classifier"}


@st.cache_data(show_spinner="Comparing design choices (bootstrap)…", max_entries=16)
def _comparisons(home: str, grid_id: str, updated: float) -> pd.DataFrame:
    del home, updated  # cache keys only
    return grid_comparisons.paired_design_comparisons(load_grid(grid_id).data, paths.subdir("evaluations"))


@st.cache_data(show_spinner="Computing the grid's report (bootstrap CIs)…", max_entries=16)
def _report(home: str, grid_id: str, updated: float) -> dict:
    del home, updated  # cache keys only
    return report.report_data(load_grid(grid_id).data, paths.subdir("evaluations"))


@st.cache_data(show_spinner="Reading the shipped reference run…", max_entries=2)
def _reference() -> dict | None:
    try:
        return reference_run.reference_report()
    except FileNotFoundError:
        return None


@st.cache_data(show_spinner="Loading the grid's evaluations…", max_entries=16)
def _results(home: str, grid_id: str, updated: float) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    del home, updated  # cache keys only
    state = load_grid(grid_id)
    return tradeoffs.load_grid_results(state.data, paths.subdir("evaluations"))


def _downloads(name: str, table: pd.DataFrame, fig: go.Figure | None, key: str) -> None:
    left, right = st.columns(2)
    left.download_button(
        "Download table (CSV)",
        csv_safe(table).to_csv(index=True).encode("utf-8"),
        f"{name}.csv",
        "text/csv",
        key=f"{key}_csv",
    )
    if fig is not None:
        right.download_button(
            "Download chart (HTML)",
            chart_download(fig),
            f"{name}.html",
            "text/html",
            key=f"{key}_html",
        )


# ----------------------------------------------------------------------------------------------- launch
st.title("Trade-offs")
info = active_dataset_info()
simulated_notice(info)
store = get_store()
dataset_id = active_dataset_id()
if dataset_id is None:
    st.warning("No dataset yet: import one on the Data page.")
    st.stop()

st.markdown(
    "The study's results are comparisons: preserving rater disagreement vs majority vote, a 5-point vs a "
    "binary scale, DPO vs GRPO, single vs multi-objective tuning, and models tuned on different groups. "
    "The **grid** trains one model per design choice on the active dataset, evaluates each on the held-out "
    "prompts (an offline toxicity classifier and every group's reward models) and draws the trade-offs "
    "below, with the study's reported effects as reference markers."
)
shape = catalog.dataset_shape(store, dataset_id)
with st.expander("Run the comparison grid", expanded=not list_grids()):
    blockers = [note for note in shape.limitations() if "grid" in note]
    for note in blockers:
        st.warning(f"This dataset cannot run the grid. {note}", icon=":material/block:")
    choice = st.radio(
        "Budget preset",
        ["demo", "reference", "full"],
        format_func=str.capitalize,
        horizontal=True,
        key="grid_preset",
        captions=[
            "~30 min on 2 CPU cores: design cells × 3 seeds from the unaligned start",
            "~90 min on 2 CPU cores: + group and multi-objective cells, 5 seeds",
            "for a GPU (hours on a CPU)",
        ],
    )
    config = preset(choice, dataset_id=dataset_id)
    groups = available_groups(store, dataset_id, config.groups)
    if groups != config.groups:
        left_out = [g for g in config.groups if g not in groups]
        st.caption(f"No group model for {', '.join(left_out)}: this dataset has no raters of that group.")
        config = dataclasses.replace(config, groups=groups)
    dimensions = list(shape.dimensions)
    single = config.single_dimension if config.single_dimension in dimensions else None
    if single is None and dimensions:
        st.caption(
            f"The study's single-objective model tunes on {config.single_dimension}, which this dataset "
            "does not rate; pick the dimension it should tune on."
        )
        dim_labels = {d.name: d.label or d.name for d in store.dimensions(dataset_id)}
        single = st.selectbox(
            "Single-objective dimension",
            dimensions,
            format_func=lambda d: dim_labels.get(d, d),
            key="grid_single_dimension",
        )
        config = dataclasses.replace(config, single_dimension=single)
    try:
        plan = plan_grid(store, config)
    except ValueError as error:
        plan = None
        st.warning(f"The grid cannot be planned on this dataset: {error}")
    if plan is not None:
        st.caption(
            f"{len(plan.cells)} cells, {plan.training_runs} training runs: " + ", ".join(plan.cell_ids),
        )
    if st.button("Run grid", type="primary", key="grid_run", disabled=plan is None or bool(blockers)):
        overrides = {} if single == preset(choice).single_dimension else {"single_dimension": single}
        grid_id, pid = process.launch(choice, dataset_id, groups=groups, **overrides)
        st.session_state["grid_selected"] = grid_id
        st.success(f"Started grid {grid_id} (process {pid}). Progress appears below.")

shipped = _reference()
if shipped is not None:
    with st.expander(
        f"Reference run shipped with the app ({shipped['preset']} preset, grid {shipped['grid_id']} on "
        f"{shipped['dataset_id']})"
    ):
        wall = (shipped.get("timings") or {}).get("wall_seconds")
        st.caption(
            f"Regenerate with `{shipped['regenerate']}`; fingerprint {shipped['fingerprint']}"
            + ("" if shipped["fingerprint_matches_preset"] else " (the preset has changed since: rerun it)")
            + (f"; {wall / 60:.0f} min on {shipped['machine'].get('cores')} cores" if wall else "")
        )
        reference_measure = st.radio(
            "Measured by",
            list(grid_report.MEASURE_NAMES),
            format_func=grid_report.MEASURE_NAMES.get,
            horizontal=True,
            key="reference_measure",
        )
        grid_report.reductions(shipped, reference_measure, "reference")
        grid_report.comparisons(shipped, reference_measure, "reference")
        grid_report.likelihood(shipped, "reference")
        grid_report.answers(shipped, "reference")

states = [s for s in list_grids() if s.data.get("dataset_id") == dataset_id]
if not states:
    st.info("No grid has run on this dataset yet. Start one above (or `pluralign grid --preset demo`).")
    st.stop()
ids = [s.grid_id for s in states]
selected = st.session_state.get("grid_selected")
grid_id = st.selectbox(
    "Grid",
    ids,
    index=ids.index(selected) if selected in ids else 0,
    key="grid_pick",
    format_func=lambda i: f"{i} ({load_grid(i).data.get('state')})",
)


@st.fragment(run_every=5)
def _progress(grid_id: str) -> None:
    state = load_grid(grid_id)
    running = process.is_running(state)
    progress = state.data.get("progress", {})
    counts = state.counts()
    st.progress(
        float(progress.get("fraction", 0.0)), text=f"{state.data.get('state')}: {progress.get('message', '')}"
    )
    st.caption(f"{counts['done']}/{len(state.cells)} cells done, {counts['failed']} failed")
    cells = pd.DataFrame(
        [
            {"cell": c, "state": state.cells[c]["state"], "error": state.cells[c].get("error") or ""}
            for c in state.data["cell_order"]
        ]
    )
    show_table(cells)
    buttons = st.columns(3)
    if running:
        if buttons[0].button("Stop grid", key="grid_stop"):
            process.stop(grid_id)
            st.rerun()
    elif counts["done"] < len(state.cells) and buttons[0].button("Resume grid", key="grid_resume"):
        process.launch(resume=grid_id)
        st.rerun()


_progress(grid_id)
state = load_grid(grid_id)
cells, long, generations = _results(str(paths.home()), grid_id, float(state.data.get("updated", 0)))
if long.empty:
    st.info("No finished evaluations in this grid yet; charts appear as cells finish.")
    st.stop()

# ------------------------------------------------------------------------------------- toxicity reduction
st.header("Toxicity reduction by design choice")
measure = st.radio(
    "Toxicity measured by", list(MEASURES), format_func=MEASURES.get, horizontal=True, key="grid_measure"
)
document = _report(str(paths.home()), grid_id, float(state.data.get("updated", 0)))
grid_report.reductions(document, COMPARISON_MEASURE[measure], "grid")
with st.expander("Relative change per training run (%, no CI: one run per bar)"):
    table = tradeoffs.toxicity_by_cell(long)
    bars = px.bar(
        table,
        x="label",
        y=measure,
        color="family",
        labels={measure: "toxicity reduction vs the start (%)", "label": "", "family": "Design family"},
        title=f"Toxicity reduction against the start, one bar per run ({MEASURES[measure]})",
    )
    bars.update_layout(xaxis_tickangle=-30)
    show_chart(bars, "toxicity_by_cell", key="grid_reduction", html=False)
    _downloads("toxicity_by_cell", table.set_index("cell_id"), bars, "reduction")

st.header("Likelihood measure: did tuning move the model towards the group's held-out preferences?")
grid_report.likelihood(document, "grid")
st.subheader("Answers beside the scores")
grid_report.answers(document, "grid")

st.subheader("Design choices compared, per held-out prompt and seed")
comparisons = _comparisons(str(paths.home()), grid_id, float(state.data.get("updated", 0)))
shown = comparisons[comparisons.measure == COMPARISON_MEASURE[measure]]
if shown.empty:
    st.info("No comparison has both of its sides finished yet (or no base cell to measure reductions from).")
else:
    fig = px.scatter(
        shown.assign(
            error_plus=shown.ci_high - shown.difference, error_minus=shown.difference - shown.ci_low
        ),
        x="name",
        y="difference",
        color="language",
        error_y="error_plus",
        error_y_minus="error_minus",
        symbol="resolved",
        labels={
            "name": "",
            "difference": "A − B, toxicity reduction (points)",
            "language": "Language",
            "resolved": "Resolved",
        },
        title="Option A's toxicity reduction minus option B's, with 95 % CIs (paired over prompts and seeds)",
    )
    fig.add_hline(y=0, line_dash="dot")
    show_chart(fig, "design_choice_comparisons", key="grid_comparisons", html=False)
    show_table(shown, key="grid_comparisons_table")
    st.caption(
        "Reductions are the start model's toxicity on a held-out prompt minus the tuned model's, in the "
        "scorer's points (1–5 scale for the all-raters reward model; probability for the classifier, English "
        "only). *Resolved*: the 95 % CI excludes 0 and the Holm-adjusted p-value (across every comparison "
        "shown for this grid) is below 0.05. *Relative %* = (A − B) / |B| is given only when B's own "
        "reduction is resolved. *Matches study*: resolved, in the study's direction, and both options "
        "actually reduced toxicity. Languages are never pooled."
    )
    _downloads("design_choice_comparisons", shown.set_index("name"), fig, "comparisons")

# ------------------------------------------------------------------------------------- group heatmap
st.header("Models tuned on group G, rated by group H")
dimensions = ["(all dimensions)", *sorted(long.dimension.unique())]
heat_labels = {d.name: d.label or d.name for d in store.dimensions(dataset_id)}
dimension = st.selectbox(
    "Dimension", dimensions, format_func=lambda d: heat_labels.get(d, d), key="grid_heat_dim"
)
matrix = tradeoffs.group_matrix(long, dimension=None if dimension == dimensions[0] else dimension)
if matrix.empty:
    st.info("No group-specific cells finished yet.")
else:
    heat = px.imshow(
        matrix,
        text_auto=".2f",
        color_continuous_scale="RdYlGn",
        aspect="auto",
        labels={"x": "rated by (reward model of group H)", "y": "model", "color": "score 0–1"},
        title="Predicted rating (0–1, higher = better for that group)",
    )
    show_chart(heat, "group_heatmap", key="grid_heatmap", html=False)
    _downloads("group_heatmap", matrix, heat, "heatmap")

# ------------------------------------------------------------------------------------- safety vs inclusivity
st.header("Safety vs inclusivity")
points = tradeoffs.safety_inclusivity(long)
scatter = px.scatter(
    points,
    x="safety",
    y="inclusivity",
    color="family",
    symbol="pareto",
    hover_name="label",
    hover_data=["worst_group"],
    labels={
        "family": "Design family",
        "pareto": "On the Pareto front",
        "worst_group": "Worst group",
        "safety": "Safety",
        "inclusivity": "Inclusivity",
    },
    title="Safety (all raters, non-toxicity) vs inclusivity (worst group's score on the other dimensions)",
)
front = points[points.pareto].sort_values("safety")
scatter.add_scatter(
    x=front.safety,
    y=front.inclusivity,
    mode="lines",
    name="Pareto front",
    line={"dash": "dash", "color": "grey"},
)
show_chart(scatter, "safety_inclusivity", key="grid_scatter", html=False)
_downloads("safety_inclusivity", points.set_index("cell_id"), scatter, "scatter")

# ------------------------------------------------------------------------------------- single vs multi
st.header("Single vs multi-objective")
objective = tradeoffs.objective_comparison(long)
if objective.empty:
    st.info("The single-objective cell has not finished yet.")
else:
    melted = objective.reset_index().melt(id_vars="dimension", var_name="model", value_name="score")
    grouped = px.bar(
        melted,
        x="dimension",
        y="score",
        color="model",
        barmode="group",
        labels={"dimension": "Dimension", "score": "Score", "model": "Model"},
        title="All raters' predicted rating (0–1, higher = better) per dimension",
    )
    show_chart(grouped, "single_vs_multi", key="grid_objective", html=False)
    _downloads("single_vs_multi", objective, grouped, "objective")

# ------------------------------------------------------------------------------------- sample responses
st.header("Sample responses")
if generations.empty:
    st.info("No generations stored yet.")
else:
    prompts = generations.drop_duplicates(["prompt_key", "language"])[
        ["prompt_key", "language", "prompt_text"]
    ]
    options = list(range(len(prompts)))
    index = st.selectbox(
        "Prompt",
        options,
        key="grid_prompt",
        format_func=lambda i: f"[{prompts.iloc[i].language}] {prompts.iloc[i].prompt_text[:90]}",
    )
    chosen = prompts.iloc[index]
    st.text(chosen.prompt_text)
    sample = tradeoffs.sample_responses(generations, chosen.prompt_key, chosen.language)
    for row in sample.itertuples():
        st.caption(row.label)
        st.text(row.response if isinstance(row.response, str) and row.response else "(empty answer)")
    _downloads("sample_responses", sample.set_index("cell_id"), None, "samples")
    st.download_button(
        "Download all generations (CSV)",
        csv_safe(generations).to_csv(index=False).encode("utf-8"),
        "generations.csv",
        "text/csv",
        key="generations_csv",
    )
