"""The queue of training runs: each run a separate process, the run folders the source of truth.

The UI writes ``config.yaml`` into a new run folder and :class:`JobQueue` starts
``python -m pluralign_core.training.run RUN_DIR`` through the shared process queue
(:mod:`pluralign_core.training.queue`: own session, reused-pid guard, atomic status, ``interrupted`` for a
process that died) and follows ``trainer_log.jsonl``. What is specific to training lives here: resuming
from the last checkpoint, the loss/reward progress table, and registration. Training processes never open
the DuckDB store (one writing process per file): :meth:`JobQueue.register_finished` registers their
adapters from the app or CLI process.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

from pluralign_core.training.callbacks import LOG_FILE
from pluralign_core.training.common import CHECKPOINT_DIR, JOB_ENVIRONMENT
from pluralign_core.training.config import RunConfig
from pluralign_core.training.queue import (
    CONFIG_FILE,
    TERMINAL_STATES,
    ProcessQueue,
    _queue_lock,
    read_events,
    read_status,
    write_status,
)
from pluralign_core.training.run import ADAPTER_DIR


def last_checkpoint(run_dir: Path | str) -> Path | None:
    """The newest complete checkpoint folder of a run (one with ``trainer_state.json``), if any."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    found = []
    for child in folder.glob("checkpoint-*"):
        suffix = child.name.rsplit("-", 1)[-1]
        if child.is_dir() and suffix.isdigit() and (child / "trainer_state.json").exists():
            found.append((int(suffix), child))
    return max(found)[1] if found else None


class JobQueue(ProcessQueue):
    """Training runs under ``<home>/runs/<run_id>/``; at most ``max_concurrent`` run at once.

    Each run's process gets :data:`~pluralign_core.training.common.JOB_ENVIRONMENT`, then ``env``.
    """

    FOLDER = "runs"
    MODULE = "pluralign_core.training.run"
    WHAT = "training"
    ENVIRONMENT = JOB_ENVIRONMENT

    def config(self, run_id: str) -> RunConfig:
        return RunConfig.from_yaml(self.run_dir(run_id) / CONFIG_FILE)

    def submit(self, config: RunConfig, run_id: str | None = None, *, foreground: bool = False) -> str:
        """Create the run folder with ``config.yaml`` and state ``queued``; :meth:`poll` starts it.

        ``foreground=True`` registers a run that the calling process trains itself (``pluralign train``).
        """
        stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{config.label}"[:60]
        run_id = run_id or f"{stamp}-{uuid.uuid4().hex[:4]}"
        return self._create(
            config, run_id, foreground=foreground, name=config.label, algorithm=config.algorithm
        )

    def resume(self, run_id: str) -> Path:
        """Queue a stopped run again, continuing from its last checkpoint."""
        folder = self.run_dir(run_id)
        with _queue_lock(self.root):  # no poll or second Resume between the check and the requeue
            return self._resume(run_id, folder)

    def _resume(self, run_id: str, folder: Path) -> Path:
        status = read_status(folder)
        if status.get("state") not in ("interrupted", "failed", "cancelled"):
            raise ValueError(
                f"run {run_id} is {status.get('state')}: only interrupted, failed or cancelled "
                "runs can be resumed"
            )
        checkpoint = last_checkpoint(folder)
        if checkpoint is None:
            raise ValueError(
                f"run {run_id} has no checkpoint under {folder / CHECKPOINT_DIR} yet: "
                "submit it again (or lower save_steps)"
            )
        config = self.config(run_id)
        config.resume_from_checkpoint = str(checkpoint)
        config.to_yaml(folder / CONFIG_FILE)
        self.requeue(run_id, resumes=int(status.get("resumes", 0)) + 1)
        return checkpoint

    # ------------------------------------------------------------------ reading
    def progress(self, run_id: str) -> dict[str, Any]:
        """The latest progress line merged with the latest metric of each kind (loss may skip lines)."""
        events = read_events(self.run_dir(run_id) / LOG_FILE)
        merged: dict[str, Any] = {}
        for event in events:
            if event.get("event") in ("log", "start", "end"):
                merged.update({k: v for k, v in event.items() if v is not None})
        return merged

    def history(self, run_id: str) -> pd.DataFrame:
        events = [
            e for e in read_events(self.run_dir(run_id) / LOG_FILE) if e.get("event") == "log" and "loss" in e
        ]
        return pd.DataFrame(events)

    def runs(self) -> pd.DataFrame:
        """One row per run folder (newest first), after marking dead processes."""
        self.refresh()
        rows = []
        for run_id in self.run_ids():
            status = read_status(self.root / run_id)
            progress = self.progress(run_id)
            rows.append(
                {
                    "run_id": run_id,
                    "name": status.get("name", ""),
                    "algorithm": status.get("algorithm", ""),
                    "state": status.get("state", "unknown"),
                    "step": progress.get("step"),
                    "max_steps": progress.get("max_steps"),
                    "loss": progress.get("loss"),
                    "reward_margin": progress.get("reward_margin"),
                    "reward_mean": progress.get("reward_mean"),
                    "eta_s": progress.get("eta") if status.get("state") == "running" else None,
                    "queued": pd.to_datetime(status.get("queued"), unit="s")
                    if status.get("queued")
                    else None,
                    "error": status.get("error") or "",
                    "registered": bool(status.get("registered")),
                }
            )
        columns = [
            "run_id",
            "name",
            "algorithm",
            "state",
            "step",
            "max_steps",
            "loss",
            "reward_margin",
            "reward_mean",
            "eta_s",
            "queued",
            "error",
            "registered",
        ]
        return pd.DataFrame(rows, columns=columns).iloc[::-1].reset_index(drop=True)

    # ------------------------------------------------------------------ registry
    def register_finished(self, store: Any) -> list[str]:
        """Register finished runs (kind ``run``) and completed runs' adapters (kind ``adapter``) once."""
        from pluralign_core.training.modelcard import preference_config

        registered = []
        for run_id in self.run_ids():
            folder = self.root / run_id
            status = read_status(folder)
            state = status.get("state")
            if state not in TERMINAL_STATES or status.get("registered") == state:
                continue
            config = self.config(run_id)
            pref = preference_config(config)
            dataset_id = pref.get("dataset_id")
            metrics = status.get("metrics") or {}
            facts = {
                "base_model": config.base_model,
                "run_id": run_id,
                "algorithm": config.algorithm,
                "preference_set": config.preference_set or None,
                "prompt_set": config.prompt_set or None,
                "reward_models": config.reward_models,
                "selection": pref.get("selection"),
                "selection_label": pref.get("selection_label"),
                "dimensions": pref.get("dimensions"),
                "scale": pref.get("scale"),
                "disagreement": pref.get("disagreement"),
                "preference_config": pref,
                "run_config": config.to_dict(),
            }
            store.register_artifact(
                "run",
                config.label,
                path=folder,
                dataset_id=dataset_id,
                config=facts,
                metrics=metrics,
                status=state,
                artifact_id=f"run-{run_id}",
            )
            if state == "completed" and (folder / ADAPTER_DIR / "adapter_config.json").exists():
                store.register_artifact(
                    "adapter",
                    config.label,
                    path=folder / ADAPTER_DIR,
                    dataset_id=dataset_id,
                    config=facts,
                    metrics=metrics,
                    artifact_id=f"adapter-{run_id}",
                )
            write_status(folder, registered=state)
            registered.append(run_id)
        return registered
