"""Choosing the decoding path by measurement: the rule, the per-machine cache (hit, miss, other machine,
stale entry), and the pool honouring the choice, including falling back to ``generate`` when the lean
loop measures slower. Timings are injected, so the tests do not depend on this machine's speed."""

from __future__ import annotations

import json

import pytest
import torch

from pluralign_core import hardware
from pluralign_core.chat import decoding_choice
from pluralign_core.chat.decoding_choice import GENERATE, LEAN, LEAN_SPLIT, cached_or_measured, choose
from pluralign_core.chat.pool import BASE_KEY, ChatModelPool, ChatModelSpec, GenerationSettings

MACHINE = {"cpu": "Test CPU", "flags": ["avx512f"], "cores": 2, "torch": "x", "threads": 2}
HELLO = [{"role": "user", "content": "Why are some people so rude?"}]
GREEDY = GenerationSettings(temperature=0.0, max_new_tokens=10)


def counting_timers(rates: dict[str, float]) -> tuple[dict, dict[str, int]]:
    calls = dict.fromkeys(rates, 0)

    def timer(path: str):
        def timed() -> float:
            calls[path] += 1
            return rates[path]

        return timed

    return {path: timer(path) for path in rates}, calls


@pytest.mark.parametrize(
    ("rates", "expected"),
    [
        ({LEAN_SPLIT: 40.0, LEAN: 30.0, GENERATE: 20.0}, LEAN_SPLIT),
        ({LEAN_SPLIT: 15.0, LEAN: 30.0, GENERATE: 20.0}, LEAN),
        ({LEAN_SPLIT: 15.0, LEAN: 19.0, GENERATE: 20.0}, GENERATE),
        ({LEAN_SPLIT: 20.0, LEAN: 20.0, GENERATE: 20.0}, GENERATE),  # a lean path must beat generate
        ({LEAN_SPLIT: 25.0, LEAN: 25.0, GENERATE: 20.0}, LEAN_SPLIT),
        ({GENERATE: 20.0}, GENERATE),
        ({}, GENERATE),
    ],
)
def test_the_fastest_path_wins_and_lean_only_when_it_beats_generate(rates, expected):
    assert choose(rates) == expected


def test_measured_once_then_read_from_the_cache(tmp_path):
    cache = tmp_path / "chat_decoding.json"
    timers, calls = counting_timers({LEAN_SPLIT: 12.0, LEAN: 31.0, GENERATE: 24.0})
    first = cached_or_measured("model-a", timers, machine=MACHINE, path=cache)
    assert (first.path, first.cached) == (LEAN, False)
    assert first.rates == {LEAN_SPLIT: 12.0, LEAN: 31.0, GENERATE: 24.0}
    assert all(count == decoding_choice.ROUNDS for count in calls.values())
    stored = json.loads(cache.read_text())
    assert [entry["path"] for entry in stored.values()] == [LEAN]

    again, again_calls = counting_timers({LEAN_SPLIT: 99.0, LEAN: 1.0, GENERATE: 1.0})
    second = cached_or_measured("model-a", again, machine=MACHINE, path=cache)
    assert (second.path, second.cached, second.rates) == (LEAN, True, first.rates)
    assert set(again_calls.values()) == {0}  # a hit measures nothing
    assert "cached calibration" in second.note() and "Test CPU" in second.note()


def test_another_machine_or_model_is_measured_again(tmp_path):
    cache = tmp_path / "chat_decoding.json"
    cached_or_measured(
        "model-a", counting_timers({LEAN: 30.0, GENERATE: 20.0})[0], machine=MACHINE, path=cache
    )
    other_cpu = {**MACHINE, "cpu": "Other CPU", "flags": ["avx2"]}
    timers, calls = counting_timers({LEAN: 10.0, GENERATE: 20.0})
    assert cached_or_measured("model-a", timers, machine=other_cpu, path=cache).path == GENERATE
    assert calls[GENERATE] == decoding_choice.ROUNDS
    timers, calls = counting_timers({LEAN: 10.0, GENERATE: 20.0})
    assert cached_or_measured("model-b", timers, machine=MACHINE, path=cache).path == GENERATE
    assert len(json.loads(cache.read_text())) == 3
    # the first entry is untouched
    assert cached_or_measured("model-a", timers, machine=MACHINE, path=cache).cached


def test_a_cached_path_that_is_no_longer_a_candidate_is_measured_again(tmp_path):
    cache = tmp_path / "chat_decoding.json"
    cached_or_measured("m", counting_timers({LEAN: 30.0, GENERATE: 20.0})[0], machine=MACHINE, path=cache)
    timers, calls = counting_timers({GENERATE: 20.0})  # the lean loop can no longer run this model
    choice = cached_or_measured("m", timers, machine=MACHINE, path=cache)
    assert (choice.path, choice.cached, calls[GENERATE]) == (GENERATE, False, decoding_choice.ROUNDS)


