"""CPU seconds a benchmark's processes used, by role: the app's server, the jobs it started, the browsers.

On a machine where the browsers run beside the server (the concurrent-sessions bench: ten Chromiums and
the app on the same cores), a slow page may be slow because the server is slow or because the browsers
take the CPU the server needs. :class:`CpuByRole` samples every descendant of this process twice a second
(``psutil``: user + system time of each process, kept at its last reading) and sums them by role:

* ``server``: the app (``pluralign_core.cli app``) itself;
* ``jobs``: processes the app started (training runs, evaluations), at their own priority;
* ``browsers``: Chromium and chromedriver;
* ``bench``: this process (the selenium clients) and anything else it started.

A process that ends between two samples loses at most its last half second, so the sums are lower bounds.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict

import psutil

ROLES = ("server", "jobs", "browsers", "bench")


def _is_server(process: psutil.Process) -> bool:
    command = process.cmdline()
    return "pluralign_core.cli" in command and "app" in command


class CpuByRole:
    """Samples this process's tree in a background thread between :meth:`start` and :meth:`stop`."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self._seconds: dict[tuple[int, float], tuple[str, float]] = {}
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-by-role", daemon=True)
        self._me = psutil.Process(os.getpid())
        self._own_start = self._cpu(self._me)

    @staticmethod
    def _cpu(process: psutil.Process) -> float:
        times = process.cpu_times()
        return times.user + times.system

    def _role(self, process: psutil.Process, servers: set[int]) -> str:
        if process.pid in servers:
            return "server"
        if any(parent.pid in servers for parent in process.parents()):
            return "jobs"
        if "chrom" in process.name().lower():
            return "browsers"
        return "bench"

    def sample(self) -> None:
        """Read every descendant's CPU time once."""
        try:
            family = self._me.children(recursive=True)
        except psutil.NoSuchProcess:
            return
        servers = set()
        for process in family:
            try:
                if _is_server(process):
                    servers.add(process.pid)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        for process in family:
            try:
                key = (process.pid, process.create_time())
                known = self._seconds.get(key)  # a role is fixed when first seen: an ending process
                role = known[0] if known else self._role(process, servers)  # no longer shows its command
                self._seconds[key] = (role, self._cpu(process))
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            self.sample()

    def start(self) -> CpuByRole:
        self.sample()
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        """Stop sampling; CPU seconds by role (``bench`` includes this process's own since :meth:`start`)."""
        self.sample()
        self._stopped.set()
        self._thread.join(timeout=5)
        totals: dict[str, float] = defaultdict(float)
        for role, seconds in self._seconds.values():
            totals[role] += seconds
        totals["bench"] += self._cpu(self._me) - self._own_start
        return {role: round(totals[role], 1) for role in ROLES}
