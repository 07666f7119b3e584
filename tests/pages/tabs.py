"""Open a tab of a page's lazy ``st.tabs`` in an AppTest: only the open tab's content runs (AppTest has no
tab click, so the tab's label goes into its session-state key, as a click would put it)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

EXPLORE_TABS = "explore_tab"


def show_tab(at: AppTest, label: str, key: str = EXPLORE_TABS) -> AppTest:
    """Select tab ``label`` of the tabs keyed ``key`` and rerun; returns ``at``."""
    at.session_state[key] = label
    return at.run()
