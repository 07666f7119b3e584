"""Saving a preference set never destroys the one saved before (issue 17, review finding 3)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pluralign_core import paths
from pluralign_core.preferences.build import PreferenceConfig, build_preferences
from pluralign_core.preferences.export import export_preferences
from tests.factories import tiny_bundle


def _config(countries: list[str]) -> PreferenceConfig:
    return PreferenceConfig("t", selection={"filters": {"country": countries}}, dimensions={"toxicity": 1.0})


@pytest.fixture
def saved(store) -> tuple[object, Path, int]:
    store.write_dataset(tiny_bundle("t", n_prompts=4, n_raters=8))
    result = build_preferences(store, _config(["US"]))
    folder, _ = export_preferences(store, result, "X", include_test=False)
    return store, folder, len(result.pairs)


def _pairs(folder: Path) -> int:
    return len(pd.read_parquet(folder / "pairs.parquet"))


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith("."))


def test_a_filter_that_matches_no_one_leaves_the_saved_set_alone(saved) -> None:
    """The review's repro: ``pluralign preferences --name X`` with an empty selection deleted set X."""
    store, folder, pairs = saved
    empty = build_preferences(store, _config(["nowhere"]))
    assert empty.pairs.empty
    with pytest.raises(ValueError, match="no preference pairs"):
        export_preferences(store, empty, "X", overwrite=True)
    assert _pairs(folder) == pairs and _leftovers(folder) == []


def test_two_spellings_of_one_name_do_not_overwrite_each_other(saved) -> None:
    store, folder, pairs = saved
    other = build_preferences(store, _config(["US", "DE"]))
    with pytest.raises(paths.ArtifactExistsError, match="becomes 'X'"):
        export_preferences(store, other, "X ", include_test=False)
    assert _pairs(folder) == pairs and len(store.artifacts("preference_set")) == 1


def test_a_save_that_fails_half_way_keeps_the_old_set(saved, monkeypatch: pytest.MonkeyPatch) -> None:
    store, folder, pairs = saved
    other = build_preferences(store, _config(["US", "DE"]))

    def disk_full(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", disk_full)
    with pytest.raises(OSError, match="No space"):
        export_preferences(store, other, "X", include_test=False, overwrite=True)
    monkeypatch.undo()
    assert _pairs(folder) == pairs and _leftovers(folder) == []


def test_an_explicit_replace_swaps_the_new_set_in(saved) -> None:
    store, folder, _ = saved
    other = build_preferences(store, _config(["US", "DE"]))
    again, _ = export_preferences(store, other, "X", include_test=False, overwrite=True)
    assert again == folder and _pairs(folder) == len(other.pairs)
    assert _leftovers(folder) == [] and len(store.artifacts("preference_set")) == 1
