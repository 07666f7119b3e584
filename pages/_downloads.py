"""Chart display and downloads every page shares: a PNG from the chart's camera icon, and a standalone
HTML file that opens offline.

:func:`show_chart` is the one way pages draw a plotly figure: its modebar keeps the camera icon
("Download plot as a PNG") with a readable file name and a print-ready resolution, so every chart can go
into a report as a picture. plotly.js is embedded in the HTML file (about 4.8 MB) rather than loaded from
a CDN, so a chart saved for a report or opened on a machine without network access is drawn, not left
blank. Because the file is that large, pages hand ``st.download_button`` :func:`chart_download` (built
when the user clicks) rather than the bytes (built on every rerun, for every chart on the page).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import plotly.graph_objects as go
import streamlit as st

PNG_SCALE = 2  # twice the on-screen size: sharp in a printed report


def chart_html(fig: go.Figure) -> bytes:
    """The figure as one self-contained HTML file (plotly.js inline), UTF-8 encoded."""
    return fig.to_html(include_plotlyjs=True, full_html=True).encode("utf-8")


def _html_of_copy(fig: go.Figure) -> bytes:
    return chart_html(go.Figure(fig))


def chart_download(fig: go.Figure) -> Callable[[], bytes]:
    """``data`` for ``st.download_button``: the figure's offline HTML, built when the button is clicked.

    The figure is copied at the click too, not on every rerun (a copy of each chart cost more than a
    tenth of a second per rerun); pages do not change a figure after handing it over.
    """
    return functools.partial(_html_of_copy, fig)


def file_stem(name: str) -> str:
    """``"Group means: gender"`` → ``"group-means-gender"``: a file name without spaces or punctuation."""
    stem = re.sub(r"[^0-9A-Za-z._-]+", "-", name.strip()).strip("-._").lower()
    return stem or "chart"


def chart_config(name: str) -> dict[str, Any]:
    """Plotly's ``config`` for a chart: the PNG download (camera icon) named after the chart."""
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": "png", "filename": file_stem(name), "scale": PNG_SCALE},
    }


def show_chart(
    fig: go.Figure,
    name: str,
    *,
    key: str | None = None,
    html: bool = True,
    width: str | int = "stretch",
    container: Any = None,
) -> None:
    """Draw ``fig`` with its PNG download in the modebar and, with ``html``, an offline HTML download below.

    ``name`` names both files (``name.png``, ``name.html``); pass ``html=False`` where the page lays the
    HTML button out beside a table's CSV download itself.
    """
    target = container if container is not None else st
    target.plotly_chart(fig, key=key, width=width, config=chart_config(name))
    if html:
        target.download_button(
            "Download chart (HTML)",
            chart_download(fig),
            f"{file_stem(name)}.html",
            "text/html",
            key=f"html_{key or file_stem(name)}",
        )
