"""``pluralign app``: start the Streamlit app (localhost unless told otherwise)."""

from __future__ import annotations

import argparse
import sys

from pluralign_core.paths import REPO_ROOT

HELP = "Start the web app (listens on 127.0.0.1 unless --host says otherwise)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8501)


def streamlit_arguments(host: str, port: int) -> list[str]:
    """``streamlit run`` arguments: headless, no file watcher, no usage statistics."""
    return [
        "run",
        str(REPO_ROOT / "app.py"),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
    ]


def run(args: argparse.Namespace) -> int:
    """Serve the app in this process.

    ``app.py`` routes with ``st.navigation``; Streamlit would otherwise treat the ``pages/`` folder next to
    it as a legacy multipage folder until the first run of ``app.py``, so a bookmarked ``/data`` opened
    first on a fresh server would run that page alone, without the app's menu and dataset picker.
    """
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.web import cli as streamlit_cli

    PagesManager.uses_pages_directory = False
    sys.argv = ["streamlit", *streamlit_arguments(args.host, args.port)]
    return int(streamlit_cli.main(standalone_mode=False) or 0)
