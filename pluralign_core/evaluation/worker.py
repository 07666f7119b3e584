"""The evaluation process: ``python -m pluralign_core.evaluation.worker EVALUATION_DIR``.

It reads ``EVALUATION_DIR/config.yaml`` (an :class:`EvaluationConfig`), runs :func:`evaluate_model` and
writes into the same folder: ``status.json`` (state, pid, times, error), ``progress.jsonl`` (one event per
step: fraction done and what is happening) and the result files. Unlike a training process it opens the
store, because it reads the held-out prompts and reward models and registers its result; the store holds
the DuckDB file only for the length of each operation, so the app keeps working meanwhile.

``pluralign evaluate`` calls :func:`run_evaluation` in its own process, so both ways run the same code.
``$PLURALIGN_STEP_DELAY`` (seconds after each progress event, as for training steps) slows an evaluation
down so that a demo or a test can watch and cancel it.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from pluralign_core import launcher
from pluralign_core.evaluation.config import PROGRESS_LOG, read_config
from pluralign_core.progress import ProgressCallback
from pluralign_core.store.database import Store
from pluralign_core.training.callbacks import STEP_DELAY_ENV
from pluralign_core.training.queue import (
    CONFIG_FILE,
    JobCancelled,
    append_event,
    cancel_on_sigterm,
    job_main,
    write_status,
)


def run_evaluation(
    folder: Path | str,
    store: Store | None = None,
    progress: ProgressCallback | None = None,
    *,
    classifier: Any = None,
) -> dict[str, Any]:
    """Evaluate the config in ``folder``, results into ``folder``; returns the final status.

    A SIGTERM (Cancel) ends it ``cancelled``, an error ``failed`` with the message: the status says
    what happened even when nobody watched the process.
    """
    folder = Path(folder).resolve()
    config = read_config(folder / CONFIG_FILE)
    log = folder / PROGRESS_LOG
    delay = float(os.environ.get(STEP_DELAY_ENV, "0") or 0)
    write_status(
        folder,
        state="running",
        pid=os.getpid(),
        pid_started=launcher.process_start_time(os.getpid()),
        started=time.time(),
        finished=None,
        error=None,
    )

    def report(fraction: float, message: str) -> None:
        append_event(
            log, {"event": "progress", "time": time.time(), "fraction": fraction, "message": message}
        )
        if delay:
            time.sleep(delay)
        if progress:
            progress(fraction, message)

    from pluralign_core.evaluation.evaluate import evaluate_model
    from pluralign_core.evaluation.scoring import headline_metrics

    with cancel_on_sigterm():
        try:
            report(0.0, "starting")
            result = evaluate_model(
                store or Store(),
                config,
                report,
                classifier=classifier,
                evaluation_id=folder.name,
                folder=folder,
            )
            append_event(log, {"event": "end", "time": time.time(), "fraction": 1.0, "message": "done"})
            return write_status(
                folder,
                state="completed",
                finished=time.time(),
                evaluation_id=result.evaluation_id,
                seconds=result.meta.get("seconds"),
                metrics=headline_metrics(result.summary),
            )
        except JobCancelled:
            append_event(log, {"event": "cancelled", "time": time.time()})
            return write_status(folder, state="cancelled", finished=time.time())
        except Exception as error:
            traceback.print_exc()
            append_event(log, {"event": "failed", "time": time.time(), "error": str(error)})
            return write_status(
                folder, state="failed", finished=time.time(), error=f"{type(error).__name__}: {error}"
            )


def main(argv: list[str] | None = None) -> int:
    return job_main(argv, "pluralign_core.evaluation.worker", run_evaluation)


if __name__ == "__main__":
    sys.exit(main())
