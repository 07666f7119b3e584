"""``pluralign train --config run.yaml [--lora-r 8 ...]``: fine-tune with DPO or GRPO, headless.

Every :class:`RunConfig` field is also a flag (``--learning-rate 1e-5``) that overrides the YAML, and both go
through the config's typed validation: a wrong type or an unknown key ends with one line naming the file,
the key and the expected type (exit code 2), not a traceback.

Runs in the foreground and prints progress, or with ``--submit`` adds the run to the job queue that the app
also uses. Under ``accelerate launch`` give ``--run-dir`` so that every process trains the same run, e.g.
``accelerate launch --num_processes 4 -m pluralign_core.cli train --config run.yaml --run-dir runs/r1``
(see docs/accelerate.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HELP = "Fine-tune a base model with DPO or GRPO + LoRA from a run config YAML and/or flags."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from pluralign_core.training.config import RunConfig

    parser.add_argument("--config", type=Path, help="run config YAML (RunConfig fields); flags override it")
    parser.add_argument("--run-dir", type=Path, help="run folder (default: a new folder under <home>/runs)")
    parser.add_argument("--submit", action="store_true", help="queue the run for the job runner and return")
    parser.add_argument(
        "--no-register", action="store_true", help="do not register the adapter in the store when done"
    )
    RunConfig.add_flags(parser)


def _progress_callback():
    from transformers import TrainerCallback

    class ConsoleProgress(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            shown = {
                k: v for k, v in logs.items() if k in ("loss", "rewards/margins", "reward", "train_loss")
            }
            values = "  ".join(f"{k}={v:.4g}" for k, v in shown.items())
            print(f"step {state.global_step}/{state.max_steps}  {values}", flush=True)

    return ConsoleProgress()


def run(args: argparse.Namespace) -> int:
    from pluralign_core.training.config import RunConfig
    from pluralign_core.training.jobs import JobQueue
    from pluralign_core.training.run import CONFIG_FILE, is_main_process, run_training

    config = RunConfig.from_flags(args, args.config)
    if args.submit:
        queue = JobQueue()
        run_id = queue.submit(config)
        started = queue.poll()
        print(f"queued {run_id}" + (" (started)" if run_id in started else ""))
        print(f"follow it with: pluralign jobs logs {run_id}")
        return 0
    if args.run_dir is None:
        queue = JobQueue()
        run_dir = queue.root / queue.submit(config, foreground=True)
    else:
        run_dir = args.run_dir.resolve()
        run_dir.mkdir(parents=True, exist_ok=True)
        staging = run_dir / f".{CONFIG_FILE}.{os.getpid()}"
        config.to_yaml(staging)
        os.replace(staging, run_dir / CONFIG_FILE)
    if is_main_process():
        print(f"training {config.algorithm.upper()} run in {run_dir}", flush=True)
    status = run_training(run_dir, callbacks=[_progress_callback()])
    if not is_main_process():
        return 0
    state = status.get("state")
    print(
        f"run {state}: adapter in {run_dir / 'adapter'}"
        if state == "completed"
        else f"run {state}: {status.get('error') or ''}"
    )
    if state == "completed" and not args.no_register:
        _register(run_dir)
    return 0 if state == "completed" else 1


def _register(run_dir: Path) -> None:
    from pluralign_core.store.database import Store
    from pluralign_core.training.jobs import JobQueue

    try:
        registered = JobQueue(run_dir.parent).register_finished(Store())
    except Exception as error:  # the store may be busy; the app registers the run later
        print(
            f"could not register the adapter now ({error}); the app registers it on its next visit",
            file=sys.stderr,
        )
        return
    if registered:
        print(f"registered adapter-{run_dir.name} in the model registry")
