"""A demo-grid DPO step on 2 CPU cores: precision, the reference cache and how many layers get LoRA.

``python -m bench.bench_demo_step [--rounds N] [--variants ...]``. Every variant trains the real
SmolLM2-135M-Instruct with the demo preset's run settings (LoRA r 16 on the linear layers, batch 8 pairs,
sequences of at most 96 tokens) through pluralign's whole run path, each in its own process with 2 threads;
variants alternate over rounds and the median step after the first is compared with float32 measured in the
same run:

- ``fp32``: the demo preset of 2026-12-01 (LoRA on every layer, activations recomputed, no cache),
  the baseline;
- ``bf16``: bfloat16 autocast (``precision: bf16``; ``auto`` picks it only on CPUs with AVX512-BF16 or AMX);
- ``fp32 + cache`` and ``bf16 + cache``: the reference log-probs taken from a warm
  :mod:`pluralign_core.training.reference_cache` (a previous run on the same pairs filled it), so a step has
  no reference forward;
- ``top 10, fp32 + cache``: LoRA on the last 10 layers only, no recomputation (the backward pass stops there);
- ``preset``: the demo preset as it is now (the above with ``precision: auto``).

It prints the CPU model and whether it has native bfloat16 instructions: the bf16 figure depends on it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import workers
from bench.bench_training import make_data
from bench.results import Figure, emit, machine_line

STEPS = 4
#: The demo preset before 2026-12-02 (fifth session): LoRA on every layer, activations recomputed.
_EVERY_LAYER = {"lora_top_layers": 0, "gradient_checkpointing": True}
VARIANTS = {
    "fp32": {"precision": "fp32", "cache_reference_logps": False, **_EVERY_LAYER},
    "bf16": {"precision": "bf16", "cache_reference_logps": False, **_EVERY_LAYER},
    "fp32 + cache": {"precision": "fp32", "cache_reference_logps": True, **_EVERY_LAYER},
    "bf16 + cache": {"precision": "bf16", "cache_reference_logps": True, **_EVERY_LAYER},
    "top 10, fp32 + cache": {"precision": "fp32"},
    "preset": {},
}


def worker(variant: str, data: str, out: Path) -> dict:
    from pluralign_core.experiments.grid_config import preset
    from pluralign_core.training.config import RunConfig
    from pluralign_core.training.run import run_training

    template = preset("demo").training.to_dict()
    template.update(
        algorithm="dpo",
        preference_set=data,
        max_steps=STEPS,
        save_steps=STEPS * 10,
        name="bench",
        **VARIANTS[variant],
    )
    config = RunConfig.from_dict(template)
    config.to_yaml(out / "config.yaml")
    times: list[float] = []
    cpu: list[float] = []
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            self.wall, self.cpu = time.perf_counter(), time.process_time()

        def on_step_end(self, args, state, control, **kwargs):
            times.append(time.perf_counter() - self.wall)
            cpu.append(time.process_time() - self.cpu)

    started = time.perf_counter()
    status = run_training(out, callbacks=[StepTimer()])
    if status.get("state") != "completed":
        raise RuntimeError(f"run failed: {status.get('error')}")
    return {"step_times": times, "cpu_times": cpu, "total": time.perf_counter() - started}


def run_worker(variant: str, data: Path, scratch: Path, home: Path) -> dict:
    out = Path(tempfile.mkdtemp(prefix="run-", dir=scratch))
    arguments = ["--worker", variant, "--data", str(data), "--out", str(out)]
    env = {"PLURALIGN_HOME": str(home), "OMP_NUM_THREADS": "2"}
    return workers.run_worker("bench.bench_demo_step", arguments, env, variant, timeout=900)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker", choices=list(VARIANTS))
    parser.add_argument("--data")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    args = parser.parse_args()
    if args.worker:
        workers.report(worker(args.worker, args.data, args.out))
        return 0

    from pluralign_core import paths
    from pluralign_core.models.base import EMBEDDED_MODEL, resolve_model

    resolve_model(EMBEDDED_MODEL)  # the de-quantized copy exists before any timing
    print(f"{machine_line()}; load average before: {os.getloadavg()[0]:.2f}", flush=True)
    chosen = [v for v in VARIANTS if v in args.variants or v == "fp32"]
    results: dict[str, list[dict]] = {v: [] for v in chosen}
    with tempfile.TemporaryDirectory(prefix="bench-demo-step-") as name:
        scratch = Path(name)
        cache_home = scratch / "home"  # its own cache, warmed by one untimed run per precision
        cache_home.mkdir()
        (cache_home / "models").symlink_to(paths.home() / "models")  # the de-quantized base, built above
        data = make_data(scratch / "prefs", n=8 * STEPS)
        for variant in chosen:
            if "cache" in variant or variant == "preset":
                run_worker(variant, data, scratch, cache_home)  # untimed: fills the cache
        for round_index in range(args.rounds):
            order = chosen if round_index % 2 == 0 else list(reversed(chosen))
            for variant in order:
                result = run_worker(variant, data, scratch, cache_home)
                results[variant].append(result)
                steps = ", ".join(f"{t:.1f}" for t in result["step_times"])
                print(f"{variant:13s} round {round_index + 1}: step wall [{steps}] s", flush=True)

    def median(variant: str, key: str) -> float:
        return statistics.median(t for r in results[variant] for t in r[key][1:])

    baseline = median("fp32", "step_times")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    for variant in chosen:
        wall, cpu = median(variant, "step_times"), median(variant, "cpu_times")
        print(f"{variant:13s} median step wall {wall:.2f} s (CPU {cpu:.2f} s), {wall / baseline:.2f}× fp32")
        if variant != "fp32":
            emit(
                Figure(
                    "demo step",
                    f"DPO step, demo preset (batch 8 × ≤ 96 tokens, LoRA r16 all-linear), {variant}",
                    wall,
                    "s",
                    baseline_name="fp32, no cache",
                    baseline_value=baseline,
                )
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
