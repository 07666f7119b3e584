"""Data and Home pages (AppTest): dataset overview, the import wizard end to end, delete, home links."""

from __future__ import annotations

import dataclasses
import gzip

import pytest
from streamlit.testing.v1 import AppTest

from pluralign_core import paths
from pluralign_core.store.database import Store
from tests.factories import tiny_bundle

WIDE_EXAMPLE = paths.DATA_DIR / "examples" / "wide_ratings_en.csv"


pytestmark = pytest.mark.usefixtures("bare_app")


def _open_data_page() -> AppTest:
    at = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/data.py").run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def app(store: Store) -> AppTest:
    """The app on the Data page, over a store holding the tiny dataset."""
    store.write_dataset(tiny_bundle("tiny"))
    return _open_data_page()


def test_simulated_dataset_gets_the_notice(store: Store) -> None:
    bundle = tiny_bundle("sim")
    bundle.info = dataclasses.replace(bundle.info, simulated=True)
    store.write_dataset(bundle)
    at = _open_data_page()
    assert any("Simulated data" in i.value for i in at.info)


def _texts(at: AppTest) -> str:
    return " ".join(
        [e.value for e in at.success]
        + [e.value for e in at.error]
        + [e.value for e in at.info]
        + [m.value for m in at.markdown]
        + [c.value for c in at.caption]
    )


def test_overview_shows_counts_and_composition(app: AppTest) -> None:
    metrics = {m.label: m.value for m in app.metric}
    assert metrics == {"Raters": "12", "Prompts": "3", "Responses": "9", "Ratings": "216", "Dimensions": "2"}
    assert app.selectbox(key="data_attribute").options == ["Gender", "Country", "Race"]
    app.selectbox(key="data_attribute").select("race").run()
    assert not app.exception
    assert "several bars" in _texts(app)
    assert "Simulated data" not in _texts(app)


def test_import_wizard_upload_fix_mapping_and_import(app: AppTest) -> None:
    data = WIDE_EXAMPLE.read_bytes()
    app.file_uploader(key="import_upload").upload("survey.csv", data, "text/csv").run()
    assert not app.exception, app.exception
    assert app.selectbox(key="imp_rater_id").value == "participant_id"
    assert app.text_input(key="imp_dataset_id").value == "survey"
    assert "race" in app.multiselect(key="imp_multi").value

    # A wrong mapping: 'gender' as the rater id makes ratings collide; the check lists the problems.
    app.selectbox(key="imp_rater_id").select("gender").run()
    app.button(key="import_check").click().run()
    assert not app.exception, app.exception
    assert "nothing was imported" in _texts(app)
    problems = next(d.value for d in app.dataframe if "Message" in d.value.columns)
    problems = problems.rename(columns={"Kind": "kind", "Row": "row"})
    assert {"duplicate_rating"} <= set(problems.kind) and problems.row.astype(str).str.strip().ne("").all()
    assert app.session_state["import_source"].name == "survey.csv"

    # Fix the mapping and import: the new dataset becomes active and its custom attributes exist.
    app.selectbox(key="imp_rater_id").select("participant_id").run()
    app.multiselect(key="imp_demographics").set_value(
        [c for c in app.multiselect(key="imp_demographics").value if c != "gender"]
    ).run()
    app.button(key="import_check").click().run()
    assert "No problems found" in _texts(app)
    app.button(key="import_run").click().run()
    assert not app.exception, app.exception
    assert "Imported **survey**" in _texts(app)
    store = Store()
    assert store.active_dataset() == "survey"
    assert app.session_state["dataset_id"] == "survey"
    attributes = {a.name for a in store.attributes("survey")}
    assert {"education", "religiosity", "urban_rural", "race"} <= attributes and "gender" not in attributes
    assert {m.label: m.value for m in app.metric}["Raters"] == "40"


def test_example_file_and_unreadable_upload_keep_store(app: AppTest) -> None:
    app.selectbox(key="import_example").select("long_ratings_de.jsonl")
    app.button(key="import_example_load").click().run()
    assert app.radio(key="imp_layout").value == "long"
    assert app.selectbox(key="imp_score_column").value == "rating"
    before = Store().datasets().dataset_id.tolist()
    # Latin-1 is read now (encoding detection); a compressed file is still not text
    unreadable = gzip.compress("a,b\nü,1\n".encode())
    app.file_uploader(key="import_upload").upload("bad.csv", unreadable, "text/csv").run()
    assert not app.exception
    assert "cannot be read" in _texts(app)
    assert Store().datasets().dataset_id.tolist() == before


def test_delete_needs_confirmation(app: AppTest) -> None:
    assert app.button(key="delete_run").disabled
    app.checkbox(key="delete_confirm").check().run()
    app.button(key="delete_run").click().run()
    assert not app.exception, app.exception
    assert Store().datasets().empty
    assert "Deleted dataset" in _texts(app)


def test_home_page_states_simulated_data_and_links_every_page(store: Store) -> None:
    at = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    assert any("default data is simulated" in w.value for w in at.warning)
    text = " ".join(m.value for m in at.markdown)
    assert "18% less toxic" in text and "27,375 ratings" in text
    assert "2511.14476" in " ".join(c.value for c in at.caption)
    links = [e for e in at.main if getattr(e, "type", "") == "page_link"]
    assert len(links) == 8  # Data, Items, Explore, Preferences, Train, Evaluate, Trade-offs, Chat


def test_value_order_lists_a_value_first_seen_after_the_rows_read(app: AppTest) -> None:
    """The head holds HEAD_ROWS rows; a value that first appears further down can still be ordered."""
    from pluralign_core.ratings.head_reading import HEAD_ROWS

    rows = HEAD_ROWS + 300
    raters = [f"r{i // 4}" for i in range(rows)]
    education = ["primary school" if i // 4 % 2 else "secondary school" for i in range(rows)]
    education[HEAD_ROWS + 100 :] = ["doctorate"] * (rows - HEAD_ROWS - 100)
    lines = ["rater_id,response,dimension,score,education"] + [
        f"{r},answer {i % 4},helpfulness,{1 + i % 5},{e}"
        for i, (r, e) in enumerate(zip(raters, education, strict=True))
    ]
    data = ("\n".join(lines) + "\n").encode()
    app.file_uploader(key="import_upload").upload("late.csv", data, "text/csv").run()
    assert not app.exception, app.exception
    if "education" not in app.multiselect(key="imp_demographics").value:
        app.multiselect(key="imp_demographics").set_value(["education"]).run()
    options = app.multiselect(key="imp_order_education").options
    assert "doctorate" in options and "primary school" in options
