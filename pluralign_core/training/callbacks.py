"""Progress of a training process as JSON lines, so that any other process can follow it.

The app never talks to a training process: it reads ``trainer_log.jsonl`` from the run folder. Every line
is one event: ``start``, ``log`` (step, max_steps, loss, reward margin or mean reward, learning rate,
elapsed, eta) or ``end``. Only the main process writes (under ``accelerate launch`` every rank runs the
callback).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from pluralign_core.training.queue import append_event, read_events

__all__ = ["LOG_FILE", "JsonlProgressCallback", "append_event", "read_events"]

LOG_FILE = "trainer_log.jsonl"
STEP_DELAY_ENV = "PLURALIGN_STEP_DELAY"

_METRIC_KEYS = {
    "loss": "loss",
    "rewards/margins": "reward_margin",
    "rewards/accuracies": "reward_accuracy",
    "reward": "reward_mean",
    "reward_std": "reward_std",
    "learning_rate": "learning_rate",
    "grad_norm": "grad_norm",
}


class JsonlProgressCallback(TrainerCallback):
    """Append one JSON line per logging step to ``<run_dir>/trainer_log.jsonl``."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.started = time.monotonic()
        self.first_step: int | None = None
        self.delay = float(os.environ.get(STEP_DELAY_ENV, "0") or 0)

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.monotonic()
        self.first_step = state.global_step
        if state.is_world_process_zero:
            append_event(
                self.path,
                {
                    "event": "start",
                    "time": time.time(),
                    "step": state.global_step,
                    "max_steps": state.max_steps,
                },
            )

    def on_step_end(self, args, state, control, **kwargs):
        if self.delay:
            time.sleep(self.delay)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        elapsed = time.monotonic() - self.started
        done = state.global_step - (self.first_step or 0)
        remaining = max(state.max_steps - state.global_step, 0)
        eta = elapsed / done * remaining if done > 0 else None
        event: dict[str, Any] = {
            "event": "log",
            "time": time.time(),
            "step": state.global_step,
            "max_steps": state.max_steps,
            "epoch": state.epoch,
            "elapsed": round(elapsed, 3),
            "eta": None if eta is None else round(eta, 3),
        }
        for key, name in _METRIC_KEYS.items():
            if key in logs and logs[key] is not None:
                event[name] = float(logs[key])
        if "train_loss" in logs:
            event["train_loss"] = float(logs["train_loss"])
        append_event(self.path, event)

    def on_train_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            append_event(
                self.path,
                {
                    "event": "end",
                    "time": time.time(),
                    "step": state.global_step,
                    "max_steps": state.max_steps,
                    "elapsed": round(time.monotonic() - self.started, 3),
                },
            )
