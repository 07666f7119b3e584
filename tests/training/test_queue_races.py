"""Cancel and resume race with the queue (issue 17, review finding 5), replayed with forced interleavings."""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pluralign_core import launcher
from pluralign_core.training import queue as queue_module
from pluralign_core.training.queue import CONFIG_FILE, ProcessQueue, read_status, write_status


class SleepQueue(ProcessQueue):
    FOLDER = "sleep-jobs"
    MODULE = "pluralign_core.no_such_worker"
    WHAT = "job"


@pytest.fixture
def live_process() -> Iterator[subprocess.Popen]:
    """A process standing in for a job's training process that keeps running."""
    process = subprocess.Popen(["sleep", "60"], start_new_session=True)
    yield process
    process.kill()
    process.wait()


def _job(queue: SleepQueue, run_id: str, process: subprocess.Popen, state: str) -> Path:
    folder = queue.root / run_id
    folder.mkdir(parents=True)
    (folder / CONFIG_FILE).write_text("{}\n")
    write_status(folder, state=state, pid=process.pid, pid_started=launcher.process_start_time(process.pid))
    return folder


def test_cancel_never_reports_cancelled_while_the_process_runs_on(
    tmp_path: Path, live_process: subprocess.Popen, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process outlives the stop (forced: the signal is lost); the job must not read ``cancelled``."""
    queue = SleepQueue(tmp_path / "jobs")
    folder = _job(queue, "r1", live_process, "running")
    monkeypatch.setattr(launcher, "stop", lambda *args, **kwargs: True)
    with pytest.raises(ValueError, match="still running"):
        queue.cancel("r1", timeout=0.1)
    assert read_status(folder)["state"] == "running"


def test_requeue_refuses_a_job_whose_process_is_alive(tmp_path: Path, live_process: subprocess.Popen) -> None:
    """Resume on a job marked cancelled whose process runs on would start a second one on its folder."""
    queue = SleepQueue(tmp_path / "jobs")
    folder = _job(queue, "r1", live_process, "cancelled")
    with pytest.raises(ValueError, match="still running"):
        queue.requeue("r1")
    assert read_status(folder)["state"] == "cancelled"


def test_two_resumes_at_once_queue_the_job_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Forced interleaving: both Resume clicks read ``cancelled`` before either writes ``queued``, and a
    poll starts the job in between; without the lock the second click re-queued a running job."""
    queue = SleepQueue(tmp_path / "jobs")
    done = subprocess.Popen(["true"])
    done.wait()
    folder = _job(queue, "r1", done, "cancelled")
    both_read = threading.Barrier(2, timeout=2)
    real_read = queue_module.read_status
    outcomes: list[str] = []

    def read_then_wait(job_dir):
        status = real_read(job_dir)
        # broken when the lock kept the other click out: it reads only after this one has written
        with contextlib.suppress(threading.BrokenBarrierError):
            both_read.wait()
        return status

    monkeypatch.setattr(queue_module, "read_status", read_then_wait)

    def click() -> None:
        try:
            queue.requeue("r1")
            # a poll starts the job right after the first successful requeue
            write_status(folder, state="running", pid=99999999)
            outcomes.append("queued")
        except ValueError as error:
            outcomes.append(str(error))

    clicks = [threading.Thread(target=click) for _ in range(2)]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join(10)
    monkeypatch.undo()
    assert sorted(outcomes)[-1] == "queued" and outcomes.count("queued") == 1, outcomes
    assert read_status(folder)["state"] == "running"
