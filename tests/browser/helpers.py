"""Small waits and checks for driving Streamlit pages with selenium."""

from __future__ import annotations

import time
from pathlib import Path

from selenium.common.exceptions import ElementClickInterceptedException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

MAIN = "#stMain"
"""The main content area. Its ``data-testid`` is ``stMain`` on most pages but
``stAppScrollToBottomContainer`` once a page shows a chat input, so select it by its id."""


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
    wait_for(driver, f"{MAIN} h1", timeout=timeout)
    wait_until_idle(driver, timeout=timeout)


def screenshot(driver: WebDriver, folder: Path, name: str) -> Path:
    """Full-page screenshot: the window is stretched to the document height first."""
    height = driver.execute_script(
        f"const m = document.querySelector('{MAIN}') || document.body;"
        "return Math.max(m.scrollHeight, document.body.scrollHeight);"
    )
    driver.set_window_size(1400, min(max(int(height) + 100, 1000), 6000))
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1000)
    return path


# ----------------------------------------------------------------------------- reading the page
def wait_until(driver: WebDriver, condition, timeout: float = 60, what: str = "the condition", poll=0.5):
    """Poll ``condition()`` until it returns something truthy and return that; an exception box on the
    page fails at once (with its text) instead of waiting out the timeout.

    Elements replaced by a rerun while ``condition`` reads them count as "not yet", not as an error.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = condition()
        except StaleElementReferenceException:
            result = None
        if result:
            return result
        errors = exceptions_on_page(driver)
        if errors:
            raise AssertionError(f"the app raised while waiting for {what}: {errors}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout} s")
        time.sleep(poll)


def text_of(element: WebElement) -> str:
    """Text of an element, also when it sits in an inactive tab or a collapsed expander."""
    return " ".join((element.get_attribute("textContent") or "").split())


def alerts(driver: WebDriver, kind: str) -> list[str]:
    """Texts of the ``st.error`` / ``st.warning`` / ``st.success`` / ``st.info`` boxes of one ``kind``."""
    css = f'[data-testid="stAlertContent{kind.capitalize()}"]'
    return [text_of(e) for e in driver.find_elements(By.CSS_SELECTOR, css)]


def find_widget(root: WebDriver | WebElement, testid: str, label: str) -> WebElement:
    """The widget of one type (``testid``, e.g. ``stSelectbox``) whose label reads ``label``."""
    labels = []
    for element in root.find_elements(By.CSS_SELECTOR, f'[data-testid="{testid}"]'):
        names = element.find_elements(By.CSS_SELECTOR, '[data-testid="stWidgetLabel"]')
        text = text_of(names[0]) if names else text_of(element)
        if text == label:
            return element
        labels.append(text)
    raise LookupError(f"no {testid} labelled {label!r}; the page has {labels}")


def find_button(root: WebDriver | WebElement, label: str) -> WebElement:
    """The ``st.button`` or form submit button whose caption is ``label`` (an icon's name is ignored)."""
    captions = []
    css = '[data-testid="stButton"] button, [data-testid="stFormSubmitButton"] button'
    for button in root.find_elements(By.CSS_SELECTOR, css):
        caption = button.find_elements(By.CSS_SELECTOR, '[data-testid="stMarkdownContainer"]')
        text = text_of(caption[0]) if caption else text_of(button)
        if text == label:
            return button
        captions.append(text)
    raise LookupError(f"no button {label!r}; the page has {captions}")


def selected_options(widget: WebElement) -> list[str]:
    """The chosen value of a selectbox, or the chosen values (chips) of a multiselect."""
    if widget.get_attribute("data-testid") == "stMultiSelect":
        chips = widget.find_elements(By.CSS_SELECTOR, "[data-tag]")
        return [c.get_attribute("aria-label") or text_of(c) for c in chips]
    return [widget.find_element(By.CSS_SELECTOR, 'input[role="combobox"]').get_attribute("value") or ""]


def listed_options(driver: WebDriver, widget: WebElement) -> list[str]:
    """Open a selectbox's (or multiselect's) list, read every option, and close the list again."""
    click(driver, widget.find_element(By.CSS_SELECTOR, 'button[aria-haspopup="listbox"]'))
    options = wait_until(
        driver, lambda: driver.find_elements(By.CSS_SELECTOR, '[role="option"]'), 10, "the option list"
    )
    texts = [text_of(o) for o in options]
    widget.find_element(By.CSS_SELECTOR, 'input[role="combobox"]').send_keys(Keys.ESCAPE)
    wait_until(
        driver, lambda: not driver.find_elements(By.CSS_SELECTOR, '[role="option"]'), 10, "the list to close"
    )
    return texts


# ----------------------------------------------------------------------------- acting on the page
def click(driver: WebDriver, element: WebElement) -> None:
    """Scroll ``element`` to the middle of the window (clear of the sticky header) and click it."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    try:
        element.click()
    except ElementClickInterceptedException:
        driver.execute_script("arguments[0].click();", element)


def press(driver: WebDriver, label: str, root: WebElement | None = None, timeout: float = 120) -> None:
    """Click the button ``label`` and wait until the rerun it starts has finished."""
    click(driver, find_button(root or driver, label))
    wait_until_idle(driver, timeout=timeout)


def choose(
    driver: WebDriver, widget: WebElement, option: str, timeout: float = 120, *, before_pick=None
) -> None:
    """Pick ``option`` (its displayed text) in a selectbox or multiselect and wait for the rerun.

    ``before_pick`` (if given) is called just before the option is clicked, and the rerun is then left to
    the caller (a benchmark times it from that moment)."""
    field = widget.find_element(By.CSS_SELECTOR, 'input[role="combobox"]')
    click(driver, field)
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(option)

    def listed() -> WebElement | None:
        options = driver.find_elements(By.CSS_SELECTOR, '[role="option"]')
        return next((o for o in options if text_of(o) == option), None)

    found = wait_until(driver, listed, 10, f"the option {option!r} to be listed")
    if before_pick is not None:
        before_pick()
        click(driver, found)
        return
    click(driver, found)
    wait_until_idle(driver, timeout=timeout)


def fill(
    driver: WebDriver, widget: WebElement, value: object, timeout: float = 120, commit: str = Keys.ENTER
) -> None:
    """Replace the text of a text or number input and commit it (Enter; in a form, where Enter would
    submit, pass ``commit=Keys.TAB``); wait for the rerun."""
    field = widget.find_element(By.CSS_SELECTOR, "input, textarea")
    click(driver, field)
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.DELETE)
    field.send_keys(str(value), commit)
    wait_until_idle(driver, timeout=timeout)


def open_tab(driver: WebDriver, name: str) -> None:
    """Switch to the ``st.tabs`` tab called ``name``."""
    tabs = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stTab"]')
    tab = next((t for t in tabs if text_of(t) == name), None)
    assert tab is not None, f"no tab {name!r}; the page has {[text_of(t) for t in tabs]}"
    click(driver, tab)
    wait_until(driver, lambda: tab.get_attribute("aria-selected") == "true", 10, f"the tab {name!r}")


def upload(driver: WebDriver, path: Path, timeout: float = 120) -> None:
    """Give ``path`` to the page's file uploader, as a user dropping the file would."""
    field = driver.find_element(By.CSS_SELECTOR, '[data-testid="stFileUploaderDropzoneInput"]')
    field.send_keys(str(path))

    def shown() -> bool:
        chips = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stFileChipName"]')
        return any(path.name in text_of(c) for c in chips)

    wait_until(driver, shown, 30, f"{path.name} to show as uploaded")
    wait_until_idle(driver, timeout=timeout)


def expand(driver: WebDriver, label: str) -> WebElement:
    """Open the expander whose label contains ``label`` (if closed) and return it."""
    for expander in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stExpander"]'):
        summary = expander.find_element(By.TAG_NAME, "summary")
        if label in text_of(summary):
            if expander.find_element(By.TAG_NAME, "details").get_attribute("open") is None:
                click(driver, summary)
            return expander
    raise LookupError(f"no expander labelled {label!r}")


def table_cells(root: WebElement) -> list[list[str]]:
    """The rows of the ``st.dataframe`` tables in ``root`` as text, read from the grid's accessible cells
    (only rows the grid has drawn, so keep the tables short or scroll first)."""
    rows = root.find_elements(By.CSS_SELECTOR, '[data-testid="stDataFrame"] tbody tr')
    return [[text_of(cell) for cell in row.find_elements(By.CSS_SELECTOR, "td")] for row in rows]
