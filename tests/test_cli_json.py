"""``--json`` output: stdout is exactly one JSON document (progress on stderr), with the same numbers as
the tables the text mode prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pluralign_core import cli
from pluralign_core.analysis import group_means
from tests.factories import tiny_bundle


def _json_stdout(capsys) -> tuple[object, str]:
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def test_analyze_json_holds_means_and_differences(store, capsys):
    store.write_dataset(tiny_bundle("t", n_raters=12))
    args = ["analyze", "--dataset", "t", "--attribute", "gender", "--reference", "woman", "--json"]
    assert cli.main(args) == 0
    document, _ = _json_stdout(capsys)
    assert document["dataset_id"] == "t" and document["reference"] == "woman"
    expected = group_means(store, "t", "gender")
    got = {(r["dimension"], r["group"]): r["mean"] for r in document["means"]}
    assert got == pytest.approx({(r.dimension, r.group): r.mean for r in expected.itertuples()})
    differences = {r["group"] for r in document["differences"]}
    assert differences == {"man"} and all("pct_diff" in r for r in document["differences"])


def test_analyze_json_with_csv_keeps_stdout_parseable(store, tmp_path, capsys):
    store.write_dataset(tiny_bundle("t"))
    out = tmp_path / "t.csv"
    assert cli.main(["analyze", "--dataset", "t", "--attribute", "country", "--csv", str(out), "--json"]) == 0
    document, err = _json_stdout(capsys)
    assert document["attribute"] == "country" and out.exists() and f"to {out}" in err


def test_preferences_json_reports_stats_and_the_saved_set(store, capsys):
    store.write_dataset(tiny_bundle("t", n_prompts=3, n_raters=8))
    assert cli.main(["preferences", "--dataset", "t", "--name", "js", "--json"]) == 0
    document, _ = _json_stdout(capsys)
    assert document["dataset_id"] == "t" and document["config"]["disagreement"] == "majority"
    saved = document["saved"]
    assert saved["pairs"] == document["stats"]["pairs"] > 0 and Path(saved["folder"]).is_dir()
    assert store.artifact(saved["artifact_id"])["kind"] == "preference_set"
    assert cli.main(["preferences", "--dataset", "t", "--no-save", "--json"]) == 0
    document, _ = _json_stdout(capsys)
    assert document["saved"] is None and document["stats"]["pairs"] == saved["pairs"]


def test_evaluate_json_with_progress_on_stderr(store, tiny_model_dir, capsys):
    from tests.evaluation.test_evaluation import _fill

    _fill(store)
    args = ["evaluate", "--dataset", "tiny", "--base-model", str(tiny_model_dir), "--languages", "en"]
    args += ["--max-new-tokens", "4", "--json"]
    assert cli.main(args) == 0
    first, err = _json_stdout(capsys)
    assert "%]" in err  # the progress lines
    assert first["config"]["model_id"] == "base" and first["comparison"] is None
    assert {r["group"] for r in first["summary"]} >= {"gender=woman"}
    assert cli.main([*args, "--compare", first["evaluation_id"]]) == 0
    second, _ = _json_stdout(capsys)
    assert second["compared_with"] == first["evaluation_id"]
    assert second["comparison"] and all("improvement_pct" in r for r in second["comparison"])
    assert cli.main(["evaluate", "--list", "--json"]) == 0
    listed, _ = _json_stdout(capsys)
    assert {r["evaluation_id"] for r in listed} == {first["evaluation_id"], second["evaluation_id"]}


def test_grid_list_json(store, capsys):
    from pluralign_core.experiments import grid_config
    from pluralign_core.experiments import state as grid_state

    assert cli.main(["grid", "--list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    store.write_dataset(tiny_bundle())
    created = grid_state.create_grid(store, grid_config.preset("demo"), "g-list")
    assert cli.main(["grid", "--list", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["grid_id"] == "g-list" and listed["dataset_id"] == "tiny"
    assert listed["cells"] == len(created.cells) and listed["done"] == 0


def test_grid_json_without_report_or_list_is_a_user_error(pluralign_home, capsys):
    assert cli.main(["grid", "--json"]) == 2
    assert "--json goes with --report" in capsys.readouterr().err


def test_preferences_json_in_a_real_process_keeps_progress_bars_off_stdout(store):
    import subprocess
    import sys

    from pluralign_core import paths

    store.write_dataset(tiny_bundle("t", n_prompts=3, n_raters=8))
    result = subprocess.run(
        [sys.executable, "-m", "pluralign_core.cli", "preferences", "--dataset", "t", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=paths.REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["saved"]["pairs"] > 0
    assert "Saving the dataset" in result.stderr  # datasets' progress bars, on stderr
