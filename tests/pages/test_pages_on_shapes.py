"""Every page on datasets shaped unlike the study's (AppTest): each shape of :mod:`tests.fixtures_shapes` is
uploaded through the Data page's import wizard, imported, and then every page is opened on it.

The test id names the shape; a failure lists every page that raised, so the result reads as a page × shape
table.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from pluralign_core import paths
from pluralign_core.store.database import Store
from tests.fixtures_shapes import SHAPES
from tests.pages.readable import machine_frame
from tests.pages.tabs import show_tab

PAGES = (
    "pages/data.py",
    "pages/items.py",
    "pages/explore.py",
    "pages/preferences.py",
    "pages/train.py",
    "pages/evaluate.py",
    "pages/tradeoffs.py",
    "pages/chat.py",
    "pages/home.py",
)

pytestmark = pytest.mark.usefixtures("bare_app")


def import_through_wizard(shape_name: str) -> AppTest:
    """Upload the shape's CSV on the Data page and import it with the wizard's own guesses."""
    shape = SHAPES[shape_name]()
    at = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/data.py").run()
    at.file_uploader(key="import_upload").upload(f"{shape.name}.csv", shape.csv(), "text/csv").run()
    assert not at.exception, at.exception
    assert at.multiselect(key="imp_rating_columns").value == list(shape.rating_columns)
    assert not set(shape.rating_columns) & set(at.multiselect(key="imp_demographics").value)
    at.button(key="import_run").click().run()
    assert not at.exception, at.exception
    assert Store().active_dataset() == shape.name, [e.value for e in at.error]
    return at


def _table(at: AppTest, column: str, **groups: str) -> pd.DataFrame:
    """The first table with ``column`` (a machine name), read back into machine names; ``groups`` names
    the group columns' headers (the attribute labels), e.g. ``group="Race / ethnicity"``."""
    frames = [machine_frame(d.value, {label: name for name, label in groups.items()}) for d in at.dataframe]
    return next(f for f in frames if column in f.columns)


def page_texts(at: AppTest) -> str:
    kinds = ("success", "error", "info", "warning", "markdown", "caption")
    return " ".join(str(e.value) for kind in kinds for e in getattr(at, kind))


@pytest.mark.parametrize("shape_name", list(SHAPES))
def test_every_page_opens_on_every_shape(store: Store, shape_name: str) -> None:
    at = import_through_wizard(shape_name)
    raised = {}
    for page in PAGES:
        at.switch_page(page).run()
        if at.exception:
            raised[page] = at.exception[0].message
    assert raised == {}, f"{shape_name}: pages that raised: {raised}"


def _switch(at: AppTest, page: str) -> AppTest:
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _figure(at: AppTest, key: str) -> dict:
    chart = next(c for c in at.get("plotly_chart") if c.proto.id and key in c.proto.id)
    return json.loads(chart.proto.spec)


def _values(array: list | dict) -> np.ndarray:
    """A plotly JSON array as numbers: a plain list, or plotly's ``{"dtype", "bdata"}`` base64 encoding."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).astype(float)
    return np.asarray(array, dtype=float)


def test_standalone_texts_through_wizard_and_pages(store: Store) -> None:
    """The issue's dataset: no prompts, one 'offensiveness' dimension, a 1-rater group."""
    shape = SHAPES["standalone"]()
    at = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=120)
    at.run()
    _switch(at, "pages/data.py")
    at.file_uploader(key="import_upload").upload("standalone.csv", shape.csv(), "text/csv").run()
    assert any("no prompt column" in w.value for w in at.warning)
    # A mapping mistake (the item id picked as the rater id too) is one error naming both roles.
    at.selectbox(key="imp_rater_id").select("text_id").run()
    assert [e.value for e in at.error] == [
        "The mapping needs a fix: column 'text_id' is mapped twice, as rater id and as item id: one column "
        "plays one role, so pick another column for one of them (or remove it from the demographics)"
    ]
    at.selectbox(key="imp_rater_id").select("worker_id").run()
    assert not at.error
    at.text_input(key="imp_dimlabel_offensiveness").input("Offensiveness").run()
    at.multiselect(key="imp_lower_better").set_value(["offensiveness"]).run()
    at.text_input(key="imp_scale_labels").input("; ".join(shape.wizard["scale_labels"])).run()
    at.button(key="import_check").click().run()
    assert any("No problems found" in s.value for s in at.success)
    at.text_input(key="imp_name").input("Offensive comments").run()
    assert not any("No problems found" in s.value for s in at.success)  # the old result is cleared
    at.button(key="import_run").click().run()
    assert not at.exception, at.exception
    info = Store().dataset_info("standalone")
    assert info.scale.labels == shape.wizard["scale_labels"]

    _switch(at, "pages/explore.py")
    likert = _figure(show_tab(at, "Answer distribution"), "chart_likert")
    names = list(dict.fromkeys(trace["name"] for trace in likert["data"]))
    assert names == [f"{i} {label}" for i, label in enumerate(shape.wizard["scale_labels"], start=1)]

    _switch(at, "pages/preferences.py")
    assert any("no prompts" in i.value for i in at.info)
    metrics = {m.label: m.value for m in at.metric}
    labelled, ties = int(metrics["Texts labelled"]), int(metrics["Ties dropped"])
    assert int(metrics["Desirable"]) + int(metrics["Undesirable"]) == labelled and labelled + ties == 16
    assert metrics["Raters"] == "30"

    _switch(at, "pages/evaluate.py")
    assert any("no prompts" in w.value for w in at.warning)
    _switch(at, "pages/tradeoffs.py")
    assert any("cannot run the grid" in w.value for w in at.warning)
    assert at.selectbox(key="grid_single_dimension").options == ["Offensiveness"]  # the dataset's label
    assert at.button(key="grid_run").disabled


