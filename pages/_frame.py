"""Shared frame for every page: the store handle, the active-dataset picker and the simulated-data notice.

Only widgets here; everything it shows comes from :mod:`pluralign_core`.
"""

from __future__ import annotations

import streamlit as st

from pluralign_core.ratings.schema import DatasetInfo
from pluralign_core.store.database import Store

SIMULATED_NOTICE = (
    "**Simulated data.** This dataset is a simulated rater population calibrated to the effects published "
    "by Ali et al. (2025, arXiv 2511.14476). It is not the study's data, which is not public."
)


@st.cache_resource(show_spinner="Preparing the ratings store (first start builds the default dataset)…")
def get_store() -> Store:
    """The process-wide store; the default dataset is built on the very first start."""
    from pluralign_core.store.bootstrap import ensure_default_dataset  # looked up per call: tests stub it

    store = Store()
    ensure_default_dataset(store)
    return store


def active_dataset_id() -> str | None:
    """The dataset the user picked in the sidebar (None for an empty store)."""
    return st.session_state.get("dataset_id") or get_store().active_dataset()


def active_dataset_info() -> DatasetInfo | None:
    dataset_id = active_dataset_id()
    return get_store().dataset_info(dataset_id) if dataset_id else None


PENDING_DATASET = "pending_dataset"


def switch_dataset(dataset_id: str | None) -> None:
    """Make ``dataset_id`` the active dataset (store and sidebar) from the next run on; call ``st.rerun``."""
    if dataset_id is not None:
        get_store().set_active_dataset(dataset_id)
    st.session_state["dataset_id"] = dataset_id
    st.session_state[PENDING_DATASET] = dataset_id


ACCESS_GRANTED = "access_granted"


def require_access() -> None:
    """Stop the run unless this session presented the server's access token (only a non-loopback server
    has one: :mod:`pluralign_core.access_token`). The token is checked once per browser session."""
    import os

    from pluralign_core import access_token

    expected = os.environ.get(access_token.TOKEN_ENV)
    if not expected or st.session_state.get(ACCESS_GRANTED):
        return
    if access_token.accepts(expected, st.query_params.get(access_token.QUERY_PARAMETER)):
        st.session_state[ACCESS_GRANTED] = True
        return
    st.error(
        "This pluralign server needs its access token. Open the link that `pluralign app` printed when it "
        "started (it ends in `?token=…`)."
    )
    st.stop()


def dataset_sidebar() -> None:
    """Sidebar picker for the active dataset, shared by all pages."""
    store = get_store()
    datasets = store.datasets()
    with st.sidebar:
        if datasets.empty:
            st.info("No dataset yet: import one on the Data page.")
            return
        ids = list(datasets.dataset_id)
        names = dict(zip(datasets.dataset_id, datasets.name, strict=True))
        # The picker's value lives in session state: a page that switches datasets (an import, a delete)
        # sets ``PENDING_DATASET``, applied here before the widget exists, so the browser never sends back
        # the old choice.
        pending = st.session_state.pop(PENDING_DATASET, None)
        if pending in ids:
            st.session_state["dataset_picker"] = pending
        elif st.session_state.get("dataset_picker") not in ids:
            current = active_dataset_id()
            st.session_state["dataset_picker"] = current if current in ids else ids[0]
        chosen = st.selectbox(
            "Active dataset",
            ids,
            format_func=lambda i: names[i] if names[i] == i else f"{names[i]} ({i})",
            key="dataset_picker",
        )
        if chosen != st.session_state.get("dataset_id"):
            st.session_state["dataset_id"] = chosen
            if chosen != store.active_dataset():
                store.set_active_dataset(chosen)
        if bool(datasets.set_index("dataset_id").loc[chosen, "simulated"]):
            st.caption(":material/science: Simulated data, calibrated to published effects.")


def simulated_notice(info: DatasetInfo | None) -> None:
    """Say plainly, at the top of a page, when the data shown is simulated."""
    if info is not None and info.simulated:
        st.info(SIMULATED_NOTICE, icon=":material/science:")
