"""DPO step time of pluralign against a bare trl script, and peak memory of a SmolLM2 LoRA DPO job.

``python -m bench.bench_training``. Both sides train the real SmolLM2-135M-Instruct with the same LoRA
config, batch 4, sequences of 256 tokens and the same preference pairs, each in its own process (so peak
RSS is that job's own, read from ``ru_maxrss``); they alternate (``--rounds``) and the median step time
after a warm-up step is compared: process CPU time with one thread, which a shared machine's load
disturbs far less than wall time (printed too). Gradient checkpointing is on for both (trl's default).
pluralign runs its full path (``run_training``: config.yaml, progress JSONL, the weighted/soft-label loss
because the pairs carry unequal weights, model card); the bare script is trl's DPOTrainer as its
documentation shows it, without the weight columns (trl has no per-pair weight). pluralign's worker runs in
the environment its job queue gives a run (``training.common.JOB_ENVIRONMENT``: huge pages for large
tensors), the bare script in the plain one.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import workers
from bench.results import Figure, emit

BATCH = 4
SEQUENCE = 256
STEPS = 3
CHECKPOINTING = True  # trl's own default; keeps activations of a 30-layer model out of memory
LORA = {"r": 16, "alpha": 32, "dropout": 0.05, "targets": ["q_proj", "k_proj", "v_proj", "o_proj"]}
LEARNING_RATE = 5e-5
BETA = 0.1
SEED = 0

_SENTENCE = (
    "people rate answers differently because values differ across groups and that is why a careful "
    "answer listens first acknowledges feelings and avoids stereotypes about anyone"
)
_WORDS = _SENTENCE.split(" ")


def _text(n_words: int, offset: int) -> str:
    return " ".join(_WORDS[(offset + i) % len(_WORDS)] for i in range(n_words))


def make_data(folder: Path, n: int = 64) -> Path:
    """Pairs long enough that every prompt + answer fills the 256-token window (truncated to it)."""
    from datasets import Dataset, DatasetDict

    rows = {
        "prompt": [[{"role": "user", "content": _text(60, i)}] for i in range(n)],
        "chosen": [[{"role": "assistant", "content": _text(220, i + 3)}] for i in range(n)],
        "rejected": [[{"role": "assistant", "content": _text(220, i + 7)}] for i in range(n)],
        "weight": [1.0 + (i % 3) for i in range(n)],
        "probability": [0.8 + 0.05 * (i % 4) for i in range(n)],
    }
    DatasetDict({"train": Dataset.from_dict(rows)}).save_to_disk(str(folder))
    return folder


def _step_timer():
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self.cpu_times: list[float] = []
            self.started = self.cpu_started = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self.started, self.cpu_started = time.perf_counter(), time.process_time()

        def on_step_end(self, args, state, control, **kwargs):
            self.times.append(time.perf_counter() - self.started)
            self.cpu_times.append(time.process_time() - self.cpu_started)

    return StepTimer()


def worker_pluralign(model: str, data: str, out: Path) -> dict:
    from pluralign_core.training.config import RunConfig
    from pluralign_core.training.run import run_training

    config = RunConfig(
        base_model=model,
        preference_set=data,
        max_steps=STEPS,
        per_device_train_batch_size=BATCH,
        max_length=SEQUENCE,
        max_prompt_length=SEQUENCE,
        learning_rate=LEARNING_RATE,
        beta=BETA,
        lora_r=LORA["r"],
        lora_alpha=LORA["alpha"],
        lora_dropout=LORA["dropout"],
        lora_target_modules=LORA["targets"],
        seed=SEED,
        save_steps=STEPS * 10,
        gradient_checkpointing=CHECKPOINTING,
    )
    config.to_yaml(out / "config.yaml")
    timer = _step_timer()
    status = run_training(out, callbacks=[timer])
    if status.get("state") != "completed":
        raise RuntimeError(f"pluralign run failed: {status.get('error')}")
    return {
        "step_times": timer.times,
        "cpu_times": timer.cpu_times,
        "weighted_loss": status["facts"]["weighted_loss"],
    }


def worker_trl(model: str, data: str, out: Path) -> dict:
    from datasets import load_from_disk
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(model)
    tokenizer.padding_side = "left"
    policy = AutoModelForCausalLM.from_pretrained(model)
    dataset = load_from_disk(data)["train"].remove_columns(["weight", "probability"])
    args = DPOConfig(
        output_dir=str(out),
        max_steps=STEPS,
        per_device_train_batch_size=BATCH,
        max_length=SEQUENCE,
        learning_rate=LEARNING_RATE,
        beta=BETA,
        seed=SEED,
        logging_steps=1,
        save_strategy="steps",
        save_steps=STEPS * 10,
        report_to=[],
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=CHECKPOINTING,
        disable_tqdm=True,
    )
    peft_config = LoraConfig(
        r=LORA["r"],
        lora_alpha=LORA["alpha"],
        lora_dropout=LORA["dropout"],
        target_modules=LORA["targets"],
        task_type="CAUSAL_LM",
    )
    timer = _step_timer()
    trainer = DPOTrainer(
        model=policy,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[timer],
    )
    trainer.train()
    trainer.save_model(str(out / "adapter"))
    return {"step_times": timer.times, "cpu_times": timer.cpu_times}


def run_worker(kind: str, model: str, data: Path, scratch: Path) -> dict:
    """One job in its own process; pluralign's in the environment its job queue gives a run."""
    from pluralign_core.training.common import JOB_ENVIRONMENT

    out = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=scratch))
    arguments = ["--worker", kind, "--model", model, "--data", str(data), "--out", str(out)]
    env = {"OMP_NUM_THREADS": "1", **(JOB_ENVIRONMENT if kind == "pluralign" else {})}
    return workers.run_worker("bench.bench_training", arguments, env, kind, timeout=600)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker", choices=("pluralign", "trl"))
    parser.add_argument("--model")
    parser.add_argument("--data")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--rounds", type=int, default=1, help="trl/pluralign pairs (order alternates)")
    args = parser.parse_args()
    if args.worker:
        worker = worker_pluralign if args.worker == "pluralign" else worker_trl
        result = worker(args.model, args.data, args.out)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        workers.report(result)
        return 0

    from pluralign_core.models.base import EMBEDDED_MODEL, resolve_model

    model = resolve_model(EMBEDDED_MODEL)
    with tempfile.TemporaryDirectory(prefix="bench-training-") as scratch_name:
        scratch = Path(scratch_name)
        data = make_data(scratch / "prefs")
        results: dict[str, list[dict]] = {"trl": [], "pluralign": []}
        for round_index in range(args.rounds):
            order = ("trl", "pluralign") if round_index % 2 == 0 else ("pluralign", "trl")
            for kind in order:
                result = run_worker(kind, model, data, scratch)
                results[kind].append(result)
                wall = ", ".join(f"{t:.1f}" for t in result["step_times"])
                cpu = ", ".join(f"{t:.1f}" for t in result["cpu_times"])
                print(
                    f"{kind:9s} round {round_index + 1}: step wall [{wall}] s, step CPU [{cpu}] s, "
                    f"peak RSS {result['peak_rss_mb']:.0f} MB",
                    flush=True,
                )

    def median_step(kind: str, key: str) -> float:
        return statistics.median(t for r in results[kind] for t in r[key][1:])

    cpu = {kind: median_step(kind, "cpu_times") for kind in results}
    wall = {kind: median_step(kind, "step_times") for kind in results}
    peak_gb = max(r["peak_rss_mb"] for r in results["pluralign"]) / 1024
    trl_peak_gb = max(r["peak_rss_mb"] for r in results["trl"]) / 1024
    ratio = cpu["pluralign"] / cpu["trl"]
    print(
        f"median DPO step (batch {BATCH}, {SEQUENCE} tokens, SmolLM2 LoRA r{LORA['r']}, CPU, 1 thread): "
        f"CPU time pluralign {cpu['pluralign']:.1f} s vs bare trl {cpu['trl']:.1f} s -> ratio {ratio:.3f}; "
        f"wall {wall['pluralign']:.1f} s vs {wall['trl']:.1f} s -> {wall['pluralign'] / wall['trl']:.3f}"
    )
    print(
        f"peak RSS: pluralign SmolLM2 LoRA DPO job {peak_gb:.2f} GB, bare trl {trl_peak_gb:.2f} GB "
        f"(pluralign's weighted loss on: {results['pluralign'][0]['weighted_loss']})"
    )
    emit(
        Figure(
            "training",
            "DPO step CPU time, SmolLM2 LoRA, batch 4 × 256 tokens",
            cpu["pluralign"],
            "s",
            baseline_name="bare trl DPOTrainer script",
            baseline_value=cpu["trl"],
            target="ratio ≤ 1.0",
            met=ratio <= 1.0,
        )
    )
    emit(
        Figure(
            "training",
            "peak RSS, SmolLM2 LoRA DPO job, batch 4 × 256 tokens",
            peak_gb,
            "GB",
            baseline_name="bare trl DPOTrainer script",
            baseline_value=trl_peak_gb,
            target="≤ 2.5 GB",
            met=peak_gb <= 2.5,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
