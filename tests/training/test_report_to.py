"""``report_to``: none by default, checked against the installed trackers, passed to the trainer."""

from __future__ import annotations

import importlib.util

import pytest

from pluralign_core import cli
from pluralign_core.training import common
from pluralign_core.training import config as run_config
from tests.training_data import tiny_run_config


def _pretend_installed(monkeypatch, installed: set[str]) -> None:
    real = importlib.util.find_spec

    def find_spec(name, *args):
        if name in ("tensorboard", "tensorboardX", "trackio"):
            return real("json") if name in installed else None
        return real(name, *args)

    monkeypatch.setattr(run_config.importlib.util, "find_spec", find_spec)


def test_default_reports_nowhere_and_keeps_the_jsonl_log(tmp_path):
    config = tiny_run_config(tmp_path, preference_set="/p")
    assert config.report_to == "none"
    assert common.trainer_arguments(config, tmp_path)["report_to"] == []


@pytest.mark.parametrize("tracker", ["tensorboard", "trackio"])
def test_a_missing_tracker_is_refused_with_what_to_install(monkeypatch, tmp_path, tracker):
    _pretend_installed(monkeypatch, set())
    with pytest.raises(ValueError, match=f"needs the {tracker} package.*pip install {tracker}"):
        tiny_run_config(tmp_path, preference_set="/p", report_to=tracker)


def test_unknown_tracker_is_refused(tmp_path):
    with pytest.raises(ValueError, match="report_to must be one of"):
        tiny_run_config(tmp_path, preference_set="/p", report_to="wandb")


def test_an_installed_tracker_reaches_the_trl_config(monkeypatch, tmp_path):
    from trl import DPOConfig

    _pretend_installed(monkeypatch, {"trackio"})
    config = tiny_run_config(tmp_path, preference_set="/p", report_to="trackio")
    arguments = DPOConfig(**common.trainer_arguments(config, tmp_path / "run-7"))
    assert arguments.report_to == ["trackio"]
    assert arguments.run_name == "run-7" and arguments.project == "pluralign"
    assert config.to_dict()["report_to"] == "trackio"


def test_cli_flag_for_a_missing_tracker_exits_2_with_one_line(monkeypatch, pluralign_home, capsys):
    _pretend_installed(monkeypatch, set())
    assert cli.main(["train", "--preference-set", "/p", "--report-to", "tensorboard"]) == 2
    err = capsys.readouterr().err
    assert "pip install tensorboard" in err and err.count("\n") == 1
