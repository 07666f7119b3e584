"""Queued evaluations: each one a folder under ``<home>/evaluations/`` run by its own process.

The Evaluate page used to run an evaluation inside the page script, so navigating away killed it. Now it
submits the config to :class:`EvaluationQueue` — the same process queue as training runs
(:class:`~pluralign_core.training.queue.ProcessQueue`: queue lock, atomic status, reused-pid guard,
``interrupted`` for a process that died) with :mod:`.worker` as the process — and reads the folder back.
The job folder *is* the evaluation folder: its result files land beside ``status.json`` and
``progress.jsonl``, so trade-offs and the grid read it exactly as before.

Evaluations have their own concurrency limit, separate from training: an evaluation queued behind an
hour-long training run would look broken to someone waiting on the Evaluate page.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from pluralign_core.evaluation.config import (
    CONFIG_FILE,
    PROGRESS_LOG,
    EvaluationConfig,
    new_evaluation_id,
    read_config,
)
from pluralign_core.training.queue import ProcessQueue, read_events, read_status

JOB_COLUMNS = ["evaluation_id", "name", "model_id", "dataset_id", "state", "fraction", "message", "error"]


class EvaluationQueue(ProcessQueue):
    """Evaluations under ``<home>/evaluations/<evaluation_id>/``; at most ``max_concurrent`` at once."""

    FOLDER = "evaluations"
    MODULE = "pluralign_core.evaluation.worker"
    WHAT = "evaluation"

    def config(self, evaluation_id: str) -> EvaluationConfig:
        return read_config(self.run_dir(evaluation_id) / CONFIG_FILE)

    def submit(
        self, config: EvaluationConfig, evaluation_id: str | None = None, *, foreground: bool = False
    ) -> str:
        """Create the evaluation folder with ``config.yaml`` and state ``queued``; :meth:`poll` starts it.

        ``foreground=True`` registers an evaluation the calling process runs itself (``pluralign evaluate``).
        """
        return self._create(
            config,
            evaluation_id or new_evaluation_id(config),
            foreground=foreground,
            name=config.name,
            model_id=config.model_id,
            dataset_id=config.dataset_id,
        )

    def retry(self, evaluation_id: str) -> dict[str, Any]:
        """Queue a failed, cancelled or interrupted evaluation again (it starts from the beginning)."""
        return self.requeue(evaluation_id)

    def progress(self, evaluation_id: str) -> dict[str, Any]:
        """The latest progress event: ``fraction`` done (0–1) and ``message`` (what it is doing)."""
        events = read_events(self.run_dir(evaluation_id) / PROGRESS_LOG)
        latest = [e for e in events if "fraction" in e]
        return latest[-1] if latest else {"fraction": 0.0, "message": ""}

    def jobs(self, dataset_id: str | None = None) -> pd.DataFrame:
        """One row per queued evaluation (newest first), after marking dead processes."""
        self.refresh()
        rows = []
        for evaluation_id in self.run_ids():
            status = read_status(self.root / evaluation_id)
            if dataset_id is not None and status.get("dataset_id") != dataset_id:
                continue
            progress = self.progress(evaluation_id)
            rows.append(
                [
                    evaluation_id,
                    status.get("name") or "",
                    status.get("model_id") or "",
                    status.get("dataset_id") or "",
                    status.get("state", "unknown"),
                    float(progress.get("fraction") or 0.0),
                    progress.get("message") or "",
                    status.get("error") or "",
                ]
            )
        return pd.DataFrame(rows, columns=JOB_COLUMNS).iloc[::-1].reset_index(drop=True)
