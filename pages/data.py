"""Data page: what the active dataset holds and who rated it; import real data; delete a dataset.

The import wizard keeps the uploaded file and every mapping choice in session state, so a failed check
loses nothing: the user fixes the mapping (or the file) and checks again. All checking and writing is
done by :func:`pluralign_core.ratings.importing.import_dataset`; this page only collects the mapping.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from pages._frame import active_dataset_info, get_store, simulated_notice, switch_dataset
from pluralign_core import paths
from pluralign_core.ratings.importing import (
    DemographicSpec,
    DimensionSpec,
    ImportReport,
    ImportSpec,
    csv_safe,
    import_dataset,
    infer_spec,
    spec_path,
)
from pluralign_core.ratings.reading import ImportSource, Problems, Table, read_table
from pluralign_core.store import catalog

NONE = "— none —"
EXAMPLES_DIR = paths.DATA_DIR / "examples"
WIZARD_PREFIX = "imp_"
NOT_STATED = "not stated"


@st.cache_data(show_spinner=False, max_entries=32)
def composition(db: str, dataset_id: str, fingerprint: str, attribute: str) -> pd.DataFrame:
    """Raters per value of one attribute; raters without a value count as "not stated"."""
    del fingerprint  # part of the cache key only: a replaced dataset gets a new fingerprint
    return catalog.attribute_composition(get_store(), dataset_id, attribute, NOT_STATED)


@st.cache_data(show_spinner="Reading the file…", max_entries=4)
def read_upload(name: str, data: bytes) -> tuple[Table | None, list]:
    problems = Problems(name)
    table = read_table(ImportSource(name, data), problems)
    return table, problems.errors


def ordered(counts: pd.DataFrame, order: tuple[str, ...]) -> pd.DataFrame:
    rank = {v: i for i, v in enumerate(order)}
    key = counts.value.map(lambda v: (v == NOT_STATED, rank.get(v, len(rank)), str(v)))
    return counts.assign(_key=key).sort_values("_key").drop(columns="_key")


def overview() -> None:
    store = get_store()
    info = active_dataset_info()
    if info is None:
        st.info("The store holds no dataset yet. Import one in the **Import data** tab.")
        return
    listed = store.datasets().set_index("dataset_id").loc[info.dataset_id]
    st.subheader(info.name)
    st.caption(
        f"id `{info.dataset_id}` · source: {info.source or 'unknown'} · scale {info.scale.minimum}–"
        f"{info.scale.maximum}"
    )
    if info.description:
        st.text(info.description)
    dimensions = store.dimensions(info.dataset_id)
    columns = st.columns(5)
    for column, (label, value) in zip(
        columns,
        [
            ("Raters", listed.n_raters),
            ("Prompts", listed.n_prompts),
            ("Responses", listed.n_responses),
            ("Ratings", listed.n_ratings),
            ("Dimensions", len(dimensions)),
        ],
        strict=True,
    ):
        column.metric(label, f"{int(value):,}")
    st.dataframe(
        pd.DataFrame(
            [(d.name, d.label, "higher" if d.higher_is_better else "lower") for d in dimensions],
            columns=["dimension", "label", "better when"],
        ),
        hide_index=True,
    )

    st.subheader("Who rated")
    attributes = store.attributes(info.dataset_id)
    if not attributes:
        st.info("This dataset has no demographic attributes.")
        return
    by_name = {a.name: a for a in attributes}
    name = st.selectbox(
        "Attribute", list(by_name), format_func=lambda n: by_name[n].label or n, key="data_attribute"
    )
    attribute = by_name[name]
    counts = ordered(
        composition(str(store.path), info.dataset_id, str(listed.fingerprint), name), attribute.values
    )
    fig = px.bar(
        counts,
        x="value",
        y="raters",
        labels={"value": attribute.label or name, "raters": "raters"},
        title=f"Raters by {(attribute.label or name).lower()}",
    )
    fig.update_xaxes(type="category")
    st.plotly_chart(fig, key="data_composition")
    if attribute.multi_valued:
        st.caption("Raters could choose several values here, so one rater can count in several bars.")
    left, right = st.columns(2)
    left.download_button(
        "Download counts (CSV)",
        csv_safe(counts).to_csv(index=False).encode("utf-8"),
        file_name=f"{info.dataset_id}-{name}-composition.csv",
        mime="text/csv",
    )
    right.download_button(
        "Download chart (HTML)",
        fig.to_html(include_plotlyjs="cdn").encode("utf-8"),
        file_name=f"{info.dataset_id}-{name}-composition.html",
        mime="text/html",
    )


def set_source(source: ImportSource) -> None:
    """Make ``source`` the file of the wizard and forget the mapping chosen for the previous file."""
    for key in [k for k in st.session_state if str(k).startswith(WIZARD_PREFIX)]:
        del st.session_state[key]
    st.session_state["import_source"] = source
    st.session_state.pop("import_report", None)


def choose_source() -> ImportSource | None:
    uploaded = st.file_uploader(
        "Ratings file (CSV in UTF-8, Parquet or JSON Lines)",
        type=["csv", "parquet", "jsonl"],
        key="import_upload",
    )
    if uploaded is not None:
        source = ImportSource(uploaded.name, uploaded.getvalue())
        if source != st.session_state.get("import_source"):
            set_source(source)
    examples = sorted(p.name for p in EXAMPLES_DIR.glob("*") if p.suffix in (".csv", ".jsonl", ".parquet"))
    if examples:
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        example = left.selectbox("…or try an example file", examples, key="import_example")
        if right.button("Load example", key="import_example_load"):
            set_source(ImportSource(example, (EXAMPLES_DIR / example).read_bytes()))
    return st.session_state.get("import_source")


def column_select(label: str, key: str, columns: list[str], default: str | None, *, optional: bool) -> None:
    options = ([NONE] if optional else []) + columns
    if key not in st.session_state:
        st.session_state[key] = default if default in columns else options[0]
    st.selectbox(label, options, key=key)


def mapping_widgets(table: Table, source: ImportSource) -> None:
    """Widgets for every field of the spec, pre-filled once per file from :func:`infer_spec`."""
    frame = table.frame
    columns = [str(c) for c in frame.columns]
    state = st.session_state
    if "imp__guess" not in state:
        try:
            state["imp__guess"] = infer_spec(frame, paths.safe_name(Path(source.name).stem))
        except ValueError:
            state["imp__guess"] = infer_spec(frame, "imported")
    guess: ImportSpec = state["imp__guess"]
    defaults = {
        "imp_dataset_id": guess.dataset_id,
        "imp_name": Path(source.name).stem,
        "imp_description": "",
        "imp_layout": guess.layout,
        "imp_rating_columns": [d.source for d in guess.dimensions if d.source in columns],
        "imp_demographics": [d.column for d in guess.demographics],
        "imp_multi": [d.column for d in guess.demographics if d.separator],
        "imp_separator": next((d.separator for d in guess.demographics if d.separator), ";"),
        "imp_scale_min": guess.scale_min,
        "imp_scale_max": guess.scale_max,
        "imp_scale_kind": guess.scale_kind,
        "imp_label_map": "",
        "imp_replace": False,
    }
    for key, value in defaults.items():
        state.setdefault(key, value)

    st.markdown("**Dataset**")
    left, right = st.columns(2)
    left.text_input("Dataset id", key="imp_dataset_id", help="letters, digits, '.', '_' and '-'")
    right.text_input("Name", key="imp_name")
    st.text_input("Description (where the data comes from)", key="imp_description")
    st.radio(
        "Layout",
        ["wide", "long"],
        key="imp_layout",
        horizontal=True,
        format_func=lambda v: {"wide": "wide: one row per rater × item", "long": "long: one row per rating"}[
            v
        ],
    )

    st.markdown("**Raters and items**")
    left, right = st.columns(2)
    with left:
        column_select("Rater id", "imp_rater_id", columns, guess.rater_id, optional=False)
        column_select("Response text", "imp_response_text", columns, guess.response_text, optional=False)
        column_select(
            "Prompt text (none: standalone texts)",
            "imp_prompt_text",
            columns,
            guess.prompt_text,
            optional=True,
        )
        column_select("Prompt id", "imp_prompt_id", columns, guess.prompt_id, optional=True)
    with right:
        column_select(
            "Item id (none: derived from the texts)", "imp_item_id", columns, guess.item_id, optional=True
        )
        column_select("Language", "imp_language", columns, guess.language, optional=True)
        column_select("Topic", "imp_topic", columns, guess.topic, optional=True)
        column_select("Split (train/heldout)", "imp_split", columns, guess.split, optional=True)

    st.markdown("**Ratings**")
    if state["imp_layout"] == "wide":
        st.multiselect("Rating columns (one per dimension)", columns, key="imp_rating_columns")
        sources = list(state["imp_rating_columns"])
    else:
        left, right = st.columns(2)
        with left:
            column_select(
                "Dimension column", "imp_dimension_column", columns, guess.dimension_column, optional=False
            )
        with right:
            column_select("Score column", "imp_score_column", columns, guess.score_column, optional=False)
        values = frame[state["imp_dimension_column"]].dropna().astype(str).str.strip()
        sources = sorted(v for v in values.unique() if v)[:50]
    dimensions = [DimensionSpec.guess(s) for s in sources]
    added = set(sources) - set(state.get("imp__sources", []))
    kept = set(state.get("imp_lower_better", []))
    state["imp_lower_better"] = [
        d.source for d in dimensions if d.source in kept or (d.source in added and not d.higher_is_better)
    ]
    state["imp__sources"] = sources
    st.multiselect(
        "Dimensions where lower is better (e.g. toxicity, stereotypical bias)",
        sources,
        key="imp_lower_better",
    )
    if dimensions:
        st.dataframe(
            pd.DataFrame(
                [(d.source, d.name, d.label) for d in dimensions], columns=["source", "dimension", "label"]
            ),
            hide_index=True,
        )
    left, middle, right = st.columns(3)
    left.number_input("Scale minimum", step=1, key="imp_scale_min")
    middle.number_input("Scale maximum", step=1, key="imp_scale_max")
    right.radio(
        "Scores are",
        ["auto", "numeric", "labels"],
        key="imp_scale_kind",
        format_func=lambda v: {"auto": "numbers or labels", "numeric": "numbers", "labels": "text labels"}[v],
    )
    st.text_area(
        "Extra text labels, one 'label = score' per line (English and German agreement labels are built in)",
        key="imp_label_map",
        height=80,
    )

    st.markdown("**Demographics** (each column becomes a rater attribute; blank cells mean 'not stated')")
    rest = [c for c in columns if c not in {state.get("imp_rater_id"), state.get("imp_response_text")}]
    state["imp_demographics"] = [c for c in state["imp_demographics"] if c in rest]
    st.multiselect("Demographic columns", rest, key="imp_demographics")
    state["imp_multi"] = [c for c in state["imp_multi"] if c in state["imp_demographics"]]
    left, right = st.columns([3, 1])
    left.multiselect(
        "Multi-select columns (several values per cell)", state["imp_demographics"], key="imp_multi"
    )
    right.text_input("Separator", key="imp_separator")
    st.checkbox("Replace a dataset with the same id", key="imp_replace")


def spec_from_state(state, frame: pd.DataFrame) -> ImportSpec:
    """The :class:`ImportSpec` the wizard's widgets describe (``ValueError`` when it is inconsistent)."""

    def column(key: str) -> str | None:
        value = state.get(key)
        return None if value in (None, NONE) else value

    long = state["imp_layout"] == "long"
    if long:
        values = frame[state["imp_dimension_column"]].dropna().astype(str).str.strip()
        sources = sorted(v for v in values.unique() if v)
    else:
        sources = list(state["imp_rating_columns"])
    lower = set(state.get("imp_lower_better") or [])
    dimensions = []
    for source in sources:
        guess = DimensionSpec.guess(source)
        dimensions.append(
            DimensionSpec(guess.name, guess.label, source not in lower, source, guess.description)
        )
    label_map = {}
    for number, line in enumerate(str(state.get("imp_label_map") or "").splitlines(), start=1):
        if not line.strip():
            continue
        label, sep, score = line.rpartition("=")
        if not sep or not label.strip():
            raise ValueError(f"extra label line {number} ({line!r}) must look like 'label = score'")
        try:
            label_map[label.strip()] = int(score)
        except ValueError:
            raise ValueError(f"extra label line {number}: {score.strip()!r} is not a whole number") from None
    multi = set(state.get("imp_multi") or [])
    separator = str(state.get("imp_separator") or ";")
    return ImportSpec(
        dataset_id=str(state["imp_dataset_id"]).strip(),
        name=str(state.get("imp_name") or "").strip(),
        description=str(state.get("imp_description") or ""),
        layout=state["imp_layout"],
        rater_id=state["imp_rater_id"],
        item_id=column("imp_item_id"),
        response_text=state["imp_response_text"],
        prompt_text=column("imp_prompt_text"),
        prompt_id=column("imp_prompt_id"),
        language=column("imp_language"),
        topic=column("imp_topic"),
        split=column("imp_split"),
        dimensions=dimensions,
        dimension_column=column("imp_dimension_column") if long else None,
        score_column=column("imp_score_column") if long else None,
        demographics=[
            DemographicSpec(c, separator=separator if c in multi else None) for c in state["imp_demographics"]
        ],
        scale_min=int(state["imp_scale_min"]),
        scale_max=int(state["imp_scale_max"]),
        scale_kind=state["imp_scale_kind"],
        label_map=label_map,
    )


