"""Explore page (AppTest): attribute, dimension, filter and setting changes on the tiny dataset, the mixed
model toggle, an imported dataset with its own demographic column, and caching across unrelated widgets."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from pluralign_core import paths
from pluralign_core.ratings.schema import Attribute
from pluralign_core.store.database import Store
from tests.factories import tiny_bundle
from tests.pages.readable import machine_frame
from tests.pages.tabs import show_tab

pytestmark = pytest.mark.usefixtures("bare_app")


def _open() -> AppTest:
    at = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/explore.py").run()
    assert not at.exception, at.exception
    return at


def _by_label(widgets, label: str):
    return next(w for w in widgets if w.label == label)


GROUP_HEADERS = {label: "group" for label in ("Gender", "Race", "Country", "Annotator pool")}


def _frames(at: AppTest) -> list[pd.DataFrame]:
    """The tables shown, read back into the core's column names and dimension names."""
    store = Store()
    labels = {d.label: d.name for d in store.dimensions(store.active_dataset())}
    return [machine_frame(d.value, GROUP_HEADERS, {"dimension": labels}) for d in at.dataframe]


def _means(at: AppTest) -> pd.DataFrame:
    """The group-means table (the one with a standard deviation column)."""
    return next(f for f in _frames(at) if "sd" in f.columns)


def test_explore_page_follows_attribute_dimension_and_filter_changes(store: Store):
    store.write_dataset(tiny_bundle("tiny", n_raters=24))
    at = _open()
    means = _means(at)
    assert set(means.group) == {"woman", "man"} and set(means.dimension) == {
        "toxicity",
        "emotional_awareness",
    }
    assert any("Fewer than 30 raters" in w.value for w in at.warning)  # 12 per group: flagged, not dropped
    assert len(at.get("plotly_chart")) == 1  # only the open tab (group means) runs

    _by_label(at.selectbox, "Attribute").set_value("race").run()
    assert not at.exception, at.exception
    assert set(_means(at).group) == {"White", "Black", "Asian"}
    assert any("multi-valued" in c.value for c in at.caption)

    _by_label(at.multiselect, "Dimensions").set_value(["toxicity"]).run()
    assert set(_means(at).dimension) == {"toxicity"}

    _by_label(at.multiselect, "Country").set_value(["US"]).run()
    _by_label(at.multiselect, "Prompt split").set_value(["train"]).run()
    assert not at.exception, at.exception
    filtered = _means(at)
    assert filtered.n_raters.max() <= 12
    assert any("country=US" in c.value and "split=train" in c.value for c in at.caption)

    _by_label(at.number_input, "Minimum raters per group").set_value(2).run()
    assert not _means(at).small_group.any()

    _by_label(at.selectbox, "Cross with").set_value("gender").run()
    assert not at.exception, at.exception
    crossed = next(d.value for d in at.dataframe if "Standard deviation" in d.value.columns)
    assert {"Race", "Gender"} <= set(crossed.columns)  # each group column named after its attribute


def test_reference_group_and_correction_drive_the_percent_differences(store: Store):
    store.write_dataset(tiny_bundle("tiny", n_raters=24))
    at = show_tab(_open(), "% differences")
    _by_label(at.selectbox, "Reference group for % differences").set_value("man").run()
    diffs = next(f for f in _frames(at) if "pct_diff" in f.columns)
    assert set(diffs.reference) == {"man"} and set(diffs.group) == {"woman"}
    _by_label(at.radio, "Multiple-comparison correction").set_value("none").run()
    diffs_none = next(f for f in _frames(at) if "pct_diff" in f.columns)
    assert diffs_none.p_adjusted.tolist() == diffs_none.p_value.tolist()  # shown formatted ("< 0.001")
    assert all(p.startswith("< ") or 0 <= float(p) <= 1 for p in diffs_none.p_value)


