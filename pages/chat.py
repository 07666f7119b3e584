"""Chat page (placeholder until its issue lands)."""

import streamlit as st

st.title("Chat")
st.info("This page is being built.")
