"""Shared fixtures: every test gets its own pluralign home, so no test touches the user's store."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def pluralign_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty pluralign home (``PLURALIGN_HOME``) for one test."""
    home = tmp_path / "home"
    monkeypatch.setenv("PLURALIGN_HOME", str(home))
    monkeypatch.delenv("PLURALIGN_DB", raising=False)
    return home


@pytest.fixture
def store(pluralign_home: Path):
    from pluralign_core.store.database import Store

    return Store()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random causal LM folder (built once per test session, read-only by convention)."""
    from tests.tiny_models import make_tiny_causal_lm

    return make_tiny_causal_lm(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def smollm2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real embedded SmolLM2, de-quantized once per test session; pass it as a local model path."""
    from pluralign_core.models import base as base_models

    previous = os.environ.get("PLURALIGN_HOME")
    os.environ["PLURALIGN_HOME"] = str(tmp_path_factory.mktemp("smollm2-home"))
    try:
        return Path(base_models.resolve_model(base_models.EMBEDDED_MODEL))
    finally:
        if previous is None:
            os.environ.pop("PLURALIGN_HOME", None)
        else:
            os.environ["PLURALIGN_HOME"] = previous


@pytest.fixture
def bare_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """For AppTests: the store holds only what the test writes (the app's first-start bootstrap is a no-op)
    and Streamlit's caches start empty."""
    import streamlit as st

    stub = types.ModuleType("pluralign_core.store.bootstrap")
    stub.ensure_default_dataset = lambda store: None
    monkeypatch.setitem(sys.modules, "pluralign_core.store.bootstrap", stub)
    st.cache_resource.clear()
    st.cache_data.clear()
