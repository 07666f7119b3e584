"""Data page: what the active dataset holds and who rated it; import real data; delete a dataset.

The import wizard keeps the uploaded file and every mapping choice in session state, so a failed check
loses nothing: the user fixes the mapping (or the file) and checks again. All checking and writing is
done by :func:`pluralign_core.ratings.importing.import_dataset`; this page only collects the mapping.
"""

from __future__ import annotations

import shutil

import pandas as pd
import plotly.express as px
import streamlit as st

from pages._downloads import chart_download, show_chart
from pages._frame import active_dataset_info, get_store, simulated_notice, switch_dataset
from pages._import_mapping import (
    NOT_STATED,
    WIZARD_PREFIX,
    dimension_values,
    mapping_widgets,
    spec_from_state,
)
from pages._tables import show_table
from pluralign_core import paths
from pluralign_core.analysis.colours import group_colours
from pluralign_core.ratings.head_reading import HEAD_ROWS, read_head
from pluralign_core.ratings.importing import (
    PREVIEW_ROWS,
    ImportReport,
    ImportSpec,
    csv_safe,
    import_dataset,
    preview_mapping,
    spec_path,
)
from pluralign_core.ratings.reading import ImportSource, Problems, Table
from pluralign_core.ratings.text_encoding import COMMON_ENCODINGS, describe
from pluralign_core.store import catalog

EXAMPLES_DIR = paths.DATA_DIR / "examples"


@st.cache_data(show_spinner=False, max_entries=32)
def composition(db: str, dataset_id: str, fingerprint: str, attribute: str) -> pd.DataFrame:
    """Raters per value of one attribute; raters without a value count as "not stated"."""
    del fingerprint  # part of the cache key only: a replaced dataset gets a new fingerprint
    return catalog.attribute_composition(get_store(), dataset_id, attribute, NOT_STATED)


@st.cache_data(show_spinner="Reading the file…", max_entries=4)
def read_upload(name: str, data: bytes, encoding: str | None = None) -> tuple[Table | None, list]:
    """The file's first rows as a table, for the preview and the mapping (``encoding``: the one the person
    picked; None: detect it). The check and the import read the whole file."""
    problems = Problems(name)
    table = read_head(ImportSource(name, data), problems, encoding=encoding)
    return table, problems.errors


def _read_errors(errors: list) -> None:
    st.error("The file cannot be read; nothing was imported. Fix the file and upload it again.")
    show_table(
        pd.DataFrame([(p.kind, p.row, p.message) for p in errors], columns=["kind", "row", "message"]),
        missing="",
    )


def encoding_picker(detected: str) -> str:
    """The text encoding to read the file with: the detected one preselected, any common one pickable.

    A wrong guess shows only in accented letters, so the person confirms it against the preview; picking
    another encoding re-reads the file (and restarts the mapping, whose column names may change)."""
    options = [detected, *[e for e in COMMON_ENCODINGS if e != detected]]
    state = st.session_state
    if state.get("imp_encoding") not in options:
        state["imp_encoding"] = detected
    picked = st.selectbox(
        "Text encoding",
        options,
        format_func=lambda e: describe(e) + (" — detected" if e == detected else ""),
        key="imp_encoding",
        help="Check accented letters (ä, é, ß) in the preview below; if they look wrong, pick another "
        "encoding and the file is read again.",
    )
    if state.get("imp__encoding_read", detected) != picked:
        for key in [k for k in state if str(k).startswith(WIZARD_PREFIX) and k != "imp_encoding"]:
            del state[key]
    state["imp__encoding_read"] = picked
    state["imp__encoding_override"] = None if picked == detected else picked
    return picked


def mapped_preview(table: Table, spec: ImportSpec) -> None:
    """The first rows as they would be imported, before anything is written."""
    frame, problems = preview_mapping(table, spec)
    st.markdown(
        f"**Preview of the mapped rows** (the first {PREVIEW_ROWS} rows of the file, one line per rating)"
    )
    if frame.empty:
        first = f": {problems[0]}" if problems else ""
        st.caption(f"No rating can be read from the first rows with this mapping{first}.")
        return
    labels = {d.attribute: d.label for d in spec.demographics if d.label}
    show_table(frame, labels=labels, missing="", key="import_mapped_preview")


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
    for note in catalog.dataset_shape(store, info.dataset_id).limitations():
        st.caption(f":material/info: {note}")
    show_table(
        pd.DataFrame(
            [(d.name, d.label, "higher" if d.higher_is_better else "lower") for d in dimensions],
            columns=["Dimension", "Label", "Better when"],
        ),
        width="content",
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
        color="value",
        color_discrete_map=group_colours([str(v) for v in counts.value]),
        labels={"value": attribute.label or name, "raters": "Raters"},
        title=f"Raters by {(attribute.label or name).lower()}",
    )
    fig.update_xaxes(type="category")
    fig.update_layout(showlegend=False)
    show_chart(fig, f"{info.dataset_id}-{name}-composition", key="data_composition", html=False)
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
        chart_download(fig),
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


