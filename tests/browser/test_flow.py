"""The whole pipeline in a real browser: import → explore → preferences → train → evaluate → chat.

One app (fresh ``PLURALIGN_HOME``, a tiny random base model) serves the module. Steps 01–06 run in file order
and each leaves what the next one needs (the dataset, the preference set, the adapter) plus screenshots
``flow-NN-*.png``; a step whose predecessor failed is skipped rather than run on a half-built state. Test 00
opens a deep link first (it must stay the module's first test); 07 checks the sidebar after an import. The
last tests upload malformed files and check that the Data page explains the problem and leaves the datasets
alone.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from pluralign_core.paths import REPO_ROOT
from tests.browser.helpers import (
    MAIN,
    alerts,
    choose,
    click,
    exceptions_on_page,
    expand,
    fill,
    find_button,
    find_widget,
    listed_options,
    open_page,
    open_tab,
    press,
    screenshot,
    selected_options,
    table_cells,
    text_of,
    upload,
    wait_until,
    wait_until_idle,
)

pytestmark = pytest.mark.browser

EXAMPLE = REPO_ROOT / "data" / "examples" / "wide_ratings_en.csv"
DATASET_ID = "flow-survey"
DATASET_NAME = "Flow survey"
DATASET_LABEL = f"{DATASET_NAME} ({DATASET_ID})"
PREFERENCE_SET = "flow-prefs"
RUN_NAME = "flow-dpo"
TRAIN_TIMEOUT = 300
FINISHED = ("completed", "failed", "cancelled", "interrupted")

#: What each passed step leaves behind for the later ones (run id, preference set name, …).
done: dict[str, object] = {}


def needs(*steps: str) -> None:
    missing = [step for step in steps if step not in done]
    if missing:
        pytest.skip(f"needs the earlier step(s) {missing}, which did not pass")


def sidebar_dataset(driver: WebDriver) -> str:
    """The active dataset shown by the sidebar picker ("" while the sidebar has no picker)."""
    try:
        picker = find_widget(
            driver.find_element(By.CSS_SELECTOR, '[data-testid="stSidebar"]'), "stSelectbox", "Active dataset"
        )
    except LookupError:
        return ""
    return selected_options(picker)[0]


def metric(driver: WebDriver, label: str) -> str:
    for element in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMetric"]'):
        if text_of(element.find_element(By.CSS_SELECTOR, '[data-testid="stMetricLabel"]')) == label:
            return text_of(element.find_element(By.CSS_SELECTOR, '[data-testid="stMetricValue"]'))
    raise LookupError(f"no metric {label!r}")


def markdown_containing(driver: WebDriver, text: str) -> list[WebElement]:
    elements = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMarkdownContainer"]')
    return [e for e in elements if text in text_of(e)]


def alert_containing(driver: WebDriver, kind: str, text: str) -> str | None:
    return next((a for a in alerts(driver, kind) if text in a), None)


def assert_no_exception(driver: WebDriver) -> None:
    assert exceptions_on_page(driver) == [], exceptions_on_page(driver)


_home_opened: set[str] = set()


def visit(driver: WebDriver, app_url: str, page: str) -> None:
    """Open ``page``; the first time for this app, open the home page before it (see test_00)."""
    if app_url not in _home_opened:
        open_page(driver, app_url)
        _home_opened.add(app_url)
    open_page(driver, f"{app_url}/{page}")


def sidebar_nav(driver: WebDriver) -> list[str]:
    links = driver.find_elements(
        By.CSS_SELECTOR, '[data-testid="stSidebarNavLink"] [data-testid="stMarkdownContainer"]'
    )
    return [text_of(link) for link in links]


# ----------------------------------------------------------------------------- 0. a deep link first
def test_00_a_deep_link_opened_first_gets_the_app_frame(
    browser: WebDriver, app_url: str, screenshot_dir: Path
) -> None:
    """The first request this server sees is a bookmark of /data: it must still show the app's menu and
    dataset picker. Must stay the module's first test (any visit of the home page hides the problem)."""
    open_page(browser, f"{app_url}/data")
    screenshot(browser, screenshot_dir, "flow-00-deep-link")
    assert sidebar_nav(browser)[:2] == ["Home", "Data"], sidebar_nav(browser)
    assert sidebar_dataset(browser), "the sidebar has the active-dataset picker"


