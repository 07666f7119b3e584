"""Secure defaults: localhost only, no code execution from uploads or model repos, safe path names."""

from __future__ import annotations

import argparse
import ast
import pickle
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pluralign_core import paths
from pluralign_core.commands import app as app_command
from pluralign_core.ratings.reading import Problems, read_table

SOURCE_DIRS = [paths.REPO_ROOT / "pluralign_core", paths.REPO_ROOT / "pages"]
SOURCES = [*sorted(p for d in SOURCE_DIRS for p in d.rglob("*.py")), paths.REPO_ROOT / "app.py"]


def test_the_server_listens_on_localhost_by_default():
    config = tomllib.loads((paths.REPO_ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    makefile = (paths.REPO_ROOT / "Makefile").read_text()
    assert "HOST ?= 127.0.0.1" in makefile and "pluralign app --host $(HOST)" in makefile
    parser = argparse.ArgumentParser()
    app_command.add_arguments(parser)
    defaults = parser.parse_args([])
    assert defaults.host == "127.0.0.1"
    arguments = app_command.streamlit_arguments(defaults.host, defaults.port)
    assert arguments[arguments.index("--server.address") + 1] == "127.0.0.1"


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            owner = ast.unparse(func.value) if isinstance(func, ast.Attribute) else ""
            yield node, owner, name


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(paths.REPO_ROOT)))
def test_no_code_runs_from_data_or_model_files(source: Path):
    """No unpickling, eval/exec, or remote model code anywhere in the app or the library."""
    tree = ast.parse(source.read_text(encoding="utf-8"))
    for node, owner, name in _calls(tree):
        where = f"{source.name}:{node.lineno}"
        assert name not in ("eval", "exec") or owner, f"{where}: {name}()"
        assert (owner, name) not in {("pickle", "load"), ("pickle", "loads"), ("joblib", "load")}, where
        keywords = {k.arg: k.value for k in node.keywords}
        if "trust_remote_code" in keywords:
            value = keywords["trust_remote_code"]
            assert isinstance(value, ast.Constant) and value.value is False, f"{where}: trust_remote_code"
        if owner == "torch" and name == "load":
            value = keywords.get("weights_only")
            assert isinstance(value, ast.Constant) and value.value is True, f"{where}: torch.load"
        if owner == "np" and name == "load":
            value = keywords.get("allow_pickle")
            assert value is None or (isinstance(value, ast.Constant) and value.value is False), where


class _Payload:
    """Unpickling this would create a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("suffix", [".pkl", ".pickle", ".csv", ".parquet", ".jsonl"])
def test_an_uploaded_pickle_is_never_unpickled(tmp_path: Path, suffix: str):
    marker = tmp_path / "pwned"
    upload = tmp_path / f"ratings{suffix}"
    upload.write_bytes(pickle.dumps(_Payload(marker)))
    problems = Problems()
    table = read_table(upload, problems)
    assert not marker.exists()
    assert table is None or table.frame.empty or problems.errors
    if suffix in (".pkl", ".pickle"):
        assert "never loaded" in " ".join(p.message for p in problems.errors)


@given(st.text(min_size=1, max_size=120))
def test_safe_names_stay_one_path_component(name: str):
    try:
        cleaned = paths.safe_name(name)
    except ValueError:
        return
    assert "/" not in cleaned and "\\" not in cleaned and not cleaned.startswith(".")
    root = Path("/srv/pluralign-home")
    assert (root / cleaned).resolve().parent == root


@pytest.mark.parametrize("name", ["../../etc/passwd", "..", "/abs/path", "a/../../b", ".hidden", "x\x00y"])
def test_traversal_names_are_neutralised_or_refused(name: str):
    try:
        cleaned = paths.safe_name(name)
    except ValueError:
        return  # nothing usable left: refused with a message
    assert (Path("/h") / cleaned).resolve().parent == Path("/h")