def _limits(spec: ImportSpec) -> None:
    """Say before the import what a dataset mapped like this will not support (it imports all the same)."""
    missing = []
    if spec.prompt_text is None and spec.prompt_id is None:
        missing.append(
            "no prompt column: every text is its own item, so no preference pairs (DPO, GRPO, the grid) "
            "and no evaluation on held-out prompts; Explore and unpaired (KTO) labels work"
        )
    else:
        if spec.split is None:
            missing.append("no split column: about one prompt in five is held out for evaluation at random")
        if spec.language is None:
            missing.append("no language column: Evaluate needs prompt languages to answer prompts")
    if missing:
        st.warning(
            "This mapping imports, but the dataset will have " + "; ".join(missing) + ".",
            icon=":material/info:",
        )


def _counted(counts: dict[str, int]) -> str:
    """``"1,200 ratings, 1 dimension"``: singular for one."""
    return ", ".join(f"{v:,} {k[:-1] if v == 1 and k.endswith('s') else k}" for k, v in counts.items())


def imported_message(report: ImportReport) -> str:
    return f"Imported **{report.dataset_id}** ({_counted(report.counts)}). It is now the active dataset."


def show_report(report: ImportReport) -> None:
    if report.written:
        st.success(imported_message(report))
    elif report.ok:
        counts = _counted(report.counts)
        st.success(f"No problems found: the file would import as {counts}. Press **Import** to write it.")
    else:
        more = f" (showing {len(report.problems)})" if report.error_count > len(report.problems) else ""
        st.error(
            f"{report.error_count} problem(s) found{more}; nothing was imported. Fix the mapping above or "
            "the file, then check again — your file and choices are kept."
        )
        problems = report.problems_frame(include_warnings=False)
        show_table(problems, key="import_problems", missing="")
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
            show_table(report.problems_frame().query("severity == 'warning'"), missing="")


def importer() -> None:
    st.markdown(
        "Import your own ratings: **1** upload a file, **2** check the preview, **3** map the columns, "
        "**4** check, **5** import. Nothing is written until the whole file passes the check."
    )
    source = choose_source()
    if source is None:
        return
    table, errors = read_upload(source.name, source.data)
    if table is None:
        _read_errors(errors)
        return
    if table.encoding is not None:
        picked = encoding_picker(table.encoding)
        if picked != table.encoding:
            table, errors = read_upload(source.name, source.data, picked)
            if table is None:
                _read_errors(errors)
                return
    st.markdown(f"**Preview of `{source.name}`**")
    counted = (
        f"{len(table.frame):,} rows" if len(table.frame) < HEAD_ROWS else f"first {HEAD_ROWS:,} rows read"
    )
    st.caption(f"{counted} × {len(table.frame.columns)} columns (first 20 rows shown)")
    st.dataframe(table.frame.head(20), hide_index=True, key="import_file_preview")
    mapping_widgets(table, source)
    try:
        long = st.session_state.get("imp_layout") == "long"
        dimensions = (
            dimension_values(table, source, st.session_state["imp_dimension_column"]) if long else None
        )
        spec = spec_from_state(st.session_state, table.frame, dimensions)
    except ValueError as error:
        st.error(f"The mapping needs a fix: {error}")
        return
    mapping = spec.to_yaml()
    if st.session_state.get("import_report_mapping") not in (None, mapping):
        st.session_state.pop("import_report", None)  # a report about another mapping would mislead
    st.session_state["import_report_mapping"] = mapping
    _limits(spec)
    mapped_preview(table, spec)
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
            # Shown above the tabs, where it is seen whichever tab the browser shows after the rerun.
            st.session_state["imported_message"] = imported_message(report)
            st.session_state.pop("import_report", None)
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
    show_table(table, key="datasets_table")
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
for message_key in ("deleted_message", "imported_message"):
    if message := st.session_state.pop(message_key, None):
        st.success(message)
tab_overview, tab_import, tab_manage = st.tabs(["Active dataset", "Import data", "Manage datasets"])
with tab_overview:
    overview()
with tab_import:
    importer()
with tab_manage:
    manage()