def import_through_wizard(driver: WebDriver, path: Path, name: str, checked: Path | None = None) -> str:
    """On the Data page: upload ``path``, keep the proposed mapping, name it, check it (screenshot to
    ``checked`` when given), import it; returns the success message."""
    open_tab(driver, "Import data")
    upload(driver, path)
    wait_until(driver, lambda: markdown_containing(driver, f"Preview of {path.name}"), 60, "the preview")
    wait_until_idle(driver)
    dataset_id = find_widget(driver, "stTextInput", "Dataset id").find_element(By.TAG_NAME, "input")
    assert dataset_id.get_attribute("value") == path.stem, "the wizard proposes the file name as the id"
    fill(driver, find_widget(driver, "stTextInput", "Name"), name)
    rating_columns = selected_options(
        find_widget(driver, "stMultiSelect", "Rating columns (one per dimension)")
    )
    assert rating_columns == [
        "Toxicity",
        "Emotional Awareness",
        "Sensitivity",
        "Stereotypical Bias",
        "Helpfulness",
    ]
    press(driver, "Check file")
    wait_until(driver, lambda: alert_containing(driver, "success", "No problems found"), 60, "the check")
    if checked is not None:
        screenshot(driver, checked.parent, checked.name)
    press(driver, "Import")
    return wait_until(
        driver, lambda: alert_containing(driver, "success", f"Imported {path.stem}"), 60, "the import"
    )


def use_dataset(driver: WebDriver, label: str) -> None:
    """Make ``label`` the active dataset with the sidebar picker (unless it already is)."""
    if sidebar_dataset(driver) != label:
        sidebar = driver.find_element(By.CSS_SELECTOR, '[data-testid="stSidebar"]')
        choose(driver, find_widget(sidebar, "stSelectbox", "Active dataset"), label)
    assert sidebar_dataset(driver) == label


# ----------------------------------------------------------------------------- 1. Data
def test_01_import_a_csv_through_the_wizard(
    browser: WebDriver, app_url: str, screenshot_dir: Path, tmp_path: Path
) -> None:
    upload_file = tmp_path / f"{DATASET_ID}.csv"
    shutil.copy(EXAMPLE, upload_file)
    visit(browser, app_url, "data")
    assert "Evaluate" in sidebar_nav(browser), sidebar_nav(browser)
    success = import_through_wizard(browser, upload_file, DATASET_NAME, screenshot_dir / "flow-01-check")
    assert "40 raters" in success and "600 ratings" in success, success
    open_tab(browser, "Active dataset")
    assert text_of(browser.find_element(By.CSS_SELECTOR, f"{MAIN} h3")) == DATASET_NAME
    assert metric(browser, "Raters") == "40" and metric(browser, "Dimensions") == "5"
    picker = find_widget(
        browser.find_element(By.CSS_SELECTOR, '[data-testid="stSidebar"]'), "stSelectbox", "Active dataset"
    )
    listed = listed_options(browser, picker)
    assert DATASET_LABEL in listed and len(listed) == 2, f"the default and the new dataset: {listed}"
    assert_no_exception(browser)
    screenshot(browser, screenshot_dir, "flow-01-import")
    done["dataset"] = DATASET_ID


# ----------------------------------------------------------------------------- 2. Explore
def test_02_explore_shows_group_means(browser: WebDriver, app_url: str, screenshot_dir: Path) -> None:
    needs("dataset")
    visit(browser, app_url, "explore")
    use_dataset(browser, DATASET_LABEL)
    main = browser.find_element(By.CSS_SELECTOR, MAIN)
    assert f"Dataset: {DATASET_NAME} ({DATASET_ID})" in text_of(main)
    choose(browser, find_widget(browser, "stSelectbox", "Attribute"), "Political leaning")
    expected = set(pd.read_csv(EXAMPLE).political_leaning.dropna())

    def ticks() -> set[str] | None:
        panel = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stTabPanel"]')
        charts = panel[0].find_elements(By.CSS_SELECTOR, '[data-testid="stPlotlyChart"]') if panel else []
        if not charts:
            return None
        labels = {text_of(t) for t in charts[0].find_elements(By.CSS_SELECTOR, "g.xtick text")}
        return labels if labels == expected else None

    wait_until(browser, ticks, 60, f"a group-means chart over {sorted(expected)}")
    assert_no_exception(browser)
    screenshot(browser, screenshot_dir, "flow-02-explore")


