"""Side-by-side chat with the embedded SmolLM2-135M-Instruct: time to first token, tokens per second per
stream, and memory of three models (base + two LoRA adapters on the shared base) against one.

Steps, each in its own process so that memory figures do not mix:

1. ``--make-adapters DIR``: two LoRA adapters (r=16 on every attention and MLP projection, the training
   defaults' size) with random non-zero weights are written to a temporary folder.
2. ``--measure 1``: a :class:`~pluralign_core.chat.pool.ChatModelPool` loads the base and streams replies.
3. ``--measure 3``: the same pool loads the base and both adapters and streams a reply from each model in
   turn (as the chat page does), ``ROUNDS`` times.
4. Baseline, same run: step 3 again with the pool's lean decoding loop switched off, so every reply goes
   through transformers' ``generate`` with peft's unmerged LoRA layers (how the pool decoded before).

The pool chooses its decoding path by a short calibration at the first load of the base, cached per CPU
and model (:mod:`pluralign_core.chat.decoding_choice`); the table says which path served, with the
machine line (CPU model, ISA flags, cores), since a speed-up on one CPU may be a slow-down on another.

Time to first token is the time from asking for a reply to the first text chunk the streamer hands out
(what a user sees; a chunk is a whole word, so it can be a token or two later than the first token).
Tokens per second per stream is ``generated tokens / (end - first chunk)``, the tokens counted by
re-tokenizing the reply. Memory is the process's resident
set size after loading and generating minus the RSS after importing torch/transformers. Run:
``python -m bench.bench_chat`` (CPU; ``--threads`` sets torch threads).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.results import Figure, emit, machine_line

PROMPT = "Why do people disagree so strongly about politics? Answer in a few sentences."
MAX_NEW_TOKENS = 64
ROUNDS = 3
ADAPTERS = ("women-dpo", "men-dpo")


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def make_adapters(folder: Path, model_dir: str) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    for seed, name in enumerate(ADAPTERS):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_pretrained(model_dir)
        peft_model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules=targets))
        with torch.no_grad():
            for parameter_name, parameter in peft_model.named_parameters():
                if "lora_B" in parameter_name:
                    parameter.normal_(0, 0.01)
        peft_model.save_pretrained(folder / name)


def measure(n_models: int, model_dir: str, adapter_dir: Path, threads: int, decoding: str) -> dict:
    import torch

    torch.set_num_threads(threads)
    from pluralign_core.chat.pool import BASE_KEY, ChatModelPool, ChatModelSpec, GenerationSettings

    before = rss_mib()
    pool = ChatModelPool(lean_decoding=decoding == "lean")
    keys = [BASE_KEY]
    pool.add(ChatModelSpec(BASE_KEY, "base", model_dir))
    for name in ADAPTERS[: n_models - 1]:
        pool.add(ChatModelSpec(name, name, model_dir, str(adapter_dir / name)))
        keys.append(name)
    started = time.perf_counter()
    for key in keys:
        pool.load(key)
    load_s = time.perf_counter() - started
    tokenizer = pool.load(BASE_KEY).tokenizer
    messages = [{"role": "user", "content": PROMPT}]
    pool.reply(BASE_KEY, messages, GenerationSettings(max_new_tokens=4))  # warm-up
    streams = []
    for round_ in range(ROUNDS):
        for key in keys:
            settings = GenerationSettings(temperature=0.7, max_new_tokens=MAX_NEW_TOKENS, seed=round_)
            asked = time.perf_counter()
            first = None
            chunks = []
            for chunk in pool.stream_reply(key, messages, settings):
                if first is None and chunk:
                    first = time.perf_counter()
                chunks.append(chunk)
            done = time.perf_counter()
            tokens = len(tokenizer("".join(chunks), add_special_tokens=False).input_ids)
            streams.append(
                {
                    "model": key,
                    "ttft_s": (first or done) - asked,
                    "tokens": tokens,
                    "tokens_per_s": (tokens - 1) / (done - first) if first and done > first else 0.0,
                }
            )
    return {
        "n_models": n_models,
        "load_s": load_s,
        "memory_mib": rss_mib() - before,
        "loaded_bases": len(pool.loaded_bases),
        "paths": {key: pool.decoding_note(key) for key in keys},
        "streams": streams,
    }


def _child(*args: str) -> dict:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.bench_chat", *args], capture_output=True, text=True, check=False
    )
    if completed.returncode:
        raise RuntimeError(completed.stderr[-2000:])
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(lines[-1][7:]) if lines else {}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="model folder (default: the embedded SmolLM2, de-quantized once)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--make-adapters", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--measure", type=int, choices=[1, 3], help=argparse.SUPPRESS)
    parser.add_argument("--adapters", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--decoding", choices=["lean", "generate"], default="lean", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_adapters:
        make_adapters(Path(args.make_adapters), args.model)
        return 0
    if args.measure:
        result = measure(args.measure, args.model, Path(args.adapters), args.threads, args.decoding)
        print("RESULT " + json.dumps(result))
        return 0

    from pluralign_core.models.base import EMBEDDED_MODEL, resolve_model

    model_dir = args.model or resolve_model(EMBEDDED_MODEL)
    with tempfile.TemporaryDirectory(prefix="bench-chat-") as tmp:
        _child("--make-adapters", tmp, "--model", model_dir)
        common = ["--model", model_dir, "--adapters", tmp, "--threads", str(args.threads)]
        one = _child("--measure", "1", *common)
        three = _child("--measure", "3", *common)
        baseline = _child("--measure", "3", *common, "--decoding", "generate")

    print(machine_line())
    print(
        f"SmolLM2-135M-Instruct (fp32, CPU, {args.threads} threads), "
        f"{MAX_NEW_TOKENS} new tokens, {ROUNDS} rounds"
    )
    for label, run in (
        ("chat pool (lean decoding)", three),
        ("baseline: the same pool with generate", baseline),
    ):
        print(f"{label}: " + ", ".join(f"{key} -> {path}" for key, path in run["paths"].items()))
        for stream in run["streams"]:
            print(
                f"  {stream['model']:<10} first chunk {stream['ttft_s']:.3f} s  "
                f"{stream['tokens']:>3} tokens  {stream['tokens_per_s']:.1f} tok/s"
            )
    baseline_rate = statistics.median(s["tokens_per_s"] for s in baseline["streams"])
    ttft = statistics.median(s["ttft_s"] for s in three["streams"])
    ttft_worst = max(s["ttft_s"] for s in three["streams"])
    rate = statistics.median(s["tokens_per_s"] for s in three["streams"])
    rate_worst = min(s["tokens_per_s"] for s in three["streams"])
    print(
        f"memory: 1 model {one['memory_mib']:.0f} MiB, 3 models {three['memory_mib']:.0f} MiB "
        f"(bases loaded: {three['loaded_bases']})"
    )
    name = "bench_chat"
    emit(
        Figure(name, "time to first token (median of streams)", ttft, "s", target="<= 1.0 s", met=ttft <= 1.0)
    )
    emit(
        Figure(
            name,
            "time to first token (slowest stream)",
            ttft_worst,
            "s",
            target="<= 1.0 s",
            met=ttft_worst <= 1.0,
        )
    )
    emit(
        Figure(
            name,
            "tokens per second per stream (median)",
            rate,
            "tok/s",
            baseline_name="generate",
            baseline_value=baseline_rate,
            target=">= 1.3x generate (goal >= 30)",
            met=rate >= 1.3 * baseline_rate,
        )
    )
    emit(
        Figure(
            name,
            "tokens per second per stream (slowest)",
            rate_worst,
            "tok/s",
            target=">= 15",
            met=rate_worst >= 15,
        )
    )
    ratio = three["memory_mib"] / one["memory_mib"]
    emit(
        Figure(
            name,
            "memory, 3 models side by side",
            three["memory_mib"],
            "MiB",
            baseline_name="1 model",
            baseline_value=one["memory_mib"],
            target="<= 1.1x",
            met=ratio <= 1.1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
