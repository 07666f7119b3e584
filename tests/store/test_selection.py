"""Rater selections pick exactly the raters whose attributes match (checked against pandas)."""

from __future__ import annotations

import pytest

from pluralign_core.store.database import Store
from pluralign_core.store.selection import RaterSelection
from tests.factories import tiny_bundle


def _expected(bundle, filters: dict[str, tuple[str, ...]]) -> list[str]:
    attrs = bundle.rater_attributes
    keep = set(bundle.raters.rater_id)
    for attribute, values in filters.items():
        keep &= set(attrs[(attrs.attribute == attribute) & attrs.value.isin(values)].rater_id)
    return sorted(keep)


@pytest.mark.parametrize(
    "filters",
    [{}, {"gender": ("woman",)}, {"gender": ("man",), "country": ("DE",)}, {"race": ("Asian", "Black")}],
)
def test_selection_matches_pandas(store: Store, filters) -> None:
    bundle = tiny_bundle()
    store.write_dataset(bundle)
    store.write_dataset(tiny_bundle("other", n_raters=4))
    selection = RaterSelection(filters)
    assert selection.rater_ids(store, "tiny").tolist() == _expected(bundle, filters)
    assert RaterSelection.from_dict(selection.to_dict()) == selection


def test_empty_value_list_is_an_error() -> None:
    with pytest.raises(ValueError, match="lists no values"):
        RaterSelection({"gender": ()})
