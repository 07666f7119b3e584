"""Explore page (placeholder until its issue lands)."""

import streamlit as st

st.title("Explore")
st.info("This page is being built.")
