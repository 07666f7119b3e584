"""The ``pluralign`` command line: the same core the app uses, headless.

Each sub-command lives in its own module under :mod:`pluralign_core.commands` and exposes ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``. A user's mistake (a bad config, a missing file, an
unknown id) ends with one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from pluralign_core import __version__
from pluralign_core.config_base import ConfigError

COMMANDS: dict[str, str] = {
    "datasets": "pluralign_core.commands.datasets",
    "init": "pluralign_core.commands.init",
    "simulate": "pluralign_core.commands.simulate",
    "import": "pluralign_core.commands.import_data",
    "analyze": "pluralign_core.commands.analyze",
    "preferences": "pluralign_core.commands.preferences",
    "reward": "pluralign_core.commands.reward",
    "train": "pluralign_core.commands.train",
    "jobs": "pluralign_core.commands.jobs",
    "evaluate": "pluralign_core.commands.evaluate",
    "grid": "pluralign_core.commands.grid",
    "export": "pluralign_core.commands.export",
    "demo": "pluralign_core.commands.demo",
    "chat": "pluralign_core.commands.chat",
    "app": "pluralign_core.commands.app",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pluralign", description="Pluralistic alignment workbench (headless commands)."
    )
    parser.add_argument("--version", action="version", version=f"pluralign {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        # argparse %-formats a subcommand's help (not its description)
        command = sub.add_parser(name, help=module.HELP.replace("%", "%%"), description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except ConfigError as error:  # already one line that names the file, the key and the expected type
        print(error, file=sys.stderr)
        return 2
    except (ValueError, KeyError, FileNotFoundError) as error:
        print(f"pluralign {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