def test_one_dimension_without_held_out_prompts(store: Store) -> None:
    at = import_through_wizard("one_dimension_no_split")
    _switch(at, "pages/evaluate.py")
    assert any("No prompt of this dataset is held out" in w.value for w in at.warning)
    assert at.multiselect(key="eval_languages").options == ["en"]
    _switch(at, "pages/tradeoffs.py")
    assert at.selectbox(key="grid_single_dimension").value == "clarity"
    _switch(at, "pages/preferences.py")
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Pairs"]) > 0 and float(metrics["Effective sample size"]) <= int(metrics["Raters"])


def test_lone_rater_group_is_not_estimable_and_flagged(store: Store) -> None:
    at = import_through_wizard("small_groups")
    _switch(at, "pages/explore.py")
    at.selectbox(key="explore_attribute").select("race").run()
    assert not at.exception, at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "Pacific Islander" in warnings and "not estimable" in warnings
    means = _table(at, "sd", group="Race / ethnicity").set_index("group")
    assert (means.loc[["Pacific Islander"], ["se", "ci_low", "ci_high"]] == "not estimable").all().all()
    diffs = _table(show_tab(at, "% differences"), "pct_diff", group="Race / ethnicity").set_index("group")
    assert (diffs.loc[["Pacific Islander"], ["pct_diff", "p_value"]] == "not estimable").all().all()
    assert diffs.small_group.all()  # every group here has fewer than the default minimum of raters


def test_small_cell_interval_is_drawn_clipped_at_the_scale_with_a_marker(store: Store) -> None:
    """The 2-rater race × gender cell's CI reaches past 1–5: the chart draws it clipped and marks the cut
    end with a triangle, while the table keeps the unclipped interval."""
    at = import_through_wizard("small_groups")
    _switch(at, "pages/explore.py")
    at.selectbox(key="explore_attribute").select("race").run()
    at.selectbox(key="explore_attribute2").select("gender").run()
    assert not at.exception, at.exception
    table = _table(at, "sd", group="Race / ethnicity", group2="Gender")
    cell = table[(table.group == "Native American") & (table.group2 == "woman")]
    past = cell[(cell.ci_low.astype(float) < 1) | (cell.ci_high.astype(float) > 5)]
    assert not past.empty, "the fixture's 2-rater cell should have a CI reaching past the scale"

    figure = _figure(at, "chart_means")
    for trace in (t for t in figure["data"] if "error_y" in t):
        y = _values(trace["y"])
        tops, bottoms = y + _values(trace["error_y"]["array"]), y - _values(trace["error_y"]["arrayminus"])
        assert np.nanmin(bottoms) >= 1 - 1e-9 and np.nanmax(tops) <= 5 + 1e-9, trace["name"]
    markers = [t for t in figure["data"] if t["name"].startswith("CI clipped at the scale")]
    assert "Native American × woman" in {x for t in markers for x in t["x"]}
    assert {float(y) for t in markers for y in _values(t["y"])} <= {1.0, 5.0}
    assert any("drawn clipped" in c.value for c in at.caption)


def test_many_level_attribute_compares_with_a_group_that_has_a_ci(store: Store) -> None:
    """24 states, the alphabetically first ones with a single rater: the default reference is a 2-rater
    state, so the % differences are estimable instead of all 'not estimable' against a lone rater."""
    at = import_through_wizard("many_levels")
    _switch(at, "pages/explore.py")
    at.selectbox(key="explore_attribute").select("state").run()
    assert not at.exception, at.exception
    means = _table(at, "sd", group="State")
    assert means.group.tolist()[:2] == ["state Aa", "state Bb"] and len(means) == 24
    reference = at.selectbox(key="explore_reference_state_None").value
    assert reference == "state Mm"
    assert int(means.set_index("group").n_raters[reference]) == means.n_raters.max() == 2
    diffs = _table(show_tab(at, "% differences"), "pct_diff", group="State")
    assert set(diffs.reference) == {reference}
    two_raters = diffs[diffs.n_raters == 2]
    assert len(two_raters) == 11 and two_raters.estimable.all()

    at.selectbox(key="explore_reference_state_None").select("state Aa").run()  # a lone rater
    assert not at.exception, at.exception  # two 1-rater groups: a zero standard error, not a crash
    diffs = _table(at, "pct_diff", group="State")
    assert (diffs.pct_diff == "not estimable").all()


def test_saved_unpaired_set_is_listed_with_the_preference_sets(store: Store) -> None:
    at = import_through_wizard("standalone")
    _switch(at, "pages/preferences.py")
    assert not [d for d in at.dataframe if "Kind" in d.value.columns]  # nothing saved yet
    at.text_input(key="kto_name").input("offensive-kto").run()
    at.button(key="kto_save").click().run()
    assert not at.exception, at.exception
    assert any("registered as `unpaired_set-" in s.value for s in at.success)
    listed = _table(at, "kind")
    assert listed[["name", "kind"]].to_dict("records") == [{"name": "offensive-kto", "kind": "unpaired_set"}]
