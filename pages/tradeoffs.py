"""Tradeoffs page (placeholder until its issue lands)."""

import streamlit as st

st.title("Tradeoffs")
st.info("This page is being built.")
