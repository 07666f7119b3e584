"""Chat replies and the decoding calibration run on the pool's one decoding thread (chat/decode_thread.py)."""

from __future__ import annotations

import threading

import torch

from pluralign_core.chat import decoding_choice
from pluralign_core.chat.decode_thread import DecodeThread
from pluralign_core.chat.pool import BASE_KEY, ChatModelPool, ChatModelSpec
from tests.chat.test_chat import GREEDY, HELLO


def test_the_decoding_thread_is_one_long_lived_thread_with_its_torch_threads():
    previous = torch.get_num_threads()
    try:
        decoding = DecodeThread(torch_threads=1)
        first, second = (decoding.run(lambda: threading.current_thread()) for _ in range(2))
        assert first is second and first is not threading.current_thread()
        assert first.name.startswith("chat-decode")
        assert decoding.run(torch.get_num_threads) == 1
    finally:
        torch.set_num_threads(previous)


def test_calibration_and_replies_run_where_the_replies_are_decoded(tiny_model_dir, monkeypatch):
    previous = torch.get_num_threads()
    seen: dict[str, set[str]] = {"calibration": set(), "reply": set()}
    real_choice = decoding_choice.measured_choice

    def recording_choice(*args, **kwargs):
        seen["calibration"].add(threading.current_thread().name)
        return real_choice(*args, **kwargs)

    monkeypatch.setattr(decoding_choice, "measured_choice", recording_choice)
    monkeypatch.setattr(
        decoding_choice,
        "cached_or_measured",
        lambda ref, timers: decoding_choice.DecodingChoice(path=decoding_choice.LEAN_SPLIT),
    )
    try:
        pool = ChatModelPool()
        pool.add(ChatModelSpec(BASE_KEY, "base", str(tiny_model_dir)))
        base = pool.load(BASE_KEY)
        real_generate = base.decoder.generate

        def recording_generate(*args, **kwargs):
            seen["reply"].add(threading.current_thread().name)
            return real_generate(*args, **kwargs)

        monkeypatch.setattr(base.decoder, "generate", recording_generate)
        assert pool.reply(BASE_KEY, HELLO, GREEDY)
        pool.reply(BASE_KEY, HELLO, GREEDY)
    finally:
        torch.set_num_threads(previous)
    assert len(seen["reply"]) == 1 and seen["calibration"] == seen["reply"]
    assert next(iter(seen["reply"])).startswith("chat-decode")
