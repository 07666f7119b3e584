"""Preferences page (AppTest): choices change the pairs, the compare view lists contested pairs, and the
save button exports and registers a preference set."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from pluralign_core import paths
from pluralign_core.preferences.export import load_preference_set
from pluralign_core.store.database import Store
from tests.factories import tiny_bundle

pytestmark = pytest.mark.usefixtures("bare_app")


def _metric(at: AppTest, label: str) -> str:
    return next(m for m in at.metric if m.label == label).value


def _by_label(widgets, label: str):
    return next(w for w in widgets if w.label == label)


def test_preferences_page_builds_compares_and_saves(store: Store):
    store.write_dataset(tiny_bundle("tiny", n_raters=12, n_prompts=3))
    at = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/preferences.py").run()
    assert not at.exception, at.exception
    assert any(e.label == "What each choice does to the data" for e in at.expander)
    majority_pairs = int(_metric(at, "Pairs").replace(",", ""))
    majority_ties = int(_metric(at, "Ties dropped"))
    assert majority_pairs <= 6  # 2 training prompts x 3 response pairs, ties dropped
    _by_label(at.radio, "Disagreement").set_value("preserve").run()
    assert not at.exception, at.exception
    assert int(_metric(at, "Pairs").replace(",", "")) > majority_pairs
    assert int(_metric(at, "Ties dropped")) <= majority_ties  # only all-tied judgements drop a pair
    _by_label(at.multiselect, "Gender").set_value(["woman"]).run()
    _by_label([w for w in at.multiselect if w.key == "compare_filter_gender"], "Gender").set_value(
        ["man"]
    ).run()
    assert not at.exception, at.exception
    assert _metric(at, "Raters") == "6"
    assert _metric(at, "Contested pairs").endswith("of 6")
    at.text_input(key="save_name").set_value("women preserve").run()
    at.button(key="save").click().run()
    assert not at.exception, at.exception
    assert any("Saved" in s.value for s in at.success)
    saved = store.artifacts("preference_set")
    assert list(saved.name) == ["women-preserve"]
    assert saved.iloc[0].config["selection"] == {"filters": {"gender": ["woman"]}}
    assert load_preference_set(saved.iloc[0].path)["train"].num_rows == int(
        _metric(at, "Pairs").replace(",", "")
    )


def test_compare_view_shows_expected_flips_for_simulated_data_only(store: Store):
    from pluralign_core.ratings.simulate import load_default_config, simulate

    store.write_dataset(simulate(load_default_config(), dataset_id="simulated"))  # bootstrap is stubbed here
    at = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/preferences.py").run()
    assert not at.exception, at.exception
    flips = next(d.value for d in at.dataframe if "Share flipped" in d.value.columns).set_index("Groups")
    assert set(flips.index) == {"Women vs men", "Liberal vs conservative"}
    assert flips["Share flipped"].between(10, 25).all()  # percent

    store.write_dataset(tiny_bundle("tiny", n_raters=12, n_prompts=3))
    store.set_active_dataset("tiny")
    at = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/preferences.py").run()
    assert not at.exception, at.exception
    assert not [d for d in at.dataframe if "Share flipped" in d.value.columns]
    assert not any("In expectation" in c.value for c in at.caption)
