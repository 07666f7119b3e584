"""Items page (AppTest): the prompt table sorted by disagreement, filters, the chosen prompt's answers and
group distributions, the link that opens Preferences on the pairs flipping for that prompt, and a dataset
of standalone texts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from pluralign_core import paths
from pluralign_core.analysis import display
from pluralign_core.analysis.colours import value_colour
from pluralign_core.analysis.display import readable_name
from pluralign_core.ratings.importing import import_dataset, infer_spec
from pluralign_core.ratings.reading import ImportSource
from pluralign_core.ratings.schema import Scale
from pluralign_core.store.database import Store
from tests.factories import tiny_bundle
from tests.fixtures_shapes import standalone
from tests.pages.readable import machine_frame

pytestmark = pytest.mark.usefixtures("bare_app")


def _open() -> AppTest:
    at = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/items.py").run()
    assert not at.exception, at.exception
    return at


def _split_bundle():
    """Women rate p2's answers high on toxicity and men low, with a real flip between two of its answers."""
    bundle = tiny_bundle("tiny", n_raters=24, n_prompts=4, seed=4)
    ratings = bundle.ratings
    women = set(bundle.rater_attributes.query("attribute == 'gender' and value == 'woman'").rater_id)
    tox = ratings.dimension == "toxicity"
    is_woman = ratings.rater_id.isin(women)
    ratings.loc[tox & (ratings.response_id == "p2-a0"), "score"] = np.where(is_woman, 5, 1)[
        tox & (ratings.response_id == "p2-a0")
    ]
    ratings.loc[tox & (ratings.response_id == "p2-a1"), "score"] = np.where(is_woman, 1, 5)[
        tox & (ratings.response_id == "p2-a1")
    ]
    ratings.loc[tox & (ratings.response_id == "p2-a2"), "score"] = np.where(is_woman, 5, 2)[
        tox & (ratings.response_id == "p2-a2")
    ]
    return bundle


def _table(at: AppTest):
    return next(d.value for d in at.dataframe if "Disagreement" in d.value.columns)


def test_table_sorts_by_disagreement_and_shows_the_chosen_prompt(store: Store) -> None:
    store.write_dataset(_split_bundle())
    at = _open()
    at.selectbox(key="items_attribute").set_value("gender").run()
    table = _table(at)
    assert table["Prompt id"].iloc[0] == "p2" and table["Resolved"].iloc[0]
    assert list(table["Disagreement"].dropna()) == sorted(table["Disagreement"].dropna(), reverse=True)
    assert table["Groups furthest apart"].iloc[0] == "woman vs man"
    assert at.selectbox(key="items_pick").value == "p2"
    shown = " ".join(m.value for m in at.markdown)
    assert "Prompt number 2?" in shown and "Answer 0 to prompt 2." in shown
    figure = json.loads(next(c for c in at.get("plotly_chart") if "items_means" in c.proto.id).proto.spec)
    colours = {t["name"]: t["marker"]["color"] for t in figure["data"]}
    assert colours == {"woman": value_colour("woman"), "man": value_colour("man")}
    bars = json.loads(
        next(c for c in at.get("plotly_chart") if "items_distribution" in c.proto.id).proto.spec
    )
    assert list(dict.fromkeys(t["name"] for t in bars["data"])) == display.answer_order(Scale())

    at.selectbox(key="items_sort").set_value("prompt").run()
    assert list(_table(at)["Prompt id"]) == ["p0", "p1", "p2", "p3"]
    at.multiselect(key="items_split").set_value(["heldout"]).run()
    assert not at.exception, at.exception
    assert list(_table(at)["Prompt id"]) == ["p3"]


def test_flip_button_opens_preferences_on_the_two_groups_and_the_prompt(store: Store) -> None:
    store.write_dataset(_split_bundle())
    at = _open()
    at.selectbox(key="items_attribute").set_value("gender").run()
    at.button(key="items_to_preferences").click().run()
    assert not at.exception, at.exception
    assert at.multiselect(key="main_filter_gender").value == ["woman"]
    assert at.multiselect(key="compare_filter_gender").value == ["man"]
    assert at.multiselect(key="dims").value == ["toxicity"]
    assert at.checkbox(key="contested_only_prompt").value
    contested = next(
        machine_frame(d.value, columns=["text_a", "prompt_id"])
        for d in at.dataframe
        if readable_name("text_a") in d.value.columns
    )
    assert len(contested) > 0 and set(contested.prompt_id) == {"p2"}


def test_standalone_texts_browse_without_prompt_filters(store: Store) -> None:
    shape = standalone()
    assert import_dataset(
        store, ImportSource("s.csv", shape.csv()), infer_spec(shape.frame, "standalone")
    ).written
    at = _open()
    table = _table(at)
    assert len(table) == 16 and "Split" not in table.columns
    assert not at.multiselect  # no topic, language or split to filter on
    assert not [b for b in at.button if b.key == "items_to_preferences"]
    at.selectbox(key="items_attribute").set_value("race").run()
    assert not at.exception, at.exception
    assert any("Text 1" in m.value for m in at.markdown)
