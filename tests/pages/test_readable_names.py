"""Pages speak in people's words (AppTest): no table header, metric or picker shows an internal name
(``n_raters``, ``ci_low``, ``small_group``, ``age_band`` …), on the study-like tiny dataset and on a dataset
imported through the wizard in another shape; counts on the Preferences page are formatted alike."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from pluralign_core import paths
from pluralign_core.analysis.display import COLUMN_LABELS
from pluralign_core.ratings.schema import Attribute
from pluralign_core.store.database import Store
from tests.factories import tiny_bundle
from tests.fixtures_shapes import SHAPES
from tests.pages.test_pages_on_shapes import import_through_wizard

pytestmark = pytest.mark.usefixtures("bare_app")

PAGES = (
    "pages/data.py",
    "pages/explore.py",
    "pages/preferences.py",
    "pages/train.py",
    "pages/evaluate.py",
    "pages/tradeoffs.py",
    "pages/home.py",
)
INTERNAL = frozenset(COLUMN_LABELS) | {"n", "mean", "sd", "coef", "estimable", "agreement"}
SNAKE = re.compile(r"[a-z0-9]+(_[a-z0-9]+)+")


def internal(name: str) -> bool:
    """A machine name: a column name of the code, or any ``snake_case`` word."""
    return name in INTERNAL or bool(SNAKE.fullmatch(name))


def shown_names(at: AppTest, file_columns: frozenset[str]) -> dict[str, list[str]]:
    """Every table header, metric label, and picker label and option on the page, by where it is.

    Left out: the uploaded file shown as it is, and the import wizard's pickers, which map the file's own
    column names (``file_columns``); and pickers of ids the user gave (datasets, runs, evaluations)."""
    names: dict[str, list[str]] = {}
    for frame in at.dataframe:
        if file_columns and set(map(str, frame.value.columns)) == file_columns:
            continue
        names.setdefault("table header", []).extend(str(c) for c in frame.value.columns)
    names["metric"] = [m.label for m in at.metric]
    for kind in ("selectbox", "multiselect", "radio"):
        for widget in getattr(at, kind):
            if widget.key in ("dataset_picker", "delete_target", "eval_pick", "grid_pick"):
                continue
            if str(widget.key).startswith("imp_"):
                continue
            names.setdefault(f"{kind} label", []).append(widget.label)
            names.setdefault(f"{kind} option", []).extend(str(o) for o in widget.options)
    return names


def internal_names(
    at: AppTest, page: str, file_columns: frozenset[str] = frozenset()
) -> dict[str, list[str]]:
    at.switch_page(page).run()
    assert not at.exception, (page, at.exception)
    shown = shown_names(at, file_columns)
    found = {where: sorted({n for n in names if internal(n)}) for where, names in shown.items()}
    return {where: names for where, names in found.items() if names}


def _study_like(store: Store) -> None:
    """The tiny dataset with the study's ordinal attributes under their own labels."""
    bundle = tiny_bundle("tiny", n_raters=24)
    extra = pd.DataFrame(
        {
            "rater_id": list(bundle.raters.rater_id) * 2,
            "attribute": ["age_band"] * 24 + ["political_leaning"] * 24,
            "value": ["18-24", "25-34", "35-44"] * 8 + ["liberal", "moderate", "conservative"] * 8,
        }
    )
    bundle.rater_attributes = pd.concat([bundle.rater_attributes, extra], ignore_index=True)
    bundle.attributes = [
        *bundle.attributes,
        Attribute("age_band", "Age band", True, False, ("18-24", "25-34", "35-44")),
        Attribute("political_leaning", "Political leaning", True, False, ()),
    ]
    store.write_dataset(bundle)


def test_internal_name_detector_catches_the_names_of_the_issue() -> None:
    for name in ("n_raters", "ci_low", "small_group", "published_pct", "age_band", "political_leaning", "n"):
        assert internal(name)
    for name in ("Raters", "95% CI low", "Few raters", "Published %", "Age band", "Gender", "p-value"):
        assert not internal(name)


def test_pages_show_no_internal_names_on_the_study_like_dataset(store: Store) -> None:
    _study_like(store)
    at = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=120)
    at.run()
    found = {page: internal_names(at, page) for page in PAGES}
    assert {page: names for page, names in found.items() if names} == {}
    at.switch_page("pages/explore.py").run()
    attribute = at.selectbox(key="explore_attribute")
    assert "Age band" in attribute.options and "Political leaning" in attribute.options
    headers = next(d.value.columns for d in at.dataframe if "Standard deviation" in d.value.columns)
    assert {"Gender", "Raters", "95% CI low", "Few raters", "Mean rating"} <= set(headers)


def test_pages_show_no_internal_names_on_an_imported_odd_shape(store: Store) -> None:
    at = import_through_wizard("small_groups")  # age_band, worker_id … as the file names them
    columns = frozenset(SHAPES["small_groups"]().frame.columns)
    found = {page: internal_names(at, page, columns) for page in PAGES}
    assert {page: names for page, names in found.items() if names} == {}


def test_preferences_counts_raters_and_effective_sample_size_alike(store: Store) -> None:
    _study_like(store)
    at = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/preferences.py").run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    count = re.compile(r"\d{1,3}(,\d{3})*")
    assert count.fullmatch(metrics["Raters"]) and count.fullmatch(metrics["Effective sample size"])
    assert metrics["Raters"] == metrics["Effective sample size"]  # equal weights: the same raters
    assert not any("count as" in c.value for c in at.caption)

    at.multiselect(key="jury_attributes").set_value(["gender"]).run()
    at.number_input(key="jury_gender_woman").set_value(0.9).run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    raters, effective = (int(metrics[k].replace(",", "")) for k in ("Raters", "Effective sample size"))
    assert effective < raters
    assert any(f"count as {effective}" in c.value for c in at.caption)  # the UI says why they differ
