"""A grid's report: per-prompt reductions, paired comparisons per language, and the JSON of ``--report``."""

from __future__ import annotations

import json

import pytest

from pluralign_core import paths
from pluralign_core.cli import main
from pluralign_core.experiments import execute, grid_config
from pluralign_core.experiments.grid_comparisons import cell_prompt_scores, prompt_reductions
from pluralign_core.experiments.report import report, report_data
from pluralign_core.experiments.state import load_grid
from pluralign_core.store.database import Store
from tests.factories import tiny_bundle
from tests.pages.test_page_tradeoffs import _fake_evaluation


@pytest.fixture
def grid_data(store: Store) -> dict:
    store.write_dataset(tiny_bundle())
    config = grid_config.GridConfig(
        optimizers=["dpo"],
        disagreements=["preserve", "majority"],
        scales=["5-point"],
        groups=[],
        dataset_id="tiny",
    )
    execute.run_grid(store, config, grid_id="grid-r", executor=_fake_evaluation, prepare=lambda s, g: None)
    return load_grid("grid-r").data


def test_reductions_are_per_prompt_and_language_against_the_base(grid_data):
    scores = cell_prompt_scores(grid_data, paths.subdir("evaluations"))
    reductions = prompt_reductions(scores, "reward_model").set_index(["cell_id", "language"])
    assert reductions.loc[("dpo-preserve-5-point-multi-all", "en"), "reduction"] == pytest.approx(1.0)
    assert reductions.loc[("dpo-majority-5-point-multi-all", "de"), "reduction"] == pytest.approx(0.5)
    assert "base" not in reductions.index.get_level_values(0)
    classifier = prompt_reductions(scores, "classifier")
    assert set(classifier.language) == {"en"}
    with pytest.raises(ValueError, match="measure"):
        prompt_reductions(scores, "vibes")


def test_report_json_fields_and_markdown(grid_data):
    data = report_data(grid_data, paths.subdir("evaluations"))
    cell = next(
        c for c in data["cells"] if c["cell_id"] == "dpo-preserve-5-point-multi-all" and c["language"] == "en"
    )
    for key in ("cell_id", "toxicity_reduction", "ci_low", "ci_high"):
        assert key in cell
    assert cell["toxicity_reduction"] == pytest.approx(1.0) and cell["measure"] == "reward_model"
    comparison = next(c for c in data["comparisons"] if c["name"] == "preserve vs majority")
    for key in ("name", "difference", "ci_low", "ci_high", "resolved", "matches_study"):
        assert key in comparison
    json.dumps(data)  # JSON-safe: no NaN, no numpy scalars
    text = report(grid_data, paths.subdir("evaluations"))
    assert "preserve vs majority" in text and "95 %" not in text.splitlines()[0]


def test_cli_report_json(grid_data, capsys):
    assert main(["grid", "--report", "grid-r", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["grid_id"] == "grid-r"
    assert {c["name"] for c in printed["comparisons"]} >= {"preserve vs majority"}


def test_reference_run_round_trip_gives_the_grids_own_report(grid_data, tmp_path, capsys, monkeypatch):
    from pluralign_core.experiments import reference_run

    state = load_grid("grid-r")
    folder = reference_run.export_run(state, paths.subdir("evaluations"), tmp_path / "reference_run")
    run, tables = reference_run.load_run(folder)
    assert set(tables) == {"designs", "scores", "answers", "likelihood"}
    assert run["fingerprint"] == reference_run.config_fingerprint(state.data["config"])
    assert run["versions"]["torch"] and run["machine"]["cores"] and run["timings"]["wall_seconds"] is not None
    shipped = reference_run.reference_report(folder)
    own = report_data(state.data, paths.subdir("evaluations"))
    for key in ("cells", "comparisons", "likelihood", "answers"):
        assert shipped[key] == own[key], key
    assert shipped["fingerprint_matches_preset"] is False  # a custom grid is not the reference preset
    monkeypatch.setattr(reference_run, "REFERENCE_DIR", folder)
    monkeypatch.setattr(reference_run.reference_report, "__defaults__", (folder,))
    assert main(["grid", "--report", "reference", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["grid_id"] == "grid-r"
    with pytest.raises(FileNotFoundError, match="--preset reference"):
        reference_run.load_run(tmp_path / "nothing")


def test_shipped_reference_run_is_the_reference_preset():
    """The committed reference run must come from the preset as it is now (a preset change needs a rerun)."""
    from pluralign_core.experiments import reference_run

    if not (reference_run.REFERENCE_DIR / reference_run.RUN_FILE).exists():
        pytest.skip("no reference run is shipped yet: `pluralign grid --preset reference` writes it")
    shipped = reference_run.reference_report()
    assert shipped["fingerprint"] == reference_run.preset_fingerprint()
    assert shipped["fingerprint_matches_preset"] and shipped["cells"] and shipped["likelihood"]
    assert min(c["n_seeds"] for c in shipped["cells"]) >= 5
