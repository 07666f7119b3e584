"""``pluralign app``: start the Streamlit app (localhost unless told otherwise).

The server also refuses websocket connections whose ``Host`` header is not on an allow-list (by default
the loopback names). Binding to 127.0.0.1 alone does not stop DNS rebinding: a web page on
``evil.example`` can re-point its own name at 127.0.0.1, and Streamlit's origin check then only compares
``Origin`` with ``Host`` — both of which that page controls — so it could drive every widget. With an
allow-list the rebinding page's ``Host: evil.example`` is refused. To share the app on a network, listen
on another address and name the host names people will type: ``pluralign app --host 0.0.0.0
--allowed-host myserver.lan``. On a non-loopback address the app also requires an access token
(:mod:`pluralign_core.access_token`), printed as part of the link to open.
"""

from __future__ import annotations

import argparse
import os
import sys

from pluralign_core import access_token
from pluralign_core.paths import REPO_ROOT

HELP = "Start the web app (listens on 127.0.0.1 and accepts only loopback host names unless told otherwise)."

LOCAL_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also accept browsers that reach the app under this host name (repeatable; needed to share it "
        "on a network, e.g. --host 0.0.0.0 --allowed-host myserver.lan). Loopback names are always allowed.",
    )
    parser.add_argument(
        "--token",
        default=None,
        help="the access token a non-loopback server requires (default: a random one, printed in the link)",
    )
    parser.add_argument(
        "--no-token",
        action="store_true",
        help="serve a non-loopback address without an access token: anyone who reaches the port can read the "
        "ratings and demographics and drive every page",
    )


def allowed_hosts(extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The host names the server accepts: the loopback names plus the ones the user named."""
    names = [*LOCAL_HOSTS]
    for name in extra:
        cleaned = name.strip().lower()
        if not cleaned or cleaned == "*":
            raise ValueError(
                f"--allowed-host {name!r} would accept any host name and re-open DNS rebinding; "
                "name the host (e.g. myserver.lan)."
            )
        if cleaned not in names:
            names.append(cleaned)
    return names


def streamlit_arguments(host: str, port: int, extra_hosts: list[str] | tuple[str, ...] = ()) -> list[str]:
    """``streamlit run`` arguments: headless, no file watcher, no usage statistics, a Host allow-list."""
    arguments = [
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
        "--server.enableXsrfProtection",
        "true",
    ]
    for name in allowed_hosts(extra_hosts):
        arguments += ["--server.allowedHosts", name]
    return arguments


def run(args: argparse.Namespace) -> int:
    """Serve the app in this process.

    ``app.py`` routes with ``st.navigation``; Streamlit would otherwise treat the ``pages/`` folder next to
    it as a legacy multipage folder until the first run of ``app.py``, so a bookmarked ``/data`` opened
    first on a fresh server would run that page alone, without the app's menu and dataset picker.
    Files the app writes are private to the user (umask 077): the store holds demographic answers.
    """
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.web import cli as streamlit_cli

    os.umask(0o077)
    token = access_token.server_token(
        args.host, getattr(args, "token", None), disabled=bool(getattr(args, "no_token", False))
    )
    if token:
        os.environ[access_token.TOKEN_ENV] = token
    else:
        os.environ.pop(access_token.TOKEN_ENV, None)
        if not access_token.is_loopback(args.host):
            print(f"warning: {args.host} is not a loopback address and --no-token is set", file=sys.stderr)
    print(f"pluralign: open {access_token.share_link(args.host, args.port, token)}", flush=True)
    PagesManager.uses_pages_directory = False
    sys.argv = ["streamlit", *streamlit_arguments(args.host, args.port, getattr(args, "allowed_host", []))]
    return int(streamlit_cli.main(standalone_mode=False) or 0)