def show_report(report: ImportReport) -> None:
    if report.written:
        counts = ", ".join(f"{v:,} {k}" for k, v in report.counts.items())
        st.success(f"Imported **{report.dataset_id}** ({counts}). It is now the active dataset.")
    elif report.ok:
        counts = ", ".join(f"{v:,} {k}" for k, v in report.counts.items())
        st.success(f"No problems found: the file would import as {counts}. Press **Import** to write it.")
    else:
        more = f" (showing {len(report.problems)})" if report.error_count > len(report.problems) else ""
        st.error(
            f"{report.error_count} problem(s) found{more}; nothing was imported. Fix the mapping above or "
            "the file, then check again — your file and choices are kept."
        )
        problems = report.problems_frame(include_warnings=False)
        st.dataframe(problems, hide_index=True, key="import_problems")
        st.download_button(
            "Download problems (CSV)",
            csv_safe(problems).to_csv(index=False).encode("utf-8"),
            file_name=f"{report.file}-problems.csv",
            mime="text/csv",
        )
    formulas = [p for p in report.warnings if p.kind == "formula_like_cell"]
    if formulas:
        columns = ", ".join(sorted({str(p.column) for p in formulas if p.column}))
        st.warning(
            f"Some cells start with =, +, - or @ (columns: {columns or 'several'}). A spreadsheet would run "
            "them as formulas; pluralign keeps them as plain text and escapes them in every CSV download. "
            "Check the notes below if that is not what you expect.",
            icon=":material/warning:",
        )
    if report.warnings:
        with st.expander(f"{report.warning_count} note(s)"):
            st.dataframe(report.problems_frame().query("severity == 'warning'"), hide_index=True)


