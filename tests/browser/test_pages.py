"""Every page opens in a real browser without an error, and a screenshot of each is kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from tests.browser.helpers import exceptions_on_page, open_page, screenshot

pytestmark = pytest.mark.browser

PAGES = ["", "data", "items", "explore", "preferences", "train", "evaluate", "tradeoffs", "chat"]


@pytest.mark.parametrize("page", PAGES)
def test_page_opens_without_error(browser, app_url: str, screenshot_dir: Path, page: str) -> None:
    open_page(browser, f"{app_url}/{page}")
    screenshot(browser, screenshot_dir, f"page-{page or 'home'}")
    assert exceptions_on_page(browser) == []
    assert browser.find_elements(By.CSS_SELECTOR, "h1"), "every page has a title"