def test_mixed_model_toggle_shows_coefficients(store: Store):
    store.write_dataset(tiny_bundle("tiny", n_raters=24))
    at = show_tab(_open(), "Mixed model")
    at.toggle[0].set_value(True).run()
    assert not at.exception, at.exception
    coefficients = next(f for f in _frames(at) if "coef" in f.columns)
    assert set(coefficients.group) == {"man"} and set(coefficients.reference) == {"woman"}


def test_imported_dataset_with_its_own_demographic_column(store: Store):
    bundle = tiny_bundle("imported", n_raters=20)
    pools = pd.DataFrame(
        {
            "rater_id": bundle.raters.rater_id,
            "attribute": "annotator_pool",
            "value": ["pool A", "pool B"] * 10,
        }
    )
    bundle.rater_attributes = pd.concat([bundle.rater_attributes, pools], ignore_index=True)
    bundle.attributes = [*bundle.attributes, Attribute("annotator_pool", "Annotator pool")]
    store.write_dataset(bundle)
    at = _open()
    _by_label(at.selectbox, "Attribute").set_value("annotator_pool").run()
    assert not at.exception, at.exception
    means = _means(at)
    assert set(means.group) == {"pool A", "pool B"}
    expected = bundle.ratings.merge(pools, on="rater_id").groupby(["dimension", "value"]).score.mean()
    got = means.set_index(["dimension", "group"])["mean"]
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)
    _by_label(at.multiselect, "Annotator pool").set_value(["pool A"]).run()
    assert set(_means(at).group) == {"pool A"}


