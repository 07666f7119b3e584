"""Headline effects: the SQL measure agrees with a hand computation, multi-valued groups included."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.calibrate_simulation import set_yaml_number
from pluralign_core.analysis.headlines import HEADLINE_COLUMNS, HEADLINES, Headline, measure_headlines
from pluralign_core.store.database import Store
from tests.factories import tiny_bundle


def test_published_values_are_the_papers() -> None:
    published = {h.attribute: (h.dimension, h.published_pct) for h in HEADLINES}
    assert published == {
        "gender": ("toxicity", -18.0),
        "political_leaning": ("emotional_awareness", 27.9),
        "race": ("emotional_awareness", 44.0),
    }
    leaning = HEADLINES[1]
    assert set(leaning.group) == {"conservative", "very conservative", "right"}
    assert set(leaning.reference) == {"liberal", "very liberal", "left"}


def test_measure_matches_pandas_and_counts_multi_race_raters_in_both_groups(store: Store) -> None:
    scores = np.random.default_rng(5).integers(1, 6, 12 * 9 * 2)
    bundle = tiny_bundle("h", scores=scores)
    store.write_dataset(bundle)
    race = Headline("Asian vs Black", "toxicity", "race", ("Asian",), ("Black",), 10.0)
    gender = Headline("Men vs women", "toxicity", "gender", ("man",), ("woman",), -18.0)
    table = measure_headlines(store, "h", (gender, race))
    assert list(table.columns) == HEADLINE_COLUMNS

    ratings = bundle.ratings[bundle.ratings.dimension == "toxicity"]
    attrs = bundle.rater_attributes

    def mean_of(attribute: str, values: tuple[str, ...]) -> tuple[float, int]:
        raters = set(attrs[(attrs.attribute == attribute) & attrs.value.isin(values)].rater_id)
        return ratings[ratings.rater_id.isin(raters)].score.mean(), len(raters)

    for row, headline in zip(table.itertuples(), (gender, race), strict=True):
        (g, n_g), (r, n_r) = (
            mean_of(headline.attribute, headline.group),
            mean_of(headline.attribute, headline.reference),
        )
        assert row.measured_pct == pytest.approx(100 * (g / r - 1))
        assert row.difference_pts == pytest.approx(row.measured_pct - headline.published_pct)
        assert (row.group_raters, row.reference_raters) == (n_g, n_r)
    # Asian: r000, r003, r006, r009; Black: r003-r005, r009-r011; r003 and r009 count in both groups
    assert (table.iloc[1].group_raters, table.iloc[1].reference_raters) == (4, 6)


def test_missing_group_gives_no_percentage(store: Store) -> None:
    store.write_dataset(tiny_bundle("h"))
    table = measure_headlines(store, "h")
    leaning = table.set_index("attribute").loc["political_leaning"]
    assert pd.isna(leaning.measured_pct) and leaning.group_raters == 0


def test_yaml_number_edit_keeps_comments_and_other_keys() -> None:
    text = (
        "seed: 1  # keep\nmodel:\n  effects:\n    gender:\n      toxicity:\n"
        "        man: -0.6   # calibrated\n    race:\n      toxicity:\n        man: 9\n"
    )
    edited = set_yaml_number(text, ("model", "effects", "gender", "toxicity", "man"), -0.7123)
    assert "        man: -0.7123 # calibrated\n" in edited
    assert "        man: 9\n" in edited and edited.startswith("seed: 1  # keep\n")
    with pytest.raises(KeyError):
        set_yaml_number(text, ("model", "effects", "age_band"), 1.0)
