"""Training a queued run in the calling process: no new Python, no second model load of the libraries.

The Train page starts every run as its own process (it must outlive the page). Commands that train many
short runs in a row, the demo and the grid, train them in their own process instead: each run still gets
its folder, ``config.yaml``, ``status.json``, progress log and checkpoints exactly as a queued run, so it
resumes from its last checkpoint after an interruption and registers like any other run; only the process
start (about 25 s of imports and model load per run on 2 CPU cores) is saved.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from pluralign_core.progress import ProgressCallback


def prepare_run(runs: Path, name: str, run_config: Any) -> tuple[Path, bool]:
    """The run folder, set to resume from its last checkpoint; (folder, already completed)."""
    from pluralign_core.training.jobs import JobQueue, last_checkpoint
    from pluralign_core.training.queue import CONFIG_FILE, read_status
    from pluralign_core.training.run import ADAPTER_DIR

    queue = JobQueue(runs)
    run_dir = runs / name
    if not run_dir.exists():
        queue.submit(run_config, run_id=name, foreground=True)
        return run_dir, False
    status = read_status(run_dir)
    if status.get("state") == "completed" and (run_dir / ADAPTER_DIR / "adapter_config.json").exists():
        return run_dir, True
    checkpoint = last_checkpoint(run_dir)
    run_config.resume_from_checkpoint = str(checkpoint) if checkpoint else ""
    run_config.to_yaml(run_dir / CONFIG_FILE)
    return run_dir, False


def train_in_process(run_dir: Path, progress: ProgressCallback) -> dict[str, Any]:
    """Run one training in this process, reporting its steps (the run folder stays the source of truth)."""
    from transformers import TrainerCallback

    from pluralign_core.training.run import run_training

    class StepProgress(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.max_steps:
                progress(state.global_step / state.max_steps, f"step {state.global_step}/{state.max_steps}")

    try:
        return run_training(run_dir, callbacks=[StepProgress()])
    finally:
        gc.collect()  # the run's model and optimizer go before the next run loads its own