# ----------------------------------------------------------------------------- 3. Preferences
def test_03_save_a_preference_set(browser: WebDriver, app_url: str, screenshot_dir: Path) -> None:
    needs("dataset")
    visit(browser, app_url, "preferences")
    use_dataset(browser, DATASET_LABEL)
    assert int(metric(browser, "Pairs")) > 0, "the default choices give preference pairs"
    fill(browser, find_widget(browser, "stTextInput", "Name"), PREFERENCE_SET)
    press(browser, "Save preference set")
    saved = wait_until(browser, lambda: alert_containing(browser, "success", "registered as"), 60, "the save")
    assert f"{PREFERENCE_SET}" in saved, saved
    assert_no_exception(browser)
    screenshot(browser, screenshot_dir, "flow-03-preferences")
    done["preference_set"] = PREFERENCE_SET


# ----------------------------------------------------------------------------- 4. Train
def test_04_train_a_tiny_dpo_run(
    browser: WebDriver, app_url: str, app_home: Path, tiny_model_dir: Path, screenshot_dir: Path
) -> None:
    needs("preference_set")
    visit(browser, app_url, "train")
    fill(browser, find_widget(browser, "stTextInput", "Name"), RUN_NAME)
    choose(browser, find_widget(browser, "stSelectbox", "base model"), "Local folder or hub id…")
    fill(browser, find_widget(browser, "stTextInput", "base model folder or hub id"), tiny_model_dir)
    preference_set = selected_options(find_widget(browser, "stSelectbox", "preference set"))[0]
    assert preference_set.startswith(PREFERENCE_SET), preference_set
    fill(browser, find_widget(browser, "stNumberInput", "max steps"), 2)
    fill(browser, find_widget(browser, "stNumberInput", "per device train batch size"), 2)
    screenshot(browser, screenshot_dir, "flow-04-train-form")
    press(browser, "Queue run")
    queued = wait_until(
        browser, lambda: alert_containing(browser, "success", "Queued run"), 30, "the queued run"
    )
    run_id = re.search(r"Queued run (\S+?);", queued).group(1)

    caught_running = False

    def finished() -> str | None:
        nonlocal caught_running
        bars = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stProgress"]')
        state = text_of(bars[0]).split(" ")[0] if bars else ""
        if state == "running" and not caught_running:
            caught_running = True
            screenshot(browser, screenshot_dir, "flow-04-train-running")
        return state if state in FINISHED else None

    state = wait_until(browser, finished, TRAIN_TIMEOUT, "the run to finish", poll=1)
    log = app_home / "runs" / run_id / "process.log"
    assert state == "completed", (
        f"run {run_id} ended {state}: {log.read_text()[-3000:] if log.exists() else ''}"
    )
    status = app_home / "runs" / run_id / "status.json"
    wait_until(
        browser,
        lambda: json.loads(status.read_text()).get("registered") == "completed",
        30,
        "the page to register the adapter",
    )
    assert (app_home / "runs" / run_id / "adapter" / "adapter_config.json").exists()
    wait_until(
        browser,
        lambda: browser.find_elements(By.CSS_SELECTOR, '[data-testid="stPlotlyChart"]'),
        30,
        "the loss chart",
    )
    wait_until_idle(browser)
    assert_no_exception(browser)
    screenshot(browser, screenshot_dir, "flow-04-train-done")
    done["adapter"] = run_id


