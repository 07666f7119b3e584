"""Issue 17: a server on a network address requires an access token, as Jupyter does; loopback does not."""

from __future__ import annotations

import argparse
import os
import sys

import pytest
from streamlit.testing.v1 import AppTest

from pluralign_core import access_token, paths
from pluralign_core.commands import app as app_command
from pluralign_core.store.database import Store
from tests.factories import tiny_bundle


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.1.1", "localhost", "::1", "[::1]"])
def test_loopback_servers_need_no_token(host: str):
    assert access_token.is_loopback(host)
    assert access_token.server_token(host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "myserver.lan"])
def test_network_servers_get_a_fresh_random_token(host: str):
    assert not access_token.is_loopback(host)
    first, second = access_token.server_token(host), access_token.server_token(host)
    assert first and second and first != second and len(first) >= 32
    assert access_token.server_token(host, disabled=True) is None
    assert access_token.server_token(host, "a-chosen-token-of-length-26") == "a-chosen-token-of-length-26"
    with pytest.raises(ValueError, match="at least 16"):
        access_token.server_token(host, "short")


def test_only_the_exact_token_is_accepted():
    assert access_token.accepts(None, None)
    assert access_token.accepts("s3cret-token-0123456789", "s3cret-token-0123456789")
    for wrong in (None, "", "s3cret-token-012345678", "S3CRET-TOKEN-0123456789"):
        assert not access_token.accepts("s3cret-token-0123456789", wrong)


def test_the_printed_link_carries_the_token():
    assert access_token.share_link("0.0.0.0", 8501, "abc") == "http://localhost:8501/?token=abc"
    assert access_token.share_link("127.0.0.1", 8501, None) == "http://127.0.0.1:8501/"


def test_pluralign_app_on_a_network_address_hands_the_server_a_token(monkeypatch: pytest.MonkeyPatch, capsys):
    """``run`` sets the token for the server's sessions and prints the link; ``--no-token`` clears it."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.web import cli as streamlit_cli

    monkeypatch.setattr(streamlit_cli, "main", lambda standalone_mode=False: 0)
    monkeypatch.setattr(os, "umask", lambda mask: 0o022)  # run's process-wide settings stay in this test
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setattr(PagesManager, "uses_pages_directory", PagesManager.uses_pages_directory)
    monkeypatch.delenv(access_token.TOKEN_ENV, raising=False)
    parser = argparse.ArgumentParser()
    app_command.add_arguments(parser)
    app_command.run(parser.parse_args(["--host", "0.0.0.0"]))
    token = os.environ[access_token.TOKEN_ENV]
    assert f"?token={token}" in capsys.readouterr().out
    app_command.run(parser.parse_args(["--host", "0.0.0.0", "--no-token"]))
    assert access_token.TOKEN_ENV not in os.environ
    assert "--no-token" in capsys.readouterr().err
    app_command.run(parser.parse_args([]))
    assert access_token.TOKEN_ENV not in os.environ


def _open(token: str | None) -> AppTest:
    at = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=60)
    if token is not None:
        at.query_params[access_token.QUERY_PARAMETER] = token
    return at.run()


def test_a_session_without_the_token_runs_no_page(store: Store, bare_app, monkeypatch: pytest.MonkeyPatch):
    store.write_dataset(tiny_bundle("tiny"))
    monkeypatch.setenv(access_token.TOKEN_ENV, "the-servers-token-0123456789")
    for token in (None, "a-guessed-token-0123456789"):
        refused = _open(token)
        assert not refused.exception, refused.exception
        assert "needs its access token" in refused.error[0].value
        assert not refused.sidebar.selectbox and not refused.button
    granted = _open("the-servers-token-0123456789")
    assert not granted.exception, granted.exception
    assert not granted.error
    assert granted.button or granted.markdown
    monkeypatch.delenv(access_token.TOKEN_ENV)
    assert not _open(None).error