def test_a_corrupt_cache_is_measured_over(tmp_path):
    cache = tmp_path / "chat_decoding.json"
    cache.write_text("{not json")
    choice = cached_or_measured(
        "m", counting_timers({LEAN: 30.0, GENERATE: 20.0})[0], machine=MACHINE, path=cache
    )
    assert choice.path == LEAN
    assert len(json.loads(cache.read_text())) == 1


def test_the_machine_is_described_by_cpu_and_flags():
    machine = decoding_choice.machine_description()
    assert machine["cpu"] and machine["threads"] == torch.get_num_threads()
    assert set(machine["flags"]) <= set(hardware.ISA_FLAGS)


@pytest.fixture()
def fake_rates(monkeypatch):
    """Make calibration see the given speeds (the real timers still run once as their warm-up)."""
    rates: dict[str, float] = {}
    real = decoding_choice.greedy_timers

    def timers(model, tokenizer, decoder, tokens=decoding_choice.CALIBRATION_TOKENS):
        measured = real(model, tokenizer, decoder, tokens=2)  # runs each path once (warm-up)
        return {path: (lambda path=path: rates[path]) for path in measured}

    monkeypatch.setattr(decoding_choice, "greedy_timers", timers)
    return rates


def chat_pool(folder) -> ChatModelPool:
    pool = ChatModelPool()
    pool.add(ChatModelSpec(BASE_KEY, "base", str(folder)))
    return pool


def test_pool_falls_back_to_generate_when_the_lean_loop_measures_slower(
    tiny_model_dir, pluralign_home, fake_rates
):
    fake_rates.update({LEAN_SPLIT: 10.0, LEAN: 12.0, GENERATE: 20.0})
    pool = chat_pool(tiny_model_dir)
    assert pool.decoding_note(BASE_KEY) == "Decoding: chosen when the model loads."  # the page loads nothing
    assert pool.decoding_path(BASE_KEY) == "generate (measured faster than the lean loop on this CPU)"
    assert "generate (calibration on" in pool.decoding_note(BASE_KEY)
    slow = pool.reply(BASE_KEY, HELLO, GREEDY)
    lean = ChatModelPool(calibrate=False)
    lean.add(ChatModelSpec(BASE_KEY, "base", str(tiny_model_dir)))
    assert lean.decoding_path(BASE_KEY) == "lean"
    assert lean.reply(BASE_KEY, HELLO, GREEDY) == slow

    fake_rates.update({LEAN_SPLIT: 99.0, LEAN: 99.0, GENERATE: 99.0})  # cached: the new speeds are not seen
    again = chat_pool(tiny_model_dir)
    assert again.decoding_path(BASE_KEY).startswith("generate")
    assert "cached calibration" in again.decoding_note(BASE_KEY)


@pytest.mark.parametrize(("faster", "split_k"), [(LEAN, False), (LEAN_SPLIT, True)])
def test_pool_uses_the_lean_variant_that_measured_faster(
    tiny_model_dir, pluralign_home, fake_rates, faster, split_k
):
    fake_rates.update({LEAN_SPLIT: 10.0, LEAN: 10.0, GENERATE: 5.0, faster: 30.0})
    pool = chat_pool(tiny_model_dir)
    assert pool.decoding_path(BASE_KEY) == "lean"
    base = pool.load(BASE_KEY)
    assert base.decoder.split_k is split_k
    assert pool.decoding_note(BASE_KEY).startswith(f"Decoding: {faster} (calibration on")
    reply = pool.reply(BASE_KEY, HELLO, GREEDY)
    plain = ChatModelPool(lean_decoding=False)
    plain.add(ChatModelSpec(BASE_KEY, "base", str(tiny_model_dir)))
    assert plain.reply(BASE_KEY, HELLO, GREEDY) == reply  # either variant gives generate's greedy reply


def test_real_timers_time_every_candidate_and_leave_the_split_as_it_was(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pluralign_core.chat.llama_decoder import LlamaDecoder

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    decoder = LlamaDecoder(model)
    decoder.split_k = False
    timers = decoding_choice.greedy_timers(model, tokenizer, decoder, tokens=3)
    assert list(timers) == list(decoding_choice.PATHS)
    rates = decoding_choice.measure(timers, rounds=1)
    assert all(rate > 0 for rate in rates.values())
    assert decoder.split_k is False
    assert list(decoding_choice.greedy_timers(model, tokenizer, None, tokens=3)) == [GENERATE]
