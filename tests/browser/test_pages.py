"""Every page opens in a real browser without an error, and a screenshot of each is kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from tests.browser.helpers import exceptions_on_page, open_page, open_tab, screenshot, text_of, wait_until

pytestmark = pytest.mark.browser

PAGES = ["", "data", "items", "explore", "preferences", "train", "evaluate", "tradeoffs", "chat"]


@pytest.mark.parametrize("page", PAGES)
def test_page_opens_without_error(browser, app_url: str, screenshot_dir: Path, page: str) -> None:
    open_page(browser, f"{app_url}/{page}")
    screenshot(browser, screenshot_dir, f"page-{page or 'home'}")
    assert exceptions_on_page(browser) == []
    assert browser.find_elements(By.CSS_SELECTOR, "h1"), "every page has a title"


def test_explore_draws_a_tab_when_it_is_opened(browser, app_url: str) -> None:
    """Explore computes only the open tab: opening another one reruns the page and draws that tab."""
    open_page(browser, f"{app_url}/explore")
    for tab, text in (("Agreement", "Krippendorff"), ("% differences", "Difference of each group")):
        open_tab(browser, tab)

        def drawn(text: str = text) -> bool:
            panels = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stTabPanel"]')
            shown = [p for p in panels if p.is_displayed()]
            charts = shown[0].find_elements(By.CSS_SELECTOR, '[data-testid="stPlotlyChart"]') if shown else []
            return bool(charts) and text in text_of(shown[0])

        wait_until(browser, drawn, 120, f"the {tab} tab's chart")
        assert exceptions_on_page(browser) == []
