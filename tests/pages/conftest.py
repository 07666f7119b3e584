"""Fixtures the Chat page's AppTests share (tests/pages/test_page_chat.py and test_page_chat_votes.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from pluralign_core.store.database import Store
from tests.chat.test_chat import make_adapter
from tests.rewards.test_rewards import planted_bundle

CHAT_ADAPTER = "adapter-women"


@pytest.fixture
def one_torch_thread(bare_app) -> Iterator[None]:
    """One torch thread while the page generates (restored afterwards for the tests that follow)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def chat_store(store: Store, tiny_model_dir, tmp_path, monkeypatch) -> Store:
    """The planted dataset, the tiny base model as the chat base, and one adapter (``CHAT_ADAPTER``)."""
    monkeypatch.setenv("PLURALIGN_BASE_MODEL", str(tiny_model_dir))
    store.write_dataset(planted_bundle()[0])
    adapter = make_adapter(tiny_model_dir, tmp_path / "adapter", seed=1)
    store.register_artifact(
        "adapter",
        "women-dpo",
        path=adapter,
        config={"base_model": str(tiny_model_dir)},
        artifact_id=CHAT_ADAPTER,
    )
    return store