def importer() -> None:
    st.markdown(
        "Import your own ratings: **1** upload a file, **2** check the preview, **3** map the columns, "
        "**4** check, **5** import. Nothing is written until the whole file passes the check."
    )
    source = choose_source()
    if source is None:
        return
    table, errors = read_upload(source.name, source.data)
    st.markdown(f"**Preview of `{source.name}`**")
    if table is None:
        st.error("The file cannot be read; nothing was imported. Fix the file and upload it again.")
        st.dataframe(
            pd.DataFrame([(p.kind, p.row, p.message) for p in errors], columns=["kind", "row", "message"]),
            hide_index=True,
        )
        return
    st.caption(f"{len(table.frame):,} rows × {len(table.frame.columns)} columns (first 20 rows shown)")
    st.dataframe(table.frame.head(20), hide_index=True)
    mapping_widgets(table, source)
    try:
        spec = spec_from_state(st.session_state, table.frame)
    except ValueError as error:
        st.error(f"The mapping is incomplete: {error}")
        return
    with st.expander("Import spec (YAML)"):
        st.code(spec.to_yaml(), language="yaml")
        st.download_button(
            "Download spec", spec.to_yaml().encode("utf-8"), file_name=f"{spec.dataset_id}.yaml"
        )
    left, right = st.columns(2)
    replace = bool(st.session_state.get("imp_replace"))
    if left.button("Check file", key="import_check", icon=":material/fact_check:"):
        st.session_state["import_report"] = import_dataset(
            get_store(), source, spec, replace=replace, dry_run=True
        )
    if right.button("Import", key="import_run", type="primary", icon=":material/upload:"):
        with st.spinner("Checking and importing…"):
            report = import_dataset(get_store(), source, spec, replace=replace)
        st.session_state["import_report"] = report
        if report.written:
            switch_dataset(report.dataset_id)
            st.rerun()
    report = st.session_state.get("import_report")
    if report is not None:
        show_report(report)


