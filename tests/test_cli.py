"""The ``pluralign`` command line: every subcommand documents itself; a user's mistake is one line, exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pluralign_core import cli, paths


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_each_command_has_help(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([name, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: pluralign {name}" in capsys.readouterr().out


def test_user_errors_exit_2_with_a_message(pluralign_home, capsys):
    assert cli.main(["datasets", "--activate", "no-such-dataset"]) == 2
    assert "no-such-dataset" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("lora_r: eight\n", ": lora_r: expected int, got 'eight' ("),
        ("learning_rate: fast\n", ": learning_rate: expected float, got 'fast' ("),
        ("colour: red\n", ": colour: unknown run config field; known fields: algorithm, "),
        ("lora_r: [8\n", ": not valid YAML: "),
    ],
)
def test_train_config_mistakes_exit_2_with_one_line(pluralign_home, tmp_path, capsys, body, expected):
    path = tmp_path / "run.yaml"
    path.write_text(f"preference_set: {tmp_path / 'prefs'}\n{body}", encoding="utf-8")
    assert cli.main(["train", "--config", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{path}{expected}"), captured.err
    assert not pluralign_home.joinpath("runs").exists()


def test_train_flag_with_a_wrong_type_exits_2_naming_the_flag_source(pluralign_home, capsys):
    assert cli.main(["train", "--preference-set", "/p", "--max-steps", "many"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("command-line flags: max_steps: expected int, got 'many' (")
    assert err.count("\n") == 1


def test_train_bad_config_in_a_real_process_shows_no_traceback(pluralign_home, tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("preference_set: /p\ngradient_checkpointing: sometimes\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pluralign_core.cli", "train", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=paths.REPO_ROOT,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"{path}: gradient_checkpointing: expected bool, got 'sometimes' "
        "(Input should be a valid boolean, unable to interpret input)"
    ]
