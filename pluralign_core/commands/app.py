"""``pluralign app``: start the Streamlit app (localhost unless told otherwise)."""

from __future__ import annotations

import argparse
import os
import sys

from pluralign_core.paths import REPO_ROOT

HELP = "Start the web app (listens on 127.0.0.1 unless --host says otherwise)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8501)


def run(args: argparse.Namespace) -> int:
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(REPO_ROOT / "app.py"),
        "--server.address",
        args.host,
        "--server.port",
        str(args.port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
    ]
    os.execv(sys.executable, command)
    return 0
