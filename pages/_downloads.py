"""Chart downloads every page shares: a standalone HTML file that opens offline.

plotly.js is embedded in the file (about 4.8 MB) rather than loaded from a CDN, so a chart saved for a
report or opened on a machine without network access is drawn, not left blank. Because the file is that
large, pages hand ``st.download_button`` :func:`chart_download` (built when the user clicks) rather than
the bytes (built on every rerun, for every chart on the page).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import plotly.graph_objects as go


def chart_html(fig: go.Figure) -> bytes:
    """The figure as one self-contained HTML file (plotly.js inline), UTF-8 encoded."""
    return fig.to_html(include_plotlyjs=True, full_html=True).encode("utf-8")


def chart_download(fig: go.Figure) -> Callable[[], bytes]:
    """``data`` for ``st.download_button``: the figure's offline HTML, built when the button is clicked."""
    return functools.partial(chart_html, go.Figure(fig))
