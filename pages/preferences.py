"""Preferences page (placeholder until its issue lands)."""

import streamlit as st

st.title("Preferences")
st.info("This page is being built.")
