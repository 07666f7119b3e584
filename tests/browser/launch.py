"""Start the real app on loopback and open headless Chromium sessions on it.

Shared by the browser tests (:mod:`tests.browser.conftest`) and the concurrent-sessions benchmark
(:mod:`bench.bench_concurrent_sessions`), so both drive the app exactly as ``make app`` starts it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pluralign_core.paths import REPO_ROOT

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
]


class ChromiumMissing(RuntimeError):
    """Chromium or chromedriver is not installed (``make browser-deps`` installs both)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_health(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited early with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"the app did not answer at {url} within {timeout} s")


@contextmanager
def running_app(
    home: Path,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    *,
    cwd: Path = REPO_ROOT,
    host: str | None = "127.0.0.1",
) -> Iterator[str]:
    """Start the app as ``make app`` does (``pluralign app``) on a free loopback port with its own
    ``PLURALIGN_HOME``; yields its URL and stops it (its whole process group) on exit. The log is
    ``<home>/app.log``. ``cwd`` is where it starts (another folder has no ``.streamlit/config.toml``);
    ``host=None`` leaves the address to ``pluralign app``'s own default."""
    port = free_port()
    full_env = {
        **os.environ,
        "PLURALIGN_HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        **(env or {}),
    }
    if cwd != REPO_ROOT:
        full_env["PYTHONPATH"] = str(REPO_ROOT)
    address = [] if host is None else ["--host", host]
    home.mkdir(parents=True, exist_ok=True)
    log = (home / "app.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "pluralign_core.cli", "app", *address, "--port", str(port)],
        cwd=cwd,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(url, process, timeout)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def chromium(profile: Path, page_load_timeout: float = 60):
    """A headless Chromium driven by selenium with its own profile folder; the caller quits it."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not binary or not driver_path:
        raise ChromiumMissing("chromium and chromium-driver are not installed (make test installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(page_load_timeout)
    return driver