# ----------------------------------------------------------------------------- 5. Evaluate
def test_05_evaluate_the_adapter(browser: WebDriver, app_url: str, screenshot_dir: Path) -> None:
    needs("adapter")
    visit(browser, app_url, "evaluate")
    assert text_of(browser.find_element(By.CSS_SELECTOR, f"{MAIN} h1")) == "Evaluate"
    use_dataset(browser, DATASET_LABEL)
    model = find_widget(browser, "stSelectbox", "Model")
    options = listed_options(browser, model)
    adapter = next((o for o in options if o.startswith(f"{RUN_NAME} (adapter-")), None)
    assert options[0] == "base model" and adapter is not None, f"base and the trained adapter: {options}"
    choose(browser, model, adapter)
    fill(
        browser,
        find_widget(browser, "stNumberInput", "Held-out prompts per language (0 = all)"),
        1,
        commit=Keys.TAB,
    )
    fill(browser, find_widget(browser, "stNumberInput", "Answer length (tokens)"), 8, commit=Keys.TAB)
    press(browser, "Evaluate model", timeout=240)

    def results_heading() -> bool:
        headings = browser.find_elements(By.CSS_SELECTOR, f'{MAIN} [data-testid="stHeading"]')
        return any(text_of(h) == "Results" for h in headings)

    wait_until(browser, results_heading, 300, "the results of the background evaluation")
    main = text_of(browser.find_element(By.CSS_SELECTOR, MAIN))
    assert RUN_NAME in main, "the results are those of the adapter"
    assert alert_containing(browser, "info", "Evaluate the base model too"), (
        "no base evaluation yet, and it says so"
    )
    assert_no_exception(browser)
    screenshot(browser, screenshot_dir, "flow-05-evaluate")


# ----------------------------------------------------------------------------- 6. Chat
def test_06_chat_with_base_and_adapter(browser: WebDriver, app_url: str, screenshot_dir: Path) -> None:
    needs("adapter")
    visit(browser, app_url, "chat")
    models = selected_options(find_widget(browser, "stMultiSelect", "Models (2–4)"))
    assert len(models) == 2 and models[0].startswith("Base model") and RUN_NAME in models[1], models
    fill(browser, find_widget(browser, "stNumberInput", "Max new tokens"), 16)
    field = browser.find_element(By.CSS_SELECTOR, '[data-testid="stChatInputTextArea"]')
    click(browser, field)
    field.send_keys("How do I tell my parents I am moving abroad?", Keys.ENTER)

    def replies() -> dict[str, str] | None:
        found = {}
        for column in browser.find_elements(By.CSS_SELECTOR, '[data-testid="stColumn"]'):
            heading = column.find_elements(By.CSS_SELECTOR, '[data-testid="stHeading"]')
            if not heading or text_of(heading[0]) not in models:
                continue
            for message in column.find_elements(By.CSS_SELECTOR, '[data-testid="stChatMessage"]'):
                if message.find_elements(By.CSS_SELECTOR, '[data-testid="stChatMessageAvatarAssistant"]'):
                    content = message.find_element(By.CSS_SELECTOR, '[data-testid="stChatMessageContent"]')
                    found[text_of(heading[0])] = text_of(content)
        return found if len(found) == 2 else None

    wait_until(browser, replies, 180, "a reply in both columns")
    wait_until_idle(browser, timeout=180)
    answered = replies()
    assert answered is not None and set(answered) == set(models), answered
    assert all(answered.values()), f"each model wrote something: {answered}"
    assert_no_exception(browser)
    screenshot(browser, screenshot_dir, "flow-06-chat")


# ----------------------------------------------------------------------------- 7. the sidebar after an import
def test_07_sidebar_follows_an_import(
    browser: WebDriver, app_url: str, screenshot_dir: Path, tmp_path: Path
) -> None:
    """Right after an import the sidebar names the new dataset, and the next click keeps it active."""
    upload_file = tmp_path / "flow-second.csv"
    shutil.copy(EXAMPLE, upload_file)
    visit(browser, app_url, "data")
    before = sidebar_dataset(browser)
    import_through_wizard(browser, upload_file, "Second survey")
    open_tab(browser, "Active dataset")
    wait_until_idle(browser)
    screenshot(browser, screenshot_dir, "flow-07-after-import")
    shown = text_of(browser.find_element(By.CSS_SELECTOR, f"{MAIN} h3"))
    assert shown == "Second survey"
    choose(browser, find_widget(browser, "stSelectbox", "Attribute"), "Education")
    after_click = text_of(browser.find_element(By.CSS_SELECTOR, f"{MAIN} h3"))
    assert (sidebar_dataset(browser), after_click) == ("Second survey (flow-second)", "Second survey"), (
        f"before the import the sidebar said {before!r}"
    )


