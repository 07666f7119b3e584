"""The ``pluralign`` command line: every subcommand is listed and documents itself."""

from __future__ import annotations

import pytest

from pluralign_core import cli


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
