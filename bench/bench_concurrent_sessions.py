"""Explore under concurrent browser sessions, while an import and a training job run (issue 17).

The real app (``pluralign app``, loopback only) starts in a temporary ``PLURALIGN_HOME`` holding the
default simulated dataset. ``--sessions`` headless Chromium sessions then open Explore at the same time and
each changes the attribute ``--rounds`` times; meanwhile one more session imports a few-MB CSV through the
Data page's wizard, and one saves a preference set and trains a tiny DPO run (a random tiny model, two
steps) from the Train page. Every session is bounded in time (``--timeout``).

The first render of each Explore session is the page opening, the others attribute changes; p50/p95 are
over both, and the p95 of each kind is reported too. A page counts as rendered when Streamlit's script
is no longer running (a finished rerun, observed with a ``MutationObserver`` on the app root's
``data-test-script-state``) and the group-means chart is on the page; the time runs from the click that
starts the rerun (or from the page request). Errors are exception
boxes on a page and timeouts. After the app is stopped, the store is opened again to check that no data
was lost: the default dataset's row counts are unchanged and the import landed complete.

What the server is responsible for is reported apart from what the browser sees: the app runs with
``PLURALIGN_RUN_LOG`` (:mod:`pluralign_core.run_timing`), so every run of the Explore script logs its server
wall time and the CPU its thread used, and :class:`bench.process_cpu.CpuByRole` sums the CPU seconds the
server, its jobs, the Chromiums and the bench itself used while the sessions ran. A render time far above
the server's run time is time spent after the script (sending, the browser drawing), or waiting for a CPU
that the browsers on the same cores hold — ten Chromiums beside the app are this bench's, not a real
deployment's, where each user's browser runs on their own machine.

Run: ``python -m bench.bench_concurrent_sessions [--sessions 10 --rounds 3]``; a smoke run is
``--sessions 2 --rounds 1``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bench.process_cpu import ROLES, CpuByRole
from bench.results import Figure, emit, machine_line
from pluralign_core.paths import REPO_ROOT

BENCH = "concurrent sessions"
EXAMPLE = REPO_ROOT / "data" / "examples" / "wide_ratings_en.csv"
IMPORT_ID = "bench-import"
FINISHED = ("completed", "failed", "cancelled", "interrupted")
TARGET_P95_S = 2.0

WATCH_RERUNS = """
const root = document.querySelector('[data-testid="stApp"]');
if (!root) return -1;
if (!root.__rerunWatch) {
  const watch = {runs: 0, running: root.getAttribute('data-test-script-state') === 'running'};
  root.__rerunWatch = watch;
  new MutationObserver(() => {
    const state = root.getAttribute('data-test-script-state');
    if (state === 'running') { watch.running = true; }
    else if (watch.running) { watch.running = false; watch.runs += 1; }
  }).observe(root, {attributes: true, attributeFilter: ['data-test-script-state']});
}
return root.__rerunWatch.runs;
"""


@dataclass
class Outcome:
    """What one session measured: render times in seconds, and its errors (exceptions, timeouts)."""

    name: str
    render_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def import_csv(folder: Path, copies: int) -> tuple[Path, int]:
    """The shipped wide example repeated ``copies`` times with fresh rater ids (a few MB at 100 copies);
    returns the file and its number of rating cells (rows × rating columns)."""
    example = pd.read_csv(EXAMPLE)
    parts = [example.assign(participant_id=example.participant_id + f"-{i}") for i in range(copies)]
    frame = pd.concat(parts, ignore_index=True)
    path = folder / f"{IMPORT_ID}.csv"
    frame.to_csv(path, index=False)
    ratings = ["Toxicity", "Emotional Awareness", "Sensitivity", "Stereotypical Bias", "Helpfulness"]
    return path, int(frame[ratings].notna().to_numpy().sum())


def _script_state(driver) -> str | None:
    from selenium.webdriver.common.by import By

    roots = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stApp"]')
    return roots[0].get_attribute("data-test-script-state") if roots else None


def _rendered(driver, runs_before: int | None) -> bool:
    """Script finished (one more finished rerun than ``runs_before``, when given) and the chart is shown."""
    from selenium.webdriver.common.by import By

    if runs_before is not None and driver.execute_script(WATCH_RERUNS) <= runs_before:
        return False
    if _script_state(driver) in (None, "running", "initial"):
        return False
    return bool(driver.find_elements(By.CSS_SELECTOR, '[data-testid="stPlotlyChart"]'))


def _time_render(driver, started: float, runs_before: int | None, timeout: float, outcome: Outcome) -> None:
    from tests.browser.helpers import exceptions_on_page

    while time.monotonic() - started < timeout:
        errors = exceptions_on_page(driver)
        if errors:
            outcome.errors.append(f"exception: {errors[0][:200]}")
            return
        if _rendered(driver, runs_before):
            outcome.render_s.append(time.monotonic() - started)
            return
        time.sleep(0.05)
    outcome.errors.append(f"timeout: not rendered within {timeout:.0f} s")


def explore_session(url: str, profile: Path, rounds: int, index: int, timeout: float, outcome: Outcome):
    """Open Explore, then change the attribute ``rounds`` times; time every render."""
    from tests.browser.helpers import choose, find_widget, listed_options, selected_options
    from tests.browser.launch import chromium

    driver = chromium(profile)
    try:
        started = time.monotonic()
        driver.get(f"{url}/explore")
        _time_render(driver, started, None, timeout, outcome)
        if outcome.errors:
            return
        widget = find_widget(driver, "stSelectbox", "Attribute")
        options = listed_options(driver, widget)
        for r in range(rounds):
            current = selected_options(find_widget(driver, "stSelectbox", "Attribute"))[0]
            others = [o for o in options if o != current]  # picking the shown one starts no rerun
            option = others[(index + r) % len(others)]
            mark: dict[str, float | int] = {}

            def before_pick(mark=mark) -> None:
                mark["runs"] = driver.execute_script(WATCH_RERUNS)
                mark["started"] = time.monotonic()

            choose(driver, find_widget(driver, "stSelectbox", "Attribute"), option, before_pick=before_pick)
            _time_render(driver, float(mark["started"]), int(mark["runs"]), timeout, outcome)
            if outcome.errors:
                return
    finally:
        driver.quit()


def import_session(url: str, profile: Path, csv: Path, timeout: float, outcome: Outcome) -> None:
    """Import ``csv`` through the Data page's wizard with the proposed mapping."""
    from selenium.webdriver.common.by import By

    from tests.browser.helpers import (
        alerts,
        fill,
        find_widget,
        open_page,
        open_tab,
        press,
        upload,
        wait_until,
    )
    from tests.browser.launch import chromium

    driver = chromium(profile)
    try:
        open_page(driver, f"{url}/data", timeout=timeout)
        open_tab(driver, "Import data")
        dropzone = '[data-testid="stFileUploaderDropzoneInput"]'
        wait_until(driver, lambda: driver.find_elements(By.CSS_SELECTOR, dropzone), timeout, "the uploader")
        upload(driver, csv, timeout=timeout)

        def named() -> bool:
            try:
                return bool(find_widget(driver, "stTextInput", "Name"))
            except LookupError:
                return False

        wait_until(driver, named, timeout, "the preview and mapping")
        fill(driver, find_widget(driver, "stTextInput", "Name"), "Bench import", timeout=timeout)
        press(driver, "Check file", timeout=timeout)

        def alert(text: str):
            return lambda: next((a for a in alerts(driver, "success") if text in a), None)

        wait_until(driver, alert("No problems found"), timeout, "the check")
        press(driver, "Import", timeout=timeout)
        wait_until(driver, alert(f"Imported {IMPORT_ID}"), timeout, "the import")
    except (AssertionError, TimeoutError, LookupError) as error:
        outcome.errors.append(f"import: {error}"[:300])
    finally:
        driver.quit()


