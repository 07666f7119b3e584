"""Charts across pages: HTML downloads that open offline, and one colour per group on every page (AppTest).

The HTML downloads are deferred (built when clicked), so the test records the callables Streamlit
registers and calls them, as a click would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import plotly.graph_objects as go
import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from pages._downloads import chart_download, chart_html
from pluralign_core import paths
from pluralign_core.analysis.colours import value_colour
from pluralign_core.store.database import Store
from tests.factories import tiny_bundle
from tests.pages.tabs import show_tab

pytestmark = pytest.mark.usefixtures("bare_app")

SCRIPT_SRC = re.compile(r"<script[^>]*\bsrc=", re.IGNORECASE)


def _assert_offline(html: bytes) -> None:
    """plotly.js is in the file, and no script is fetched from anywhere (a CDN or otherwise)."""
    text = html.decode("utf-8")
    assert "plotly.js v" in text and "Plotly.newPlot" in text
    assert not SCRIPT_SRC.search(text), SCRIPT_SRC.search(text)
    assert 'src="https://cdn.plot.ly' not in text


def _open(page: str) -> AppTest:
    at = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _chart(at: AppTest, key: str) -> dict:
    element = next(c for c in at.get("plotly_chart") if c.proto.id.endswith(key))
    return json.loads(element.proto.spec)


def _colour_of(figure: dict, value: str) -> str:
    """The colour of the trace(s) drawing ``value`` (trace names may carry a suffix, e.g. ``woman, True``)."""
    colours = {
        t["marker"]["color"] for t in figure["data"] if t.get("name", "").split(",")[0].strip() == value
    }
    assert len(colours) == 1, (value, colours)
    return colours.pop()


def test_chart_html_embeds_plotly_js_and_is_built_on_click(monkeypatch: pytest.MonkeyPatch) -> None:
    """The HTML is built only when the button is clicked (a rerun draws many charts, most never
    downloaded), from a copy of the figure handed over; pages hand over figures they no longer change
    (Explore even shares them between sessions)."""
    from pages import _downloads

    fig = go.Figure(go.Bar(x=["woman", "man"], y=[1, 2]))
    _assert_offline(chart_html(fig))
    built: list[go.Figure] = []
    real = _downloads.chart_html
    monkeypatch.setattr(_downloads, "chart_html", lambda figure: built.append(figure) or real(figure))
    deferred = chart_download(fig)
    assert built == []  # drawing the button built nothing
    html = deferred()
    assert len(built) == 1 and built[0] is not fig and built[0].to_dict() == fig.to_dict()
    _assert_offline(html)


def test_explore_downloads_every_chart_as_offline_html(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.write_dataset(tiny_bundle("tiny", n_raters=24))
    registered: list[tuple[str | None, Callable[[], object]]] = []
    add_deferred = MediaFileManager.add_deferred

    def recording(
        self: MediaFileManager,
        data_callable: Callable[[], object],
        mimetype: str | None,
        coordinates: str,
        file_name: str | None = None,
        **kwargs: str,
    ) -> str:
        registered.append((file_name, data_callable))
        return add_deferred(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", recording)
    at = _open("pages/explore.py")
    seen: set[str] = set()
    for tab in ("Group means", "Answer distribution", "% differences", "Agreement"):
        registered.clear()
        show_tab(at, tab)  # only the open tab's charts are drawn
        html = {name: data for name, data in registered if name and name.endswith(".html")}
        for data in html.values():
            _assert_offline(data())
        assert sum(b.label == "Download chart (HTML)" for b in at.get("download_button")) == len(html)
        seen |= set(html)
    assert {"group_means_gender.html", "agreement_gender.html", "percent_differences_gender.html"} <= seen


def test_a_group_has_the_same_colour_on_data_and_explore(store: Store) -> None:
    store.write_dataset(tiny_bundle("tiny", n_raters=24))
    data = _open("pages/data.py")
    next(s for s in data.selectbox if s.label == "Attribute").set_value("gender").run()
    composition = _chart(data, "data_composition")
    explore = _open("pages/explore.py")
    agreement = _chart(show_tab(explore, "Agreement"), "chart_alpha")
    for value in ("woman", "man"):
        assert _colour_of(composition, value) == _colour_of(agreement, value) == value_colour(value)
    assert _colour_of(agreement, "woman") != _colour_of(agreement, "man")
