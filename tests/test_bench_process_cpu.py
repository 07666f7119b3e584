"""The concurrent-sessions bench's CPU accounting (bench/process_cpu.py): CPU seconds land on the role of
the process that used them, and a process keeps its role after it ends."""

from __future__ import annotations

import subprocess
import sys

from bench.process_cpu import CpuByRole

SPIN = "import time\nend = time.process_time() + {seconds}\nwhile time.process_time() < end: pass\n"
# Named like the app on its command line; it starts a job (a grandchild) that spins, then spins itself.
FAKE_SERVER = (
    "import subprocess, sys, time\n"
    f"job = subprocess.Popen([sys.executable, '-c', {SPIN.format(seconds=0.6)!r}])\n"
    "time.sleep(0.3)\n" + SPIN.format(seconds=0.3) + "job.wait()\n"
)


def test_cpu_seconds_are_summed_by_role_and_kept_after_the_processes_end() -> None:
    cpu = CpuByRole(interval=0.1).start()
    server = subprocess.Popen([sys.executable, "-c", FAKE_SERVER, "pluralign_core.cli", "app"])
    other = subprocess.Popen([sys.executable, "-c", SPIN.format(seconds=0.4)])
    assert server.wait(timeout=60) == other.wait(timeout=60) == 0
    seconds = cpu.stop()
    assert set(seconds) == {"server", "jobs", "browsers", "bench"}
    assert 0.2 <= seconds["server"] < 1.5
    assert 0.4 <= seconds["jobs"] < 1.5  # a process that ended between samples loses up to 0.1 s
    assert seconds["browsers"] == 0
    assert seconds["bench"] >= 0.3
