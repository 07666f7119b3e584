"""Fixtures that start the real app on localhost and drive it with headless Chromium (selenium).

The app runs as a subprocess with its own ``PLURALIGN_HOME``; screenshots land in
``$PLURALIGN_SCREENSHOTS`` (default ``out/screenshots``) so that a person can look at every page.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pluralign_core.paths import REPO_ROOT
from tests.browser.launch import ChromiumMissing, chromium, running_app


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    folder = Path(os.environ.get("PLURALIGN_SCREENSHOTS", REPO_ROOT / "out" / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def app_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("browser-home")


@pytest.fixture(scope="module")
def app_url(app_home: Path, tiny_model_dir: Path) -> Iterator[str]:
    """Start the app as ``make app`` does (``pluralign app``) on a free localhost port; yields its URL."""
    with running_app(app_home, {"PLURALIGN_BASE_MODEL": str(tiny_model_dir)}) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """A headless Chromium driven by selenium; skipped only when Chromium is not installed."""
    try:
        driver = chromium(Path(os.environ.get("TMPDIR", "/tmp")) / f"chromium-{os.getpid()}")
    except ChromiumMissing as missing:
        pytest.skip(str(missing))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Keep each phase's report on the test item, so a fixture can tell whether its test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(autouse=True)
def evidence_on_failure(request: pytest.FixtureRequest, browser, screenshot_dir: Path) -> Iterator[None]:
    """When the test fails, keep what the browser showed: ``failed-<test>.png`` and ``.html``."""
    yield
    report = getattr(request.node, "report_call", None)
    if report is None or not report.failed:
        return
    from tests.browser.helpers import screenshot

    name = f"failed-{request.node.name}"
    (screenshot_dir / f"{name}.html").write_text(browser.page_source, encoding="utf-8")
    screenshot(browser, screenshot_dir, name)