def manage() -> None:
    store = get_store()
    datasets = store.datasets()
    if datasets.empty:
        st.info("No datasets yet.")
        return
    table = datasets[["dataset_id", "name", "simulated", "n_raters", "n_prompts", "n_responses", "n_ratings"]]
    st.dataframe(table, hide_index=True)
    st.download_button(
        "Download list (CSV)", csv_safe(table).to_csv(index=False).encode("utf-8"), file_name="datasets.csv"
    )
    st.markdown("**Delete a dataset**")
    target = st.selectbox("Dataset", list(datasets.dataset_id), key="delete_target")
    confirmed = st.checkbox(
        f"Yes, delete `{target}` with all its raters and ratings (this cannot be undone)",
        key="delete_confirm",
    )
    if st.button("Delete dataset", key="delete_run", disabled=not confirmed, icon=":material/delete:"):
        store.delete_dataset(target)
        folder = spec_path(target).parent
        if folder.exists():
            shutil.rmtree(folder)
        st.session_state.pop("delete_confirm", None)
        if st.session_state.get("dataset_id") == target or store.active_dataset() is None:
            switch_dataset(store.active_dataset())
        st.session_state["deleted_message"] = f"Deleted dataset `{target}`."
        st.rerun()


st.title("Data")
simulated_notice(active_dataset_info())
if message := st.session_state.pop("deleted_message", None):
    st.success(message)
tab_overview, tab_import, tab_manage = st.tabs(["Active dataset", "Import data", "Manage datasets"])
with tab_overview:
    overview()
with tab_import:
    importer()
with tab_manage:
    manage()