def train_session(url: str, profile: Path, model: Path, timeout: float, outcome: Outcome) -> None:
    """Save a preference set on the Preferences page, then queue a two-step DPO run on the Train page and
    follow it to its end."""
    from selenium.webdriver.common.by import By

    from tests.browser.helpers import (
        alerts,
        choose,
        fill,
        find_widget,
        open_page,
        press,
        text_of,
        wait_until,
    )
    from tests.browser.launch import chromium

    driver = chromium(profile)

    def alert(text: str):
        return lambda: next((a for a in alerts(driver, "success") if text in a), None)

    try:
        open_page(driver, f"{url}/preferences", timeout=timeout)
        fill(driver, find_widget(driver, "stTextInput", "Name"), "bench-prefs", timeout=timeout)
        press(driver, "Save preference set", timeout=timeout)
        open_page(driver, f"{url}/train", timeout=timeout)
        fill(driver, find_widget(driver, "stTextInput", "Name"), "bench-dpo", timeout=timeout)
        choose(driver, find_widget(driver, "stSelectbox", "base model"), "Local folder or hub id…")
        fill(driver, find_widget(driver, "stTextInput", "base model folder or hub id"), model)
        fill(driver, find_widget(driver, "stNumberInput", "max steps"), 2)
        fill(driver, find_widget(driver, "stNumberInput", "per device train batch size"), 2)
        press(driver, "Queue run", timeout=timeout)
        wait_until(driver, alert("Queued run"), 30, "the queued run")

        def finished() -> str | None:
            bars = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stProgress"]')
            state = text_of(bars[0]).split(" ")[0] if bars else ""
            return state if state in FINISHED else None

        state = wait_until(driver, finished, timeout, "the run to finish", poll=1)
        if state != "completed":
            outcome.errors.append(f"train: the run ended {state}")
    except (AssertionError, TimeoutError, LookupError) as error:
        outcome.errors.append(f"train: {error}"[:300])
    finally:
        driver.quit()