def test_unrelated_widget_changes_do_not_recompute(store: Store, monkeypatch: pytest.MonkeyPatch):
    store.write_dataset(tiny_bundle("tiny", n_raters=24))
    from pluralign_core import analysis

    calls = {"means": 0}
    original = analysis.group_means

    def counting(*args, **kwargs):
        calls["means"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(analysis, "group_means", counting)
    at = _open()
    first = calls["means"]
    assert first >= 1
    _by_label(at.radio, "Multiple-comparison correction").set_value("bh").run()
    _by_label(at.selectbox, "Reference group for % differences").set_value("man").run()
    assert calls["means"] == first
    _by_label(at.selectbox, "Attribute").set_value("country").run()
    assert calls["means"] == first + 1


def test_only_the_open_tab_is_computed_and_switching_tabs_keeps_the_others_cached(
    store: Store, monkeypatch: pytest.MonkeyPatch
):
    """A rerun (opening the page, changing the attribute) does the open tab's work only; another tab's
    statistics are computed when it is opened, and opening it again reuses them."""
    store.write_dataset(tiny_bundle("tiny", n_raters=24))
    from pluralign_core import analysis

    calls = {"percent_differences": 0, "alpha_by_group": 0, "score_distribution": 0}
    for name in calls:
        original = getattr(analysis, name)

        def counting(*args, original=original, name=name, **kwargs):
            calls[name] += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(analysis, name, counting)
    at = _open()
    _by_label(at.selectbox, "Attribute").set_value("race").run()
    assert calls == {"percent_differences": 0, "alpha_by_group": 0, "score_distribution": 0}
    show_tab(at, "Agreement")
    assert not at.exception, at.exception
    assert calls == {"percent_differences": 0, "alpha_by_group": 1, "score_distribution": 0}
    assert any("Krippendorff" in c.value for c in at.caption) and len(at.get("plotly_chart")) == 2
    show_tab(at, "Group means")
    show_tab(at, "Agreement")
    assert calls["alpha_by_group"] == 1  # cached: switching back costs no recomputation


def test_empty_store_says_what_to_do(store: Store):
    at = _open()
    assert any("No dataset yet" in i.value for i in at.info)


def test_headline_panel_shows_published_next_to_measured(store: Store):
    """The default dataset gets the findings panel: published effect, measured effect and its CI."""
    bundle = tiny_bundle("default-simulated", n_raters=24)
    store.write_dataset(bundle)
    at = _open()
    assert any("Headline findings" in s.value for s in at.subheader)
    shown = next(f for f in _frames(at) if "published_pct" in f.columns).set_index("attribute")
    rows = bundle.ratings.query("dimension == 'toxicity'").merge(
        bundle.rater_attributes.query("attribute == 'gender'"), on="rater_id"
    )
    means = rows.groupby("value").score.mean()
    expected = 100 * (means["man"] / means["woman"] - 1)
    gender = shown.loc["gender"].map(_percent)
    assert gender.published_pct == -18.0
    assert gender.measured_pct == pytest.approx(expected, abs=0.05)  # shown to 1 decimal
    assert gender.measured_ci_low < expected < gender.measured_ci_high


def _percent(cell: object) -> float:
    """A percent cell as a number: a plain number, or the text ("-4.4%") a column with gaps is shown as."""
    return float(str(cell).rstrip("%")) if isinstance(cell, str) and cell.endswith("%") else cell


def _display(frame_element) -> pd.DataFrame:
    """What the user sees in a table: the Styler's display values when the page labels empty cells."""
    from streamlit import dataframe_util

    shown = frame_element.proto.arrow_data.styler.display_values
    return dataframe_util.convert_arrow_bytes_to_pandas_df(shown) if shown else frame_element.value


def test_largest_group_is_the_default_reference_and_a_lone_rater_is_not_estimable(store: Store):
    bundle = tiny_bundle("tiny", n_raters=24)
    pools = pd.DataFrame(
        {
            "rater_id": bundle.raters.rater_id,
            "attribute": "annotator_pool",
            "value": ["a lone pool"] + ["pool B"] * 8 + ["pool C"] * 15,
        }
    )
    bundle.rater_attributes = pd.concat([bundle.rater_attributes, pools], ignore_index=True)
    bundle.attributes = [*bundle.attributes, Attribute("annotator_pool", "Annotator pool")]
    store.write_dataset(bundle)
    at = _open()
    _by_label(at.selectbox, "Attribute").set_value("annotator_pool").run()
    assert not at.exception, at.exception
    assert _by_label(at.selectbox, "Reference group for % differences").value == "pool C"
    show_tab(at, "% differences")
    element = next(d for d in at.dataframe if "% difference" in d.value.columns)
    diffs = machine_frame(element.value, GROUP_HEADERS).set_index(["dimension", "group"])
    assert set(diffs.reference) == {"pool C"} and {"diff_ci_low", "diff_ci_high"} <= set(diffs.columns)
    lone = diffs.xs("a lone pool", level="group")
    assert not lone.estimable.any()
    assert (lone[["pct_ci_low", "pct_ci_high", "p_value"]] == "not estimable").all().all()
    shown = _display(element)
    cells = shown.astype(str).to_numpy().ravel().tolist()
    assert "not estimable" in cells and "None" not in cells and "nan" not in cells
    assert any("100 × (group mean / reference mean − 1)" in c.value for c in at.caption)


def test_mixed_model_names_what_it_fits_and_labels_unidentified_groups(store: Store):
    bundle = tiny_bundle("tiny", n_raters=24)
    us = set(bundle.rater_attributes.query("attribute == 'country' and value == 'US'").rater_id)
    first = bundle.responses.response_id.iloc[:4]
    keep = bundle.ratings.rater_id.isin(us) == bundle.ratings.response_id.isin(first)
    bundle.ratings = bundle.ratings[keep].reset_index(drop=True)
    store.write_dataset(bundle)
    at = _open()
    _by_label(at.selectbox, "Attribute").set_value("country").run()
    show_tab(at, "Mixed model")
    at.toggle[0].set_value(True).run()
    assert not at.exception, at.exception
    assert not at.error
    assert any("response fixed effects + (1 | rater), REML" in c.value for c in at.caption)
    element = next(d for d in at.dataframe if "Coefficient (points)" in d.value.columns)
    assert not element.value.Identified.any()
    cells = _display(element).astype(str).to_numpy().ravel().tolist()
    assert "not identified" in cells and "None" not in cells