# ----------------------------------------------------------------------------- malformed uploads
HEADER = "participant_id,item_id,prompt,response,language,gender,Toxicity\n"
BAD_UPLOADS = {
    # A compressed file named .csv (UTF-16 and Latin-1 files are read now: the encoding is detected).
    "gzip": (
        gzip.compress((HEADER + "P1,i1,Hi,Hello there,en,woman,2\n").encode()),
        "The file cannot be read; nothing was imported",
        ("binary",),
    ),
    # No column the wizard can use as a rating.
    "no-ratings": (
        b"participant_id,gender,age_group\nP1,woman,25-34\nP2,man,18-24\n",
        "The mapping needs a fix: the wide layout needs at least one rating column",
        (),
    ),
}
FORMULA = "=cmd|' /C calc'!A0"
FORMULA_CSV = (
    HEADER + f'P1,i1,Hi,"{FORMULA}",en,woman,2\nP1,i2,Hi,Hello there,en,woman,4\n'
    f'P2,i1,Hi,"{FORMULA}",en,"=HYPERLINK(""http://x"")",1\nP2,i2,Hi,Hello there,en,"=HYPERLINK(""http://x"")",3\n'
).encode()


def datasets_listed(driver: WebDriver) -> list[str]:
    sidebar = driver.find_element(By.CSS_SELECTOR, '[data-testid="stSidebar"]')
    return listed_options(driver, find_widget(sidebar, "stSelectbox", "Active dataset"))


@pytest.mark.parametrize("name", list(BAD_UPLOADS))
def test_malformed_upload_is_explained_and_changes_nothing(
    browser: WebDriver, app_url: str, screenshot_dir: Path, tmp_path: Path, name: str
) -> None:
    data, message, details = BAD_UPLOADS[name]
    path = tmp_path / f"{name}.csv"
    path.write_bytes(data)
    visit(browser, app_url, "data")
    active, listed = sidebar_dataset(browser), datasets_listed(browser)
    assert active in listed
    open_tab(browser, "Import data")
    upload(browser, path)
    wait_until(
        browser, lambda: alert_containing(browser, "error", message), 60, f"the error about {path.name}"
    )
    if details:
        problems = table_cells(browser.find_element(By.CSS_SELECTOR, MAIN))
        assert any(all(word in cell for word in details) for row in problems for cell in row), problems
    with pytest.raises(LookupError):
        find_button(browser, "Import")  # nothing to import from a file that cannot be imported
    assert_no_exception(browser)
    screenshot(browser, screenshot_dir, f"flow-bad-{name}")
    assert (sidebar_dataset(browser), datasets_listed(browser)) == (active, listed)


def check_formula_file(driver: WebDriver, app_url: str, tmp_path: Path) -> tuple[str, list[str]]:
    """Upload a CSV whose cells start like spreadsheet formulas and press Check file; returns the
    active dataset and the dataset list from before the upload."""
    path = tmp_path / "formula.csv"
    path.write_bytes(FORMULA_CSV)
    visit(driver, app_url, "data")
    before = sidebar_dataset(driver), datasets_listed(driver)
    open_tab(driver, "Import data")
    upload(driver, path)
    wait_until(driver, lambda: markdown_containing(driver, "Preview of formula.csv"), 60, "the preview")
    press(driver, "Check file")
    wait_until(driver, lambda: alerts(driver, "success") or alerts(driver, "error"), 60, "the check")
    return before


def test_formula_cells_are_flagged_by_the_check(
    browser: WebDriver, app_url: str, screenshot_dir: Path, tmp_path: Path
) -> None:
    before = check_formula_file(browser, app_url, tmp_path)
    notes = expand(browser, "note(s)")
    wait_until(browser, lambda: table_cells(notes), 10, "the notes table")
    flagged = [row for row in table_cells(notes) if "formula_like_cell" in row]
    assert {row[4] for row in flagged} == {"response", "gender"}, flagged
    assert all("kept as plain text" in row[5] for row in flagged), flagged
    assert_no_exception(browser)
    screenshot(browser, screenshot_dir, "flow-bad-formula")
    assert (sidebar_dataset(browser), datasets_listed(browser)) == before, "checking writes nothing"


def test_formula_cells_get_a_visible_warning(browser: WebDriver, app_url: str, tmp_path: Path) -> None:
    check_formula_file(browser, app_url, tmp_path)
    assert alert_containing(browser, "warning", "formula"), alerts(browser, "success")
