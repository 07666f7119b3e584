"""Chat votes in a real browser: ask two models (the tiny base and a random LoRA adapter on it), rate both
replies, pick one, save, and open the new votes dataset on Explore.

The module starts its own app on a home that already holds the adapter (registered before the app
starts), so the Chat page opens with two models chosen.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.helpers import (
    MAIN,
    alerts,
    choose,
    click,
    exceptions_on_page,
    fill,
    find_widget,
    open_page,
    press,
    screenshot,
    selected_options,
    text_of,
    wait_until,
    wait_until_idle,
)
from tests.chat.test_chat import make_adapter

pytestmark = pytest.mark.browser

QUESTION = "How do I tell my parents I am moving abroad?"
VOTES_NAME = "chat votes (Simulated study population (default))"


@pytest.fixture(scope="module")
def app_home(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """A home whose store registers one adapter on the tiny base before the app starts."""
    from pluralign_core.store.database import Store

    home = tmp_path_factory.mktemp("chat-votes-home")
    previous = os.environ.get("PLURALIGN_HOME")
    os.environ["PLURALIGN_HOME"] = str(home)
    try:
        adapter = make_adapter(tiny_model_dir, home / "adapter", seed=1)
        Store().register_artifact(
            "adapter",
            "kind-dpo",
            path=adapter,
            config={"base_model": str(tiny_model_dir)},
            artifact_id="adapter-kind",
        )
    finally:
        if previous is None:
            os.environ.pop("PLURALIGN_HOME", None)
        else:
            os.environ["PLURALIGN_HOME"] = previous
    return home


def ask(driver: WebDriver, question: str, max_tokens: int = 8) -> None:
    """Ask the chosen models ``question`` and wait for both replies and the vote panel under them."""
    fill(driver, find_widget(driver, "stNumberInput", "Max new tokens"), max_tokens)
    field = driver.find_element(By.CSS_SELECTOR, '[data-testid="stChatInputTextArea"]')
    click(driver, field)
    field.send_keys(question, Keys.ENTER)

    def answered() -> bool:
        replies = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stChatMessageAvatarAssistant"]')
        return len(replies) >= 2 and bool(driver.find_elements(By.CSS_SELECTOR, '[data-testid="stRadio"]'))

    wait_until(driver, answered, 600, "both replies and the vote panel")
    wait_until_idle(driver, timeout=600, settle=2.0)


def rate_replies(driver: WebDriver, ratings: tuple[str, str] = ("2 · disagree", "4 · agree")) -> None:
    """Rate the two replies' toxicity (``ratings``, as labelled) and prefer reply A."""
    for position, option in enumerate(ratings):
        boxes = [
            box
            for box in driver.find_elements(By.CSS_SELECTOR, f'{MAIN} [data-testid="stSelectbox"]')
            if text_of(box).startswith("Toxicity")
        ]
        assert len(boxes) == 2, f"one Toxicity rating under each reply: {[text_of(b) for b in boxes]}"
        choose(driver, boxes[position], option)
    radio = find_widget(driver, "stRadio", "Preferred reply to question 1")
    first = next(o for o in radio.find_elements(By.CSS_SELECTOR, "label") if text_of(o).startswith("A ·"))
    click(driver, first)
    wait_until_idle(driver)


def test_votes_in_chat_land_as_a_dataset_that_explore_analyses(
    browser: WebDriver, app_url: str, app_home: Path, screenshot_dir: Path
) -> None:
    open_page(browser, app_url, timeout=300)
    open_page(browser, f"{app_url}/chat", timeout=300)
    models = selected_options(find_widget(browser, "stMultiSelect", "Models (2–4)"))
    assert len(models) == 2 and "kind-dpo" in models[1], models

    ask(browser, QUESTION)
    rate_replies(browser)
    assert exceptions_on_page(browser) == []
    screenshot(browser, screenshot_dir, "chat-votes")
    assert not any("Saved" in s for s in alerts(browser, "success")), "nothing saved before the button"

    press(browser, "Save votes")
    saved = wait_until(browser, lambda: [s for s in alerts(browser, "success") if "Saved" in s], 30, "saving")
    assert "Saved 4 rating(s)" in saved[0], saved  # two toxicity ratings and two preferred-reply scores

    press(browser, "Open votes on Explore", timeout=300)
    wait_until(
        browser,
        lambda: any("Explore" in text_of(h) for h in browser.find_elements(By.CSS_SELECTOR, f"{MAIN} h1")),
        120,
        "the Explore page",
    )
    wait_until_idle(browser, timeout=300, settle=2.0)
    assert exceptions_on_page(browser) == []
    sidebar = browser.find_element(By.CSS_SELECTOR, '[data-testid="stSidebar"]')
    active = selected_options(find_widget(sidebar, "stSelectbox", "Active dataset"))[0]
    assert active.startswith(VOTES_NAME), active
    main = text_of(browser.find_element(By.CSS_SELECTOR, MAIN))
    assert "Preferred reply" in main and "Toxicity" in main, main[:2000]
    screenshot(browser, screenshot_dir, "chat-votes-explore")
