"""The job queue: runs as subprocesses, a concurrency limit, cancel, a killed run reported and resumed."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.fault_helpers import wait_for
from tests.training_data import make_preference_set, tiny_run_config

SLOW = {"PLURALIGN_STEP_DELAY": "0.5", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def _queue(tmp_path: Path, max_concurrent: int = 1):
    from pluralign_core.training.jobs import JobQueue

    return JobQueue(tmp_path / "runs", max_concurrent=max_concurrent, env=SLOW)


def test_runs_start_in_the_training_job_environment(tmp_path):
    from pluralign_core.training.common import JOB_ENVIRONMENT

    assert _queue(tmp_path).env == {**JOB_ENVIRONMENT, **SLOW}


def test_queue_limit_cancel_and_registration(tiny_model_dir, tmp_path, store):
    prefs = make_preference_set(tmp_path / "prefs")
    queue = _queue(tmp_path)
    slow = queue.submit(
        tiny_run_config(tiny_model_dir, preference_set=str(prefs), max_steps=200, name="slow")
    )
    quick = queue.submit(tiny_run_config(tiny_model_dir, preference_set=str(prefs), name="quick"))
    assert queue.poll() == [slow]
    assert queue.poll() == []  # one slot only
    table = queue.runs().set_index("run_id")
    assert table.loc[slow, "state"] == "running" and table.loc[quick, "state"] == "queued"

    wait_for(lambda: queue.progress(slow).get("step", 0) >= 1)
    status = queue.cancel(slow)
    assert status["state"] == "cancelled"
    assert queue.poll() == [quick]

    def finished():
        queue.poll()
        return queue.status(quick)["state"] in ("completed", "failed", "interrupted")

    wait_for(finished)
    assert queue.status(quick)["state"] == "completed", queue.log_tail(quick)
    assert set(queue.register_finished(store)) == {slow, quick}
    adapters = store.artifacts("adapter")
    assert list(adapters.artifact_id) == [f"adapter-{quick}"]
    assert adapters.iloc[0]["config"]["base_model"] == str(tiny_model_dir)
    assert adapters.iloc[0]["config"]["selection"] == {"filters": {"gender": ["woman"]}}
    assert adapters.iloc[0]["config"]["selection_label"] == "gender=woman"
    assert "train_loss" in adapters.iloc[0]["metrics"]
    assert set(store.artifacts("run").status) == {"cancelled", "completed"}
    assert queue.register_finished(store) == []  # registered once


def test_killed_run_is_reported_interrupted_and_resumes(tiny_model_dir, tmp_path):
    from pluralign_core.training.jobs import JobQueue, last_checkpoint

    prefs = make_preference_set(tmp_path / "prefs")
    queue = _queue(tmp_path)
    run_id = queue.submit(
        tiny_run_config(tiny_model_dir, preference_set=str(prefs), max_steps=6, save_steps=2)
    )
    queue.poll()
    folder = queue.run_dir(run_id)
    wait_for(lambda: last_checkpoint(folder))
    pid = queue.status(run_id)["pid"]
    os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: not queue.is_alive(queue.status(run_id)))

    # A fresh queue (as after an app restart) finds the dead process from the run folder alone.
    restarted = JobQueue(tmp_path / "runs", max_concurrent=1, env=SLOW)
    row = restarted.runs().set_index("run_id").loc[run_id]
    assert row["state"] == "interrupted"
    status = restarted.status(run_id)
    assert "killed or crashed" in status["error"] and status["log_tail"]
    step_at_kill = max(restarted.progress(run_id).get("step", 0), 2)

    checkpoint = restarted.resume(run_id)
    assert restarted.config(run_id).resume_from_checkpoint == str(checkpoint)
    assert restarted.poll() == [run_id]

    def done():
        restarted.poll()
        return restarted.status(run_id)["state"] != "running"

    wait_for(done)
    assert restarted.status(run_id)["state"] == "completed", restarted.log_tail(run_id)
    starts = [e for e in _events(folder) if e["event"] == "start"]
    assert len(starts) == 2 and starts[1]["step"] >= 2 and starts[1]["step"] <= step_at_kill
    assert restarted.progress(run_id)["step"] == 6
    assert (folder / "adapter" / "adapter_model.safetensors").exists()


def _events(folder: Path):
    from pluralign_core.training.callbacks import read_events

    return read_events(folder / "trainer_log.jsonl")


def test_a_reused_pid_is_not_taken_for_the_run(tiny_model_dir, tmp_path):
    """A status naming a live pid that started at another time (the pid was reused) is a dead run."""
    import time

    from pluralign_core.training.queue import write_status

    queue = _queue(tmp_path)
    run_id = queue.submit(tiny_run_config(tiny_model_dir, preference_set=str(tmp_path / "prefs")))
    folder = queue.run_dir(run_id)
    write_status(folder, state="running", pid=os.getpid(), pid_started=time.time() - 3600)
    assert not queue.is_alive(queue.status(run_id))
    assert queue.cancel(run_id, timeout=1)["state"] == "cancelled"  # and this process was not signalled

    write_status(folder, state="running", pid=os.getpid(), pid_started=time.time() - 3600)
    assert queue.refresh() == [run_id]
    assert queue.status(run_id)["state"] == "interrupted"
    foreground = queue.submit(tiny_run_config(tiny_model_dir, preference_set="x"), foreground=True)
    assert queue.is_alive(queue.status(foreground))  # the caller's own pid and start time
    assert queue.refresh() == []
