"""glibc allocator settings: freed heap pages handed back, large allocations mapped on their own."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pluralign_core import hardware

pytestmark = pytest.mark.skipif(hardware._libc() is None, reason="needs glibc")

# Frees a 20 MB tensor (which raises glibc's dynamic mmap threshold), then allocates 60 tensors of 4.7 MB,
# keeps the last one and frees the others: from one heap those pages stay resident, mapped they go back.
_SCRIPT = """
import sys, torch
from pluralign_core import hardware
if sys.argv[1] == "mapped":
    assert hardware.map_large_allocations(4 * 2**20)
def rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20
del_me = torch.ones(20 * 2**18)
del del_me
before = rss()
kept = [torch.ones(8 * 256 * 576) for _ in range(60)]
last = kept[-1]
del kept
print(rss() - before)
"""


def _growth(mode: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, mode], capture_output=True, text=True, check=True, timeout=120
    )
    return float(done.stdout.strip().splitlines()[-1])


def test_mapped_large_allocations_go_back_to_the_system_when_freed():
    assert _growth("heap") > 150  # glibc's default: the freed tensors' pages stay with the process
    assert _growth("mapped") < 30


def test_release_free_memory_trims_the_heap():
    assert hardware.release_free_memory() in (True, False)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import torch\nfrom pluralign_core import hardware\n"
            "small = [torch.ones(50_000) for _ in range(4000)]\nkeep = small[-1]\ndel small\n"
            "def rss():\n    return int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20\n"
            "before = rss()\nhardware.release_free_memory()\nprint(before - rss())",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert float(done.stdout.strip().splitlines()[-1]) > 400  # 4000 × 200 kB freed, handed back


_FAULTS_SCRIPT = """
import resource, torch
from pluralign_core import hardware
assert hardware.map_large_allocations(4 * 2**20)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(40):
    torch.ones(8 * 256 * 576)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 40)
"""


def _thp_mode() -> str:
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled", encoding="utf-8") as setting:
            return setting.read()
    except OSError:
        return "[never]"


@pytest.mark.skipif("[never]" in _thp_mode(), reason="transparent huge pages are off on this machine")
def test_training_job_environment_maps_tensors_with_fewer_page_faults():
    """A mapped 4.7 MB tensor costs over a thousand 4 kB page faults; in a training job's environment
    (huge pages for large tensors) far fewer."""
    import os

    from pluralign_core.training.common import JOB_ENVIRONMENT

    def faults(extra: dict[str, str]) -> float:
        plain = {k: v for k, v in os.environ.items() if k not in JOB_ENVIRONMENT}
        done = subprocess.run(
            [sys.executable, "-c", _FAULTS_SCRIPT],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
            env={**plain, **extra},
        )
        return float(done.stdout.strip().splitlines()[-1])

    plain, huge = faults({}), faults(JOB_ENVIRONMENT)
    assert plain > 1000
    assert huge < 0.7 * plain, (plain, huge)
