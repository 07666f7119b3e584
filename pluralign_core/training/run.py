"""The training process: ``python -m pluralign_core.training.run RUN_DIR`` (or under ``accelerate launch``).

It reads ``RUN_DIR/config.yaml`` and writes only into the run folder: ``status.json`` (state, pids, times,
error), ``trainer_log.jsonl`` (progress), ``checkpoints/``, ``adapter/`` (a plain PEFT adapter folder with
its model card ``README.md``) and ``metrics.json``. It never opens the app's DuckDB file: DuckDB allows one
writing process per database, so the app (or CLI) registers finished runs itself (:mod:`.jobs`).
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from pluralign_core.training.callbacks import LOG_FILE, JsonlProgressCallback
from pluralign_core.training.config import RunConfig
from pluralign_core.training.queue import (
    CONFIG_FILE,
    JobCancelled,
    append_event,
    cancel_on_sigterm,
    job_main,
    write_status,
)

ADAPTER_DIR = "adapter"
METRICS_FILE = "metrics.json"


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def run_training(run_dir: Path | str, callbacks: list[Any] | None = None) -> dict[str, Any]:
    """Train the run described by ``run_dir/config.yaml``; returns the final status."""
    run_dir = Path(run_dir).resolve()
    config = RunConfig.from_yaml(run_dir / CONFIG_FILE)
    main = is_main_process()
    if main:
        import psutil

        # The pid the queue watches: this process (started by the queue, by `pluralign train`, or rank 0
        # of `accelerate launch`), so a run trained outside the queue is not taken for a dead one.
        write_status(
            run_dir,
            state="running",
            pid=os.getpid(),
            pid_started=psutil.Process().create_time(),
            started=time.time(),
            finished=None,
            error=None,
            resumed_from=config.resume_from_checkpoint or None,
        )
    with cancel_on_sigterm():
        return _run(config, run_dir, main, callbacks)


def _run(config: RunConfig, run_dir: Path, main: bool, callbacks: list[Any] | None) -> dict[str, Any]:
    """Train, save the adapter, its card and metrics; a cancel or an error becomes the run's final state."""
    from pluralign_core.training import common, modelcard

    try:
        if config.algorithm == "dpo":
            from pluralign_core.training import dpo as algorithm
        elif config.algorithm == "sft":
            from pluralign_core.training import sft as algorithm
        else:
            from pluralign_core.training import grpo as algorithm
        progress = [JsonlProgressCallback(run_dir / LOG_FILE), *(callbacks or [])]
        trainer, facts = algorithm.train(config, run_dir, progress)
        facts["world_size"] = trainer.args.world_size
        facts["precision"] = common.resolve_precision(config.precision)
        adapter = run_dir / ADAPTER_DIR
        trainer.save_model(str(adapter))
        metrics = common.final_metrics(trainer.state.log_history)
        if not main:  # rank 0 writes the run's status; this process only reports its own outcome
            return {"state": "completed", "rank": int(os.environ.get("RANK", "0"))}
        modelcard.write(adapter, config, run_dir.name, metrics, facts)
        (run_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2), encoding="utf-8")
        return write_status(
            run_dir,
            state="completed",
            finished=time.time(),
            metrics=metrics,
            adapter=str(adapter),
            facts=facts,
        )
    except JobCancelled:
        if main:
            append_event(run_dir / LOG_FILE, {"event": "cancelled", "time": time.time()})
            return write_status(run_dir, state="cancelled", finished=time.time())
        return {"state": "cancelled", "rank": int(os.environ.get("RANK", "0"))}
    except Exception as error:
        traceback.print_exc()
        if main:
            append_event(run_dir / LOG_FILE, {"event": "failed", "time": time.time(), "error": str(error)})
            return write_status(
                run_dir, state="failed", finished=time.time(), error=f"{type(error).__name__}: {error}"
            )
        raise


def main(argv: list[str] | None = None) -> int:
    return job_main(argv, "pluralign_core.training.run", run_training)


if __name__ == "__main__":
    sys.exit(main())
