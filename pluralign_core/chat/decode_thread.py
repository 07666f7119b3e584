"""One thread decodes every chat reply and runs the decoding calibration, with its own torch thread count.

Why (measured on a 2-core AMD EPYC, issue 19): the lean loop decodes SmolLM2 at about 30 tok/s in a
process's main thread but about 19 in any other thread, and the chat pool used to start a new thread per
reply. The measurements point at OpenMP's idle workers: ``OMP_WAIT_POLICY=PASSIVE`` slows the main thread
to the same 20 tok/s, ``ACTIVE`` slows a worker thread further (16: the first team's workers spin on the
two cores), and a worker thread with one torch thread, which runs no parallel region, measured 22 tok/s.
(Likely: a second OpenMP team makes more OpenMP threads than cores, and libgomp then barely spins before
sleeping, so each of the hundreds of parallel regions per token waits for a sleeping worker; not checked
in libgomp's source.)
So replies are decoded on one long-lived thread (:data:`TORCH_THREADS` torch threads), and the path
calibration (:mod:`.decoding_choice`) is timed on that same thread, so that it measures what the replies get.
``torch.set_num_threads`` is process-wide: once a pool decodes, the process's other torch work runs on one
thread too. In the app that is the chat page's own scoring; training, evaluation and grids run in job
processes with their own settings. Measured with ``python -m bench.bench_chat`` on the EPYC (quiet): replies
stream at 18.7 tok/s against 10.1 for ``generate`` on the same thread (1.85×); before, 10.5 against 10.5.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

#: torch threads of the decoding thread (see the module docstring).
TORCH_THREADS = 1
T = TypeVar("T")


class DecodeThread:
    """A single worker thread for decoding; ``run`` blocks, ``submit`` returns a future."""

    def __init__(self, torch_threads: int = TORCH_THREADS) -> None:
        self.torch_threads = int(torch_threads)
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="chat-decode", initializer=self._set_threads
        )

    def _set_threads(self) -> None:
        import torch

        if self.torch_threads > 0:
            torch.set_num_threads(self.torch_threads)

    def submit(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
        return self._executor.submit(function, *args, **kwargs)

    def run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``function`` on the decoding thread and return its result (must not be called from it)."""
        return self.submit(function, *args, **kwargs).result()
