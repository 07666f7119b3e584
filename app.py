"""pluralign web app: router and shared frame only. Pages live in ``pages/``, logic in ``pluralign_core``."""

import streamlit as st

from pages._frame import dataset_sidebar, require_access
from pluralign_core.run_timing import timed_run

st.set_page_config(page_title="pluralign", page_icon=":material/diversity_3:", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/data.py", title="Data", icon=":material/database:"),
    st.Page("pages/items.py", title="Items", icon=":material/list_alt:"),
    st.Page("pages/explore.py", title="Explore", icon=":material/query_stats:"),
    st.Page("pages/preferences.py", title="Preferences", icon=":material/compare_arrows:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/evaluate.py", title="Evaluate", icon=":material/fact_check:"),
    st.Page("pages/tradeoffs.py", title="Trade-offs", icon=":material/balance:"),
    st.Page("pages/chat.py", title="Chat", icon=":material/forum:"),
]

require_access()
navigation = st.navigation(PAGES)
with timed_run(navigation.url_path or "home"):  # logged only when PLURALIGN_RUN_LOG is set
    dataset_sidebar()
    navigation.run()
