"""The shared chart and table helpers: every page's plotly chart goes through :func:`show_chart` (PNG
download named after the chart), and :func:`readable_table` renames and formats columns one way."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from pages._downloads import chart_config, file_stem
from pages._tables import readable_table
from pluralign_core import paths
from pluralign_core.analysis import display
from pluralign_core.store.database import Store
from tests.factories import tiny_bundle
from tests.pages.tabs import show_tab

EXEMPT = {"_downloads.py"}


def test_no_page_draws_a_plotly_chart_without_the_helper() -> None:
    direct = {
        path.name: [n for n, line in enumerate(path.read_text().splitlines(), 1) if "plotly_chart(" in line]
        for path in sorted((paths.REPO_ROOT / "pages").glob("*.py"))
        if path.name not in EXEMPT
    }
    assert {name: lines for name, lines in direct.items() if lines} == {}


def test_chart_config_names_the_png_after_the_chart() -> None:
    config = chart_config("Group means: gender / race")
    assert config["toImageButtonOptions"] == {
        "format": "png",
        "filename": "group-means-gender-race",
        "scale": 2,
    }
    assert file_stem("  ") == "chart"


@pytest.mark.usefixtures("bare_app")
def test_explore_charts_carry_the_png_download(store: Store) -> None:
    store.write_dataset(tiny_bundle("tiny", n_raters=24))
    at = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/explore.py").run()
    assert not at.exception, at.exception
    charts = list(at.get("plotly_chart"))  # only the open tab's charts are drawn: open each
    for tab in ("Answer distribution", "% differences", "Agreement"):
        charts += list(show_tab(at, tab).get("plotly_chart"))
    assert len(charts) >= 4
    names = [json.loads(c.proto.config)["toImageButtonOptions"]["filename"] for c in charts]
    assert "group_means_gender" in names and all(re.fullmatch(r"[\w.-]+", n) for n in names)


def test_readable_table_renames_and_formats_one_way() -> None:
    frame = pd.DataFrame(
        {
            "group": ["a", "b"],
            "n_raters": [1094, 3],
            "mean": [3.14159, 2.5],
            "ci_low": [2.9, np.nan],
            "pct_diff": [-4.398, 12.0],
            "p_value": [0.0000123, 0.2345],
            "small_group": [False, True],
        }
    )
    shown, config = readable_table(frame, {"group": "Gender"})
    assert list(shown.columns) == [
        "Gender", "Raters", "Mean rating", "95% CI low", "% difference", "p-value", "Few raters",
    ]  # fmt: skip
    assert list(shown["p-value"]) == ["< 0.001", "0.234"]
    assert list(shown["95% CI low"]) == ["2.90", "not estimable"]  # a gap reads as words, not "None"
    formats = {name: column["type_config"]["format"] for name, column in config.items()}
    assert formats == {"Raters": "localized", "Mean rating": "%.2f", "% difference": "%.1f%%"}
    assert list(frame.columns)[1] == "n_raters"  # the frame itself (and its CSV) keeps machine names


def test_readable_name_prefers_the_dataset_label_then_the_dictionary_then_words() -> None:
    assert display.readable_name("age_band", {"age_band": "Age group"}) == "Age group"
    assert display.readable_name("age_band") == "Age band"
    assert display.readable_name("n_units") == "Responses rated"
    assert display.readable_name("share_of_votes") == "Share of votes"
    assert display.readable_name("relative_pct") == "Relative %"
    assert display.readable_name("Already readable") == "Already readable"


def test_format_number_styles() -> None:
    assert display.format_number(1094, "count") == "1,094"
    assert display.format_number(1094.4, "count") == "1,094"
    assert display.format_number(3.14159, "measure") == "3.14"
    assert display.format_number(-4.398, "percent") == "-4.4%"
    assert display.format_number(0.00001, "p") == "< 0.001"
    assert display.format_number(float("nan"), "measure") == "not estimable"
    assert display.number_kind("n_ratings") == "count" and display.number_kind("p_adjusted") == "p"
    assert display.number_kind("row") == "plain" and display.number_kind("alpha") == "measure"
