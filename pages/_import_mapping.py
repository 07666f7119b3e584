"""The import wizard's mapping step: widgets for every column role, and the :class:`ImportSpec` they make.

Split from ``pages/data.py``. Every choice lives in session state under ``imp_…`` keys, so a failed check
loses nothing; the checking itself is :func:`pluralign_core.ratings.importing.import_dataset`'s.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from pluralign_core import paths
from pluralign_core.ratings.column_values import MAX_VALUES, column_values
from pluralign_core.ratings.head_reading import HEAD_ROWS
from pluralign_core.ratings.importing import DemographicSpec, DimensionSpec, ImportSpec, infer_spec
from pluralign_core.ratings.reading import ImportSource, Problems, Table

NONE = "— none —"
WIZARD_PREFIX = "imp_"
NOT_STATED = "not stated"


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
        "imp_scale_labels": "",
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
        sources = dimension_values(table, source, state["imp_dimension_column"])[:50]
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
        st.caption("Display label of each dimension (edit to name it as your study did):")
        label_columns = st.columns(min(len(dimensions), 4))
        for i, d in enumerate(dimensions):
            key = f"imp_dimlabel_{d.source}"
            state.setdefault(key, d.label)
            label_columns[i % len(label_columns)].text_input(f"Label of {d.source!r}", key=key)
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
    st.text_input(
        "What each score means, lowest first, separated by ';' (e.g. not offensive; slightly offensive; "
        "moderately offensive; offensive; very offensive). Empty: numbers only, or the agreement labels for "
        "an agreement scale.",
        key="imp_scale_labels",
    )

    st.markdown("**Demographics** (each column becomes a rater attribute; blank cells mean 'not stated')")
    mapped = {state.get(k) for k in SINGLE_ROLES} | set(sources if state["imp_layout"] == "wide" else [])
    if state["imp_layout"] == "long":
        mapped |= {state.get("imp_dimension_column"), state.get("imp_score_column")}
    rest = [c for c in columns if c not in mapped]
    state["imp_demographics"] = [c for c in state["imp_demographics"] if c in rest]
    st.multiselect(
        "Demographic columns (ids, texts and ratings mapped above are left out)", rest, key="imp_demographics"
    )
    state["imp_multi"] = [c for c in state["imp_multi"] if c in state["imp_demographics"]]
    left, right = st.columns([3, 1])
    left.multiselect(
        "Multi-select columns (several values per cell)", state["imp_demographics"], key="imp_multi"
    )
    right.text_input("Separator", key="imp_separator")
    _order_widgets(table, source, state)
    st.checkbox("Replace a dataset with the same id", key="imp_replace")


SINGLE_ROLES = (
    "imp_rater_id",
    "imp_response_text",
    "imp_prompt_text",
    "imp_prompt_id",
    "imp_item_id",
    "imp_language",
    "imp_topic",
    "imp_split",
)
MAX_ORDERED_VALUES = 30


def _order_widgets(table: Table, source: ImportSource, state) -> None:
    """Value order of ordinal attributes (education, age band): shown in this order on every page.

    Values that start with a number (age bands) are ordered automatically; others keep the order the
    user gives here (empty: alphabetical). The values come from the whole file, not only the rows read
    for the preview, so a value that first appears late can be ordered too."""
    candidates = [c for c in state["imp_demographics"] if c not in state.get("imp_multi", [])]
    if not candidates:
        return
    with st.expander("Value order of ordinal attributes (e.g. education)"):
        st.caption(
            "Pick the values in their natural order, lowest first; values left out follow alphabetically. "
            "Values starting with a number (age bands like 18-24, 65+) are ordered by it without this."
        )
        for column in candidates:
            values, refused = file_values(table, source, column, MAX_ORDERED_VALUES)
            if refused:
                st.caption(f"{column}: {refused}")
            elif len(values) > 1:
                st.multiselect(column, values, key=f"imp_order_{column}")


@st.cache_data(show_spinner="Reading the column's values from the whole file…", max_entries=16)
def _whole_file_values(
    name: str, data: bytes, encoding: str | None, column: str, max_values: int
) -> tuple[list[str], str | None]:
    problems = Problems(name)
    values = column_values(
        ImportSource(name, data), column, problems, encoding=encoding, max_values=max_values
    )
    refused = next((p.message for p in problems.errors if p.kind == "too_many_values"), None)
    return values or [], refused


def file_values(
    table: Table, source: ImportSource, column: str, max_values: int = MAX_VALUES
) -> tuple[list[str], str | None]:
    """The distinct values of ``column`` (stripped, sorted) and, when it has more than ``max_values``, why
    none are listed: from the rows read when they are the whole file, else from a pass over that column
    of the whole file (a value can first appear after the rows read)."""
    if len(table.frame) < HEAD_ROWS:
        values = sorted({v for v in table.frame[column].dropna().astype(str).str.strip() if v})
        if len(values) > max_values:
            return [], f"more than {max_values:,} different values, too many to order by hand"
        return values, None
    return _whole_file_values(source.name, source.data, table.encoding, column, max_values)


def dimension_values(table: Table, source: ImportSource, column: str) -> list[str]:
    """The values of a long file's dimension column, from the whole file (:func:`file_values`)."""
    return file_values(table, source, column)[0]


def spec_from_state(state, frame: pd.DataFrame, dimension_sources: list[str] | None = None) -> ImportSpec:
    """The :class:`ImportSpec` the wizard's widgets describe (``ValueError`` when it is inconsistent).

    ``dimension_sources``: a long file's dimension values (:func:`dimension_values`); read from ``frame``
    when not given."""

    def column(key: str) -> str | None:
        value = state.get(key)
        return None if value in (None, NONE) else value

    long = state["imp_layout"] == "long"
    if long and dimension_sources is not None:
        sources = list(dimension_sources)
    elif long:
        values = frame[state["imp_dimension_column"]].dropna().astype(str).str.strip()
        sources = sorted(v for v in values.unique() if v)
    else:
        sources = list(state["imp_rating_columns"])
    lower = set(state.get("imp_lower_better") or [])
    dimensions = []
    for source in sources:
        guess = DimensionSpec.guess(source)
        label = str(state.get(f"imp_dimlabel_{source}") or guess.label).strip()
        dimensions.append(DimensionSpec(guess.name, label, source not in lower, source, guess.description))
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
            DemographicSpec(
                c, separator=separator if c in multi else None, values=list(state.get(f"imp_order_{c}") or [])
            )
            for c in state["imp_demographics"]
        ],
        scale_labels=[v.strip() for v in str(state.get("imp_scale_labels") or "").split(";") if v.strip()],
        scale_min=int(state["imp_scale_min"]),
        scale_max=int(state["imp_scale_max"]),
        scale_kind=state["imp_scale_kind"],
        label_map=label_map,
        encoding=state.get("imp__encoding_override"),
    )