def _counted(target, outcome: Outcome, *args) -> threading.Thread:
    def body() -> None:
        started = time.monotonic()
        try:
            target(*args, outcome)
        except Exception as error:  # a crashed session is an error of the run, not of the benchmark
            outcome.errors.append(f"{type(error).__name__}: {error}"[:300])
        outcome.seconds = time.monotonic() - started

    return threading.Thread(target=body, name=outcome.name, daemon=True)


def server_figures(runs: list[dict], label: str) -> None:
    """p50/p95 of the Explore script's server wall time and thread CPU time per run, from the run log."""
    explore = [r for r in runs if r["page"] == "explore"]
    early = sum(r["outcome"] != "finished" for r in explore)
    print(f"server: {len(explore)} Explore runs logged ({early} ended early: a rerun or a stop)")
    for measure, name in (("wall_s", "wall"), ("cpu_s", "thread CPU")):
        values = np.array([r[measure] for r in explore])
        for q in (50, 95) if values.size else ():
            value = round(float(np.percentile(values, q)), 2)
            emit(Figure(BENCH, f"Explore server run {name} p{q}, {label}", value, "s"))


def dataset_counts(home: Path) -> pd.DataFrame:
    from pluralign_core.store.database import Store

    table = Store(home / "pluralign.duckdb").datasets() if (home / "pluralign.duckdb").exists() else None
    return table.set_index("dataset_id")[["n_raters", "n_prompts", "n_responses", "n_ratings"]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--sessions", type=int, default=10, help="Explore sessions (at most 16)")
    parser.add_argument("--rounds", type=int, default=3, help="attribute changes per Explore session")
    parser.add_argument("--copies", type=int, default=100, help="copies of the example in the import CSV")
    parser.add_argument("--timeout", type=float, default=300, help="seconds any one session may take")
    parser.add_argument("--no-import", action="store_true")
    parser.add_argument("--no-train", action="store_true")
    args = parser.parse_args()
    sessions = max(1, min(args.sessions, 16))
    print(machine_line())

    workdir = Path(tempfile.mkdtemp(prefix="bench-sessions-"))
    home = workdir / "home"
    os.environ["PLURALIGN_HOME"] = str(home)
    from pluralign_core.paths import db_path
    from pluralign_core.run_timing import RUN_LOG_ENV, read_run_log
    from pluralign_core.store.bootstrap import ensure_default_dataset
    from pluralign_core.store.database import Store
    from tests.browser.launch import running_app
    from tests.tiny_models import make_tiny_causal_lm

    ensure_default_dataset(Store())
    assert db_path() == home / "pluralign.duckdb"
    before = dataset_counts(home)
    model = make_tiny_causal_lm(workdir / "tiny-model")
    csv, expected_ratings = import_csv(workdir, args.copies)
    print(f"import file: {csv.stat().st_size / 1e6:.1f} MB, {expected_ratings:,} ratings")

    outcomes: list[Outcome] = []
    threads: list[threading.Thread] = []
    run_log = workdir / "page_runs.jsonl"
    app_env = {"PLURALIGN_BASE_MODEL": str(model), RUN_LOG_ENV: str(run_log)}
    cpu = CpuByRole()
    with running_app(home, app_env) as url:
        cpu.start()
        began = time.monotonic()
        for i in range(sessions):
            outcome = Outcome(f"explore-{i}")
            outcomes.append(outcome)
            profile = workdir / f"chromium-{i}"
            threads.append(_counted(explore_session, outcome, url, profile, args.rounds, i, args.timeout))
        if not args.no_import:
            outcome = Outcome("import")
            outcomes.append(outcome)
            threads.append(
                _counted(import_session, outcome, url, workdir / "chromium-import", csv, args.timeout)
            )
        if not args.no_train:
            outcome = Outcome("train")
            outcomes.append(outcome)
            threads.append(
                _counted(train_session, outcome, url, workdir / "chromium-train", model, args.timeout)
            )
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=args.timeout + 120)
        stuck = [t.name for t in threads if t.is_alive()]
        elapsed = time.monotonic() - began
        cpu.sample()
    cpu_seconds = cpu.stop()
    for name in stuck:
        next(o for o in outcomes if o.name == name).errors.append("timeout: the session never ended")

    after = dataset_counts(home)
    lost = []
    for dataset_id, row in before.iterrows():
        if dataset_id not in after.index or not after.loc[dataset_id].equals(row):
            lost.append(f"{dataset_id} changed: {row.to_dict()} → {after.loc[dataset_id].to_dict()}")
    if not args.no_import:
        landed = int(after.n_ratings.get(IMPORT_ID, 0))
        imported = not next(o for o in outcomes if o.name == "import").errors
        if landed not in (0, expected_ratings) or (imported and landed != expected_ratings):
            lost.append(f"{IMPORT_ID}: {landed:,} of {expected_ratings:,} ratings landed")

    renders = np.array([s for o in outcomes if o.name.startswith("explore") for s in o.render_s])
    errors = [f"{o.name}: {e}" for o in outcomes for e in o.errors]
    for o in outcomes:
        shown = ", ".join(f"{s:.2f}" for s in o.render_s)
        print(f"{o.name:<10} {o.seconds:6.1f} s  renders [{shown}]  errors {len(o.errors)}")
    for line in errors + lost:
        print("  ", line)
    p50 = float(np.percentile(renders, 50)) if renders.size else float("nan")
    p95 = float(np.percentile(renders, 95)) if renders.size else float("nan")
    label = f"{sessions} sessions × {args.rounds} rounds"
    emit(Figure(BENCH, f"Explore render p50, {label}", round(p50, 2), "s"))
    emit(
        Figure(
            BENCH, f"Explore render p95, {label}", round(p95, 2), "s",
            target=f"≤ {TARGET_P95_S:g} s", met=bool(p95 <= TARGET_P95_S),
        )
    )  # fmt: skip
    explore = [o for o in outcomes if o.name.startswith("explore")]
    for kind, times in (
        ("page open", [o.render_s[0] for o in explore if o.render_s]),
        ("attribute change", [t for o in explore for t in o.render_s[1:]]),
    ):
        if times:
            emit(
                Figure(BENCH, f"Explore {kind} p95, {label}", round(float(np.percentile(times, 95)), 2), "s")
            )
    emit(Figure(BENCH, "errors (exceptions, timeouts)", len(errors), "count", target="0", met=not errors))
    emit(Figure(BENCH, "datasets with data lost", len(lost), "count", target="0", met=not lost))
    server_figures(read_run_log(run_log), label)
    cores = os.cpu_count() or 1
    print(f"the sessions ran {elapsed:.0f} s on {cores} cores ({elapsed * cores:.0f} core-seconds)")
    for role in ROLES:
        emit(Figure(BENCH, f"CPU seconds used by the {role}, {label}", cpu_seconds[role], "s"))
    print(f"app log: {home / 'app.log'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
