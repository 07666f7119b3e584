"""A dataset rated on other dimensions than the study's: the grid's single objective can be any of them."""

from __future__ import annotations

from pluralign_core.cli import main
from pluralign_core.experiments.process import grid_command
from pluralign_core.ratings.schema import Dimension
from pluralign_core.store.database import Store
from tests.factories import tiny_bundle


def test_grid_command_passes_the_single_dimension_only_for_a_new_grid() -> None:
    new = grid_command("demo", "d", "g", resume=False, single_dimension="clarity")
    assert new[-2:] == ["--single-dimension", "clarity"]
    assert "--single-dimension" not in grid_command("demo", "d", "g", resume=True, single_dimension="clarity")


def test_dry_run_plans_the_single_objective_on_the_chosen_dimension(store: Store, capsys) -> None:
    store.write_dataset(tiny_bundle("clear", dimensions=(Dimension("clarity", "Clarity", True),)))
    try:
        refused = main(["grid", "--dry-run", "--dataset", "clear"]) != 0  # the preset's toxicity is absent
    except ValueError as error:
        refused = "single_dimension 'toxicity'" in str(error)
    assert refused
    assert main(["grid", "--dry-run", "--dataset", "clear", "--single-dimension", "clarity"]) == 0
    assert "-single-all" in capsys.readouterr().out
