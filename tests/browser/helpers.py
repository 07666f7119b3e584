"""Small waits and checks for driving Streamlit pages with selenium."""

from __future__ import annotations

import time
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver


def wait_until_idle(driver: WebDriver, timeout: float = 90, settle: float = 1.0) -> None:
    """Wait until Streamlit reports that the script is not running, steadily for ``settle`` seconds.

    Streamlit marks its root element with ``data-test-script-state`` (``running`` while a rerun is under
    way); the app counts as idle once that attribute has said something else for ``settle`` seconds.
    """
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        roots = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stApp"]')
        state = roots[0].get_attribute("data-test-script-state") if roots else None
        if state in (None, "running", "initial"):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= settle:
            return
        time.sleep(0.25)
    raise TimeoutError("the page kept running for too long")


def exceptions_on_page(driver: WebDriver) -> list[str]:
    """Texts of any Streamlit exception boxes on the page."""
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')]


def wait_for(driver: WebDriver, css: str, timeout: float = 120) -> None:
    """Wait until an element matching ``css`` (or an exception box) is on the page."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if driver.find_elements(By.CSS_SELECTOR, css) or exceptions_on_page(driver):
            return
        time.sleep(0.25)
    raise TimeoutError(f"nothing matching {css!r} appeared within {timeout} s")


def open_page(driver: WebDriver, url: str, timeout: float = 180) -> None:
    """Load a page and wait until its script has drawn a title and stopped running."""
    driver.get(url)
    wait_for(driver, '[data-testid="stMain"] h1', timeout=timeout)
    wait_until_idle(driver, timeout=timeout)


def screenshot(driver: WebDriver, folder: Path, name: str) -> Path:
    """Full-page screenshot: the window is stretched to the document height first."""
    height = driver.execute_script(
        "const m = document.querySelector('[data-testid=\"stMain\"]') || document.body;"
        "return Math.max(m.scrollHeight, document.body.scrollHeight);"
    )
    driver.set_window_size(1400, min(max(int(height) + 100, 1000), 6000))
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1000)
    return path
