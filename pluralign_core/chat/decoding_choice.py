"""Choosing the chat decoding path per machine by measuring it, once per CPU and model.

Why: the lean loop (:mod:`~pluralign_core.chat.llama_decoder`) and its split-K trick were tuned on an AMD
EPYC with AVX2, where MKL's matrix-vector product uses one core; there the loop is twice as fast as
``generate``. On an Intel Xeon with AVX-512 the same code measured 1.27× ``generate`` alone but streamed
at 0.65× of it in the chat benchmark (issue 19): which path is fastest depends on the CPU's kernels and
on how busy its cores are, so it is measured rather than assumed.

At the first load of a base model the pool times a few greedy tokens with each candidate path
(:data:`PATHS`), interleaved and best of :data:`ROUNDS`, and keeps the fastest; the result is cached in
``$PLURALIGN_HOME/cache/chat_decoding.json`` under a key made of the CPU model, its ISA flags, the torch
version and thread count, and the model, so a machine decides once. A lean path is only chosen when it
beats ``generate``, so chat is never slower than ``generate`` on the machine that measured it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pluralign_core.hardware import cpu_model, isa_flags

LEAN_SPLIT = "lean, split-K"
LEAN = "lean"
GENERATE = "generate"
PATHS = (LEAN_SPLIT, LEAN, GENERATE)
"""The candidate decoding paths, in order of preference when two measure the same."""

ROUNDS = 2
CALIBRATION_TOKENS = 12
CACHE_FILE = "chat_decoding.json"


def machine_description() -> dict[str, Any]:
    """What the measured speeds depend on: CPU model, ISA flags, cores, torch version and threads."""
    import torch

    return {
        "cpu": cpu_model(),
        "flags": isa_flags(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


@dataclass
class DecodingChoice:
    """The decoding path chosen for one model on one machine, and the speeds that chose it."""

    path: str
    rates: dict[str, float] = field(default_factory=dict)  # tokens/s per candidate path
    machine: dict[str, Any] = field(default_factory=dict)
    model: str = ""
    cached: bool = False

    @property
    def lean(self) -> bool:
        return self.path != GENERATE

    def configure(self, decoder: Any) -> str:
        """Set the lean ``decoder`` up for this choice; returns why it is not used (``""`` when it is)."""
        decoder.split_k = self.path == LEAN_SPLIT
        return "" if self.lean else "measured faster than the lean loop on this CPU"

    def note(self) -> str:
        """One line for the chat page: the path and the measurement behind it."""
        speeds = ", ".join(f"{path} {rate:.1f}" for path, rate in self.rates.items())
        origin = "cached calibration" if self.cached else "calibration"
        return f"{self.path} ({origin} on {self.machine.get('cpu', 'this CPU')}: {speeds} tok/s)"


def choose(rates: Mapping[str, float]) -> str:
    """The fastest measured path; a lean path only when it beats ``generate`` (ties keep :data:`PATHS`
    order among lean paths, and ``generate`` wins a tie with them)."""
    measured = [path for path in PATHS if path in rates]
    if not measured:
        return GENERATE
    best = max(measured, key=lambda path: (rates[path], -PATHS.index(path)))
    if GENERATE in rates and best != GENERATE and rates[best] <= rates[GENERATE]:
        return GENERATE
    return best


def measure(timers: Mapping[str, Callable[[], float]], rounds: int = ROUNDS) -> dict[str, float]:
    """Best tokens/s of each path; ``timers[path]()`` decodes once and returns its tokens/s. Rounds are
    interleaved so that a burst of load elsewhere on the machine hits every path alike."""
    best = dict.fromkeys(timers, 0.0)
    for _ in range(rounds):
        for path, timer in timers.items():
            best[path] = max(best[path], float(timer()))
    return best


def cache_key(machine: Mapping[str, Any], model: str) -> str:
    text = json.dumps({"machine": dict(machine), "model": model}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_path() -> Path:
    from pluralign_core import paths

    return paths.subdir("cache") / CACHE_FILE


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def cached_or_measured(
    model: str,
    timers: Mapping[str, Callable[[], float]],
    *,
    machine: Mapping[str, Any] | None = None,
    path: Path | None = None,
) -> DecodingChoice:
    """The cached choice for ``model`` on this machine, or a new measurement (then cached).

    A cached choice whose path is not among ``timers`` (say a lean path for a model the lean loop can no
    longer run) is measured again.
    """
    machine = dict(machine if machine is not None else machine_description())
    path = path or cache_path()
    key = cache_key(machine, model)
    entry = _read_cache(path).get(key)
    if isinstance(entry, dict) and entry.get("path") in timers:
        return DecodingChoice(
            entry["path"], dict(entry.get("rates", {})), dict(entry.get("machine", machine)), model, True
        )
    rates = measure(timers)
    choice = DecodingChoice(choose(rates), rates, machine, model)
    data = _read_cache(path)
    data[key] = {k: v for k, v in asdict(choice).items() if k != "cached"}
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, indent=2), encoding="utf-8")
    temporary.replace(path)
    return choice


def greedy_timers(
    model: Any, tokenizer: Any, decoder: Any, tokens: int = CALIBRATION_TOKENS
) -> dict[str, Callable[[], float]]:
    """One timer per candidate path: ``tokens`` greedy tokens after a short chat prompt, prefill
    included, as tokens/s. Without a decoder only ``generate`` is a candidate."""
    import torch

    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Why do people disagree about politics?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    def generate(count: int) -> None:
        with torch.inference_mode():
            model.generate(
                **inputs, do_sample=False, min_new_tokens=count, max_new_tokens=count, pad_token_id=pad
            )

    def lean(split_k: bool) -> Callable[[int], None]:
        def run(count: int) -> None:
            previous, decoder.split_k = decoder.split_k, split_k
            try:
                decoder.generate(
                    inputs["input_ids"][0],
                    max_new_tokens=count,
                    sampling={"do_sample": False, "min_new_tokens": count},
                )
            finally:
                decoder.split_k = previous

        return run

    runs: dict[str, Callable[[int], None]] = {GENERATE: generate}
    if decoder is not None:
        runs = {LEAN_SPLIT: lean(True), LEAN: lean(False), **runs}
    for run in runs.values():  # warm-up: first-call costs are not the path's speed
        run(2)
    return {path: _rate(run, tokens) for path, run in runs.items()}


def _rate(run: Callable[[int], None], tokens: int) -> Callable[[], float]:
    def timed() -> float:
        started = time.perf_counter()
        run(tokens)
        return tokens / max(time.perf_counter() - started, 1e-9)

    return timed


def measured_choice(model_ref: str, model: Any, tokenizer: Any, decoder: Any) -> DecodingChoice:
    """The cached choice for this machine and model, or one measured now with :func:`greedy_timers` (in the
    calling thread: the chat pool calls it on its decoding thread, where the replies run)."""
    return cached_or_measured(model_ref, greedy_timers(model, tokenizer, decoder))
