"""Queued evaluations: a separate process per evaluation, progress while it runs, cancel, restart-proof."""

from __future__ import annotations

import os
from pathlib import Path

from pluralign_core.evaluation.evaluate import evaluate_model
from pluralign_core.evaluation.jobs import EvaluationQueue
from pluralign_core.evaluation.results import evaluations, load_evaluation
from pluralign_core.training.queue import TERMINAL_STATES, read_events
from tests.evaluation.test_evaluation import _config, _fill
from tests.fault_helpers import wait_for

ENV = {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
RESULT_FILES = ("config.yaml", "generations.jsonl", "scores.parquet", "summary.json")


def _queue(delay: float, max_concurrent: int = 1) -> EvaluationQueue:
    return EvaluationQueue(max_concurrent=max_concurrent, env={**ENV, "PLURALIGN_STEP_DELAY": str(delay)})


def _finished(queue: EvaluationQueue, evaluation_id: str) -> bool:
    queue.poll()
    return queue.status(evaluation_id).get("state") in TERMINAL_STATES


def test_a_queued_evaluation_runs_in_its_own_process_and_a_new_queue_sees_the_result(store, tiny_model_dir):
    _fill(store)
    queue = _queue(delay=1.0)
    config = _config(tiny_model_dir, batch_size=1)
    evaluation_id = queue.submit(config)
    assert queue.status(evaluation_id)["state"] == "queued"
    assert queue.jobs("tiny").state.tolist() == ["queued"]
    assert queue.poll() == [evaluation_id]
    assert queue.poll() == []
    pid = queue.status(evaluation_id)["pid"]
    assert pid != os.getpid() and queue.is_alive(queue.status(evaluation_id))

    def generating():
        progress = queue.progress(evaluation_id)
        running = queue.status(evaluation_id)["state"] == "running"
        return running and 0 < progress["fraction"] < 1 and "generated" in progress["message"]

    wait_for(generating, 180, what="a progress line while the evaluation runs")
    assert evaluations(store, "tiny").empty  # nothing registered before it is done
    wait_for(lambda: _finished(queue, evaluation_id), 240, what="the evaluation to finish")
    status = queue.status(evaluation_id)
    assert status["state"] == "completed", queue.log_tail(evaluation_id)
    assert status["pid"] == pid and "classifier_toxicity" in status["metrics"]

    # A fresh queue object (as after an app restart) reads everything back from the folder.
    restarted = EvaluationQueue()
    row = restarted.jobs("tiny").set_index("evaluation_id").loc[evaluation_id]
    assert row["state"] == "completed" and row["fraction"] == 1.0 and row["message"] == "done"
    folder = restarted.run_dir(evaluation_id)
    assert all((folder / name).exists() for name in RESULT_FILES)
    assert not (folder / ".staging").exists()
    fractions = [e["fraction"] for e in read_events(folder / "progress.jsonl") if "fraction" in e]
    assert fractions == sorted(fractions) and len(fractions) >= 5
    registered = evaluations(store, "tiny")
    assert list(registered.artifact_id) == [evaluation_id]
    assert Path(registered.path.iloc[0]) == folder
    result = load_evaluation(store, evaluation_id)
    assert result.config == config and len(result.generations) == 2
    in_process = evaluate_model(store, config, evaluation_id="in-process")
    assert list(result.generations.response) == list(in_process.generations.response)  # same function


def test_cancel_stops_a_running_evaluation_and_a_queued_one_never_starts(store, tiny_model_dir):
    _fill(store)
    queue = _queue(delay=30.0)
    running = queue.submit(_config(tiny_model_dir))
    waiting = queue.submit(_config(tiny_model_dir, name="second"))
    assert queue.poll() == [running]
    wait_for(lambda: queue.progress(running)["message"] == "starting", 180, what="the worker to start")

    status = queue.cancel(running, timeout=20)
    assert status["state"] == "cancelled"
    assert not queue.is_alive(status)
    events = read_events(queue.run_dir(running) / "progress.jsonl")
    assert events[-1]["event"] == "cancelled"  # the worker saw SIGTERM and recorded it itself
    assert queue.cancel(waiting)["state"] == "cancelled"
    assert queue.poll() == []
    assert "pid" not in queue.status(waiting)
    assert evaluations(store, "tiny").empty
    assert not (queue.run_dir(running) / "summary.json").exists()
    assert queue.jobs("tiny").set_index("evaluation_id").state.to_dict() == {
        running: "cancelled",
        waiting: "cancelled",
    }
    queue.retry(waiting)
    assert queue.status(waiting)["state"] == "queued"
    assert queue.poll() == [waiting]
    assert queue.cancel(waiting, timeout=20)["state"] == "cancelled"
