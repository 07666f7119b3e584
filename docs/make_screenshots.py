"""Regenerate the README's page screenshots (``docs/screenshots/*.png``) from a real app.

Run it against a pluralign home that has the default data and a finished demo grid, so that every page has
something to show::

    PLURALIGN_HOME=/tmp/demo .venv/bin/pluralign grid --preset demo --grid-id demo
    PLURALIGN_HOME=/tmp/demo PYTHONPATH=. .venv/bin/python docs/make_screenshots.py

It starts ``pluralign app`` on a free port, opens each page in headless Chromium (the browser tests'
helpers), asks the Chat page one question, and writes one PNG per page; then it rates the two replies and
keeps the rating controls (``chat-ratings.png``). ``--only chat-ratings`` takes just that one.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.browser.helpers import click, open_page, screenshot, wait_until, wait_until_idle
from tests.browser.launch import CHROMIUM_FLAGS, free_port

PAGES = ["", "data", "explore", "preferences", "train", "evaluate", "tradeoffs"]
NAMED = {"items": "item-browser"}  # pages whose screenshot has its own name
QUESTION = "Why do people disagree so strongly about politics?"


def _start_app(port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "pluralign_core.cli", "app", "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    for _ in range(240):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return process
        except OSError:
            time.sleep(0.5)
    process.terminate()
    raise TimeoutError("the app did not start")


def _chat(driver: webdriver.Chrome, url: str, folder: Path) -> None:
    open_page(driver, f"{url}/chat")
    field = driver.find_element(By.CSS_SELECTOR, '[data-testid="stChatInputTextArea"]')
    click(driver, field)
    field.send_keys(QUESTION, Keys.ENTER)

    def answered() -> bool:
        replies = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stChatMessageAvatarAssistant"]')
        return len(replies) >= 2

    wait_until(driver, answered, 600, "both replies")
    wait_until_idle(driver, timeout=600, settle=3.0)
    screenshot(driver, folder, "chat")


def _chat_ratings(driver: webdriver.Chrome, folder: Path) -> Path:
    """Rate the replies the Chat page shows and keep the part of the page from the replies to *Save votes*."""
    from PIL import Image

    from tests.browser.test_chat_votes import rate_replies

    rate_replies(driver)
    height = driver.execute_script("return document.querySelector('#stMain').scrollHeight;")
    driver.set_window_size(1400, min(max(int(height) + 100, 1000), 6000))
    wait_until_idle(driver, settle=2.0)
    top, bottom = driver.execute_script(
        """
        const first = document.querySelector('[data-testid="stChatMessage"]').getBoundingClientRect();
        const save = [...document.querySelectorAll('[data-testid="stButton"] button')]
            .find((b) => b.textContent.includes('Save votes')).getBoundingClientRect();
        return [first.top + window.scrollY - 75, save.bottom + window.scrollY + 16];
        """
    )
    path = folder / "chat-ratings.png"
    driver.save_screenshot(str(path))
    ratio = driver.execute_script("return window.devicePixelRatio;") or 1
    with Image.open(path) as image:
        image.crop((0, int(max(top, 0) * ratio), image.width, int(bottom * ratio))).save(path)
    driver.set_window_size(1400, 1000)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "screenshots")
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="PAGE",
        help="take only these pages (e.g. items, chat, chat-ratings); default: all",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    app = _start_app(port)
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir=/tmp/chromium-screenshots-{os.getpid()}")
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    url = f"http://127.0.0.1:{port}"
    try:
        for page in args.only or [*PAGES, *NAMED]:
            if page in ("chat", "chat-ratings"):
                continue
            open_page(driver, f"{url}/{page}", timeout=300)
            time.sleep(2)  # let charts finish drawing
            print(screenshot(driver, args.out, NAMED.get(page, page or "home")))
        if not args.only or "chat" in args.only:
            _chat(driver, url, args.out)
            print(args.out / "chat.png")
        if not args.only or "chat-ratings" in args.only:
            print(_chat_ratings(driver, args.out))
    finally:
        driver.quit()
        app.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
