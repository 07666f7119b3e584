"""Faults pluralign must survive: it keeps working, says what happened, and loses no data.

================================  ==================================================  ======================
Fault                             What pluralign does                                 Shown by
================================  ==================================================  ======================
App killed (SIGKILL) in the       The dataset write is one DuckDB transaction: on     F1
middle of importing 200k rows     reopening, earlier datasets are unchanged, no row
                                  of the new one is visible, no spec file written;
                                  the same import then succeeds
Inconsistent rows reach the       Refused, rolled back, store as it was               store-1
store
Training process killed mid-run   A restarted queue shows ``interrupted`` with the    jobs-1
                                  error and log tail; resumes from the last
                                  checkpoint and completes
App (owner of the queue) killed   The run has its own process session and trains      F2
while a run trains                on; a new JobQueue (app restart) shows it
                                  ``running``, then ``completed``, and registers
                                  run and adapter exactly once
Cancel; the limit within one      Cancel stops the process group, the next run        jobs-2
queue                             starts; both are registered once
Two sessions submit runs at the   Ids are distinct; polling holds a lock (thread +    F3
same moment (max 1 job)           flock), so each run starts once, one at a time,
                                  and both complete and are registered
Corrupt adapter: truncated or     Chat and evaluation lists still work, registry      F4
garbage weights, weights or       untouched, base and other adapters reply exactly
config missing, config not JSON   as before, a retry fails the same way; an adapter
                                  without config is hidden from chat and refused by
                                  evaluation with its folder named
Loading such an adapter           check_adapter_folder raises a ValueError naming     F5
                                  the folder and the broken file (what the Chat and
                                  Evaluate pages show as an error message)
Adapter folder deleted            Hidden from the chat model list                     chat-1
Empty or header-only file, bad    Refused with kind, row and column; store            import-1
quoting or
JSONL, duplicate keys/columns, a
missing column, bad scores (7 on
1..5, text, fraction), too many
rows/bytes (tiny limit), pickle
Gzip or binary upload             Refused as not UTF-8, naming binary (NUL bytes);    F6
                                  unreadable Parquet named as such (UTF-16 and
                                  Latin-1 text is imported: tests/ratings/
                                  test_text_encoding.py)
A different file, or no header    Every missing column named at once, with the        F7
row                               columns the file does have
Scores -1, 0, 1e3, ±inf, 1e20     Each cell reported with row and column              F8
File over the default 2 GiB       Refused from its size, unread; the app's uploader   F9
limit                             (200 MB) binds first
Formula cells (=, +, -, @) in     Imported verbatim, never evaluated, flagged per     F10, import-2
any text column                   row and column, escaped by ``csv_safe``
Formula cells in CSV downloads    Every download and ``analyze --csv`` goes through   F11
                                  ``csv_safe``
================================  ==================================================  ======================

F1  test_killed_import_leaves_the_store_intact_and_can_be_redone
F2  test_run_survives_a_killed_app_and_is_registered_after_restart
F3  test_two_sessions_submitting_at_once_keep_the_job_limit
F4  test_corrupt_adapters_leave_listing_registry_and_other_models_working
F5  test_loading_a_corrupt_adapter_names_its_folder_and_file
F6  test_wrongly_encoded_or_binary_upload_is_refused_with_the_reason
F7  test_file_with_other_columns_names_every_missing_one
F8  test_scores_far_outside_the_scale_are_each_reported
F9  test_file_over_the_default_size_limit_is_refused_unread
F10 test_formula_cells_are_kept_verbatim_flagged_and_escaped
F11 test_every_csv_download_escapes_formula_cells
store-1   tests/test_store.py::test_inconsistent_dataset_leaves_store_unchanged
jobs-1    tests/test_jobs.py::test_killed_run_is_reported_interrupted_and_resumes
jobs-2    tests/test_jobs.py::test_queue_limit_cancel_and_registration
chat-1    tests/test_chat.py::test_available_models_lists_base_and_registered_adapters
import-1  tests/test_importing.py::test_bad_input_is_reported_and_store_unchanged (cases latin-1, empty,
          header-only, csv-fields, jsonl-line, jsonl-dup-key, duplicate-column, missing-column, out-of-range,
          not-a-number, fractional, too-many-rows, too-large, pickle, xlsx)
import-2  tests/test_importing.py::test_formula_cells_are_kept_as_text_flagged_and_escaped_in_csv
"""

from __future__ import annotations

import ast
import gzip
import json
import random
import re
import shutil
import signal
import threading
import tomllib
from contextlib import suppress
from pathlib import Path

import pytest

from pluralign_core import paths
from pluralign_core.ratings.importing import import_dataset, spec_path
from pluralign_core.ratings.reading import ImportLimits, ImportSource, csv_safe
from pluralign_core.store.database import Store
from tests.factories import tiny_bundle
from tests.fault_helpers import (
    LineReader,
    garble_file,
    kill,
    kill_training_processes,
    python_child,
    ratings_spec,
    rows_of,
    store_snapshot,
    training_processes,
    truncate_file,
    wait_for,
    write_ratings_csv,
)
from tests.training_data import make_preference_set, tiny_run_config

IMPORT_CHILD = "import sys; from tests.fault_helpers import traced_import; traced_import(*sys.argv[1:])"
QUEUE_CHILD = "import sys; from tests.fault_helpers import serve_queue; serve_queue(*sys.argv[1:])"
SLOW = {"PLURALIGN_STEP_DELAY": "0.5", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
FAST = {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
FINAL_STATES = ("completed", "failed", "cancelled", "interrupted")


# ------------------------------------------------------------------------------ 1. app killed mid-import
def test_killed_import_leaves_the_store_intact_and_can_be_redone(store: Store, tmp_path: Path) -> None:
    """SIGKILL the importing process inside the dataset write, then import the same file for real.

    The child announces every statement of the write transaction and is killed once all 400k ratings
    have been inserted and DuckDB has already spilled them into the database file, just before COMMIT:
    the worst moment, with the most uncommitted data on disk. (The child holds there, so the kill cannot
    arrive after COMMIT on a loaded machine. Killing it as the ratings INSERT begins, i.e. inside that
    ~0.5 s statement, gives the same result; it is left out to keep the file fast.)
    """
    store.write_dataset(tiny_bundle("kept"))
    before = store_snapshot(store)
    csv = tmp_path / "big.csv"
    n_rows = write_ratings_csv(csv, n_raters=4000, n_items=50)
    spec = ratings_spec("big")
    spec_file = tmp_path / "big.spec.yaml"
    spec_file.write_text(spec.to_yaml(), encoding="utf-8")
    size_before = store.path.stat().st_size

    child = python_child(IMPORT_CHILD, str(csv), str(spec_file))
    output = LineReader(child)
    try:
        output.wait_for("holding before commit", timeout=240)
        size_at_kill = store.path.stat().st_size
    finally:
        exit_status = kill(child)
    log = output.finish()
    assert exit_status == -signal.SIGKILL
    assert "transaction begun" in log and "executed INSERT INTO ratings" in log and "committed" not in log
    assert size_at_kill > size_before, "the uncommitted rows should have reached the database file"

    reopened = Store()
    assert store_snapshot(reopened) == before
    assert list(reopened.datasets().dataset_id) == ["kept"]
    assert set(rows_of(reopened, "big").values()) == {0}
    assert not spec_path("big").exists()

    report = import_dataset(Store(), csv, spec)
    assert report.ok and report.written, report.format()
    after = Store()
    assert rows_of(after, "big")["ratings"] == 2 * n_rows == report.counts["ratings"]
    assert sorted(after.datasets().dataset_id) == ["big", "kept"]
    kept = [row for row in store_snapshot(after)["ratings"] if row[0] == "kept"]
    assert kept == [row for row in before["ratings"] if row[0] == "kept"]


# ------------------------------------------------------------------------------ 2. app killed mid-run
def test_run_survives_a_killed_app_and_is_registered_after_restart(
    tiny_model_dir: Path, tmp_path: Path, store: Store
) -> None:
    """The app process (which started the run) dies; the run trains on and a restarted app picks it up."""
    import psutil

    from pluralign_core.chat.pool import available_models
    from pluralign_core.training.jobs import JobQueue

    prefs = make_preference_set(tmp_path / "prefs")
    root = tmp_path / "runs"
    config = tiny_run_config(tiny_model_dir, preference_set=str(prefs), max_steps=4, name="survivor")
    run_id = JobQueue(root, max_concurrent=1, env=SLOW).submit(config)
    app = python_child(QUEUE_CHILD, str(root), json.dumps(SLOW))
    output = LineReader(app)
    try:
        trainer_pid = int(output.wait_for(f"started {run_id}", timeout=60).rsplit(" ", 1)[1])
        watcher = JobQueue(root, max_concurrent=1, env=SLOW)
        wait_for(lambda: watcher.progress(run_id).get("step", 0) >= 1, 180, what="the first training step")
        assert kill(app) == -signal.SIGKILL

        restarted = JobQueue(root, max_concurrent=1, env=SLOW)
        row = restarted.runs().set_index("run_id").loc[run_id]
        assert row["state"] == "running" and row["error"] == ""
        assert restarted.is_alive(restarted.status(run_id))
        assert psutil.Process(trainer_pid).ppid() != app.pid

        def finished() -> bool:
            restarted.poll()
            return restarted.status(run_id)["state"] in FINAL_STATES

        wait_for(finished, 240, what="the surviving run to finish")
        status = restarted.status(run_id)
        assert status["state"] == "completed", restarted.log_tail(run_id)
        assert status["pid"] == trainer_pid and restarted.progress(run_id)["step"] == 4
        assert restarted.log_tail(run_id)
        assert restarted.register_finished(store) == [run_id]
        assert restarted.register_finished(store) == []
        assert store.artifact(f"run-{run_id}")["status"] == "completed"
        adapter = store.artifact(f"adapter-{run_id}")
        assert Path(adapter["path"]) == root / run_id / "adapter"
        assert f"adapter-{run_id}" in {m.key for m in available_models(store, str(tiny_model_dir))}
    finally:
        if app.poll() is None:
            kill(app)
        output.finish()
        kill_training_processes(root)


# ------------------------------------------------------------------------------ 3. two sessions at once
def test_two_sessions_submitting_at_once_keep_the_job_limit(
    tiny_model_dir: Path, tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two JobQueue instances (two Streamlit sessions, or app + CLI) submit and poll at the same moment.

    Starting a process takes time (fork/exec, a loaded machine); to make the race window certain rather
    than likely, ``_start`` waits until the other session has also reached it, or 2 s at most — with a
    correct lock the other session never gets there and the first simply starts 2 s later.
    """
    from pluralign_core.training.callbacks import read_events
    from pluralign_core.training.jobs import JobQueue

    prefs = make_preference_set(tmp_path / "prefs")
    root = tmp_path / "runs"
    start = JobQueue._start
    both_starting = threading.Barrier(2)

    def slow_start(self: JobQueue, run_id: str) -> None:
        with suppress(threading.BrokenBarrierError):
            both_starting.wait(timeout=2.0)
        start(self, run_id)

    monkeypatch.setattr(JobQueue, "_start", slow_start)
    sessions = [JobQueue(root, max_concurrent=1, env=FAST) for _ in range(2)]
    together = threading.Barrier(2)
    run_ids: list[str | None] = [None, None]
    errors: list[BaseException] = []

    def session(index: int) -> None:
        try:
            together.wait(timeout=30)
            config = tiny_run_config(tiny_model_dir, preference_set=str(prefs), name=f"session{index}")
            run_ids[index] = sessions[index].submit(config)
            together.wait(timeout=30)
            sessions[index].poll()
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=session, args=(i,)) for i in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors, errors
        assert run_ids[0] and run_ids[1] and run_ids[0] != run_ids[1]
        assert sorted(sessions[0].run_ids()) == sorted(run_ids)
        states = sorted(sessions[0].status(r)["state"] for r in run_ids)
        assert states == ["queued", "running"]
        assert len(training_processes(root)) == 1, "two training processes were started"

        most_at_once = 1

        def finished() -> bool:
            nonlocal most_at_once
            for queue in sessions:
                queue.poll()
            most_at_once = max(most_at_once, len(training_processes(root)))
            return all(sessions[0].status(r)["state"] in FINAL_STATES for r in run_ids)

        wait_for(finished, 300, what="both runs to finish")
        assert most_at_once == 1
        statuses = [sessions[0].status(r) for r in run_ids]
        assert [s["state"] for s in statuses] == ["completed", "completed"]
        for run_id in run_ids:
            starts = [e for e in read_events(root / run_id / "trainer_log.jsonl") if e["event"] == "start"]
            assert len(starts) == 1, f"{run_id} was trained by {len(starts)} processes"
        first, second = sorted(statuses, key=lambda s: s["started"])
        assert second["started"] >= first["finished"]
        assert sorted(sessions[1].register_finished(store)) == sorted(run_ids)
        assert set(store.artifacts("adapter").artifact_id) == {f"adapter-{r}" for r in run_ids}
    finally:
        for thread in threads:
            thread.join(timeout=30)
        kill_training_processes(root)


# ------------------------------------------------------------------------------ 4. corrupt adapters
CORRUPTIONS = {
    "truncated_weights": lambda folder: truncate_file(folder / "adapter_model.safetensors"),
    "garbage_weights": lambda folder: garble_file(folder / "adapter_model.safetensors"),
    "missing_weights": lambda folder: (folder / "adapter_model.safetensors").unlink(),
    "garbage_config": lambda folder: (folder / "adapter_config.json").write_text("{not json", "utf-8"),
    "missing_config": lambda folder: (folder / "adapter_config.json").unlink(),
}
GREEDY_SHORT = {"temperature": 0.0, "max_new_tokens": 8}
HELLO = [{"role": "user", "content": "Why are some people so rude?"}]


@pytest.fixture(scope="module")
def adapter_folders(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A good LoRA adapter on the tiny model and one adapter per kind of corruption."""
    from tests.chat.test_chat import make_adapter

    root = tmp_path_factory.mktemp("fault-adapters")
    folders = {"good": make_adapter(tiny_model_dir, root / "good", seed=0)}
    for name, corrupt in CORRUPTIONS.items():
        folders[name] = Path(shutil.copytree(folders["good"], root / name))
        corrupt(folders[name])
    return folders


def _registry(store: Store) -> list[tuple]:
    rows = store.artifacts()
    return sorted(zip(rows.artifact_id, rows.kind, rows.path, rows.status, rows.created_at, strict=True))


def test_corrupt_adapters_leave_listing_registry_and_other_models_working(
    store: Store, tiny_model_dir: Path, adapter_folders: dict[str, Path]
) -> None:
    """Broken adapters fail on their own: lists, registry, the shared base and other adapters are unharmed."""
    from pluralign_core.chat.pool import BASE_KEY, ChatModelPool, GenerationSettings, available_models
    from pluralign_core.evaluation import generation as evaluation
    from pluralign_core.evaluation.config import EvaluationConfig

    base = str(tiny_model_dir)
    for name, folder in adapter_folders.items():
        store.register_artifact(
            "adapter", name, path=folder, config={"base_model": base}, artifact_id=f"adapter-{name}"
        )
    registry = _registry(store)
    settings = GenerationSettings(**GREEDY_SHORT)

    listed = {spec.key: spec for spec in available_models(store, base)}
    assert set(listed) == {BASE_KEY} | {f"adapter-{n}" for n in adapter_folders if n != "missing_config"}
    assert set(store.artifacts("adapter").artifact_id) == {f"adapter-{n}" for n in adapter_folders}

    clean = ChatModelPool()
    for key in (BASE_KEY, "adapter-good"):
        clean.add(listed[key])
    expected = {key: clean.reply(key, HELLO, settings) for key in (BASE_KEY, "adapter-good")}
    assert expected[BASE_KEY] != expected["adapter-good"]

    pool = ChatModelPool()
    for spec in listed.values():
        pool.add(spec)
    assert pool.reply("adapter-good", HELLO, settings) == expected["adapter-good"]
    broken = [key for key in listed if key not in (BASE_KEY, "adapter-good")]
    for _ in range(2):  # twice: a failed load must not leave a half-added adapter behind
        for key in broken:
            with pytest.raises(Exception) as caught:
                pool.load(key)
            assert not isinstance(caught.value, KeyError | AssertionError), caught.value
        assert {k: pool.reply(k, HELLO, settings) for k in expected} == expected
    assert len(pool.loaded_bases) == 1

    hidden = EvaluationConfig(dataset_id="any", model_id="adapter-missing_config")
    with pytest.raises(FileNotFoundError, match=re.escape(str(adapter_folders["missing_config"]))):
        evaluation.resolve_model_ref(store, hidden)
    for name in ("truncated_weights", "garbage_weights"):
        with pytest.raises(Exception):  # noqa: B017
            evaluation.load_model(base, str(adapter_folders[name]))
    model, _ = evaluation.load_model(base, str(adapter_folders["good"]))
    assert model is not None
    assert _registry(store) == registry


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_loading_a_corrupt_adapter_names_its_folder_and_file(
    tiny_model_dir: Path, adapter_folders: dict[str, Path], name: str
) -> None:
    """The error must be one the pages show (ValueError/OSError) and say which folder and file is broken."""
    from pluralign_core.chat.pool import ChatModelPool, ChatModelSpec
    from pluralign_core.evaluation import generation as evaluation

    folder = adapter_folders[name]
    broken_file = "adapter_config.json" if "config" in name else "adapter_model.safetensors"
    pool = ChatModelPool()
    pool.add(ChatModelSpec("broken", "broken", str(tiny_model_dir), str(folder)))
    loaders = {
        "chat": lambda: pool.load("broken"),
        "evaluation": lambda: evaluation.load_model(str(tiny_model_dir), str(folder)),
    }
    for where, load in loaders.items():
        try:
            load()
        except Exception as error:
            caught = error
        else:
            pytest.fail(f"{where}: a {name} adapter loaded without complaint")
        message = f"{where}: {type(caught).__module__}.{type(caught).__name__}: {caught}"
        assert isinstance(caught, ValueError | OSError), message
        assert str(folder) in str(caught) and broken_file in str(caught), message


# ------------------------------------------------------------------------------ 5. malformed uploads
HEADER = "rater,item,prompt,response,gender,toxicity,helpfulness"
GOOD = HEADER + "\nr1,i1,P1,A1,woman,1,5\nr1,i2,P1,A2,woman,2,4\nr2,i1,P1,A1,man,3,3\n"


def _spec(**changes):
    import dataclasses

    return dataclasses.replace(ratings_spec("new"), scale_kind="auto", **changes)


@pytest.fixture
def filled(store: Store) -> Store:
    store.write_dataset(tiny_bundle("kept"))
    return store


def _refused(store: Store, name: str, data: bytes, kind: str, **kwargs):
    """Import ``data``; assert it was refused with a problem of ``kind`` and the store did not change."""
    before = store_snapshot(store)
    report = import_dataset(store, ImportSource(name, data), _spec(), **kwargs)
    assert not report.ok and not report.written
    assert store_snapshot(store) == before
    assert not spec_path("new").exists()
    matching = [p for p in report.problems if p.kind == kind]
    assert matching, report.format()
    assert all(p.file == name for p in report.problems)
    return report, matching


ENCODINGS = [
    pytest.param("a.csv", b"\x00\x01\x02\x03" * 400, "encoding", "binary", id="nul-bytes"),
    pytest.param("a.csv", gzip.compress(GOOD.encode()), "encoding", "not valid UTF-8", id="gzip-csv"),
    pytest.param("a.csv", random.Random(0).randbytes(4096), "encoding", "not valid UTF-8", id="garbage-csv"),
    pytest.param(
        "a.jsonl", random.Random(1).randbytes(4096), "encoding", "not valid UTF-8", id="garbage-jsonl"
    ),
    pytest.param(
        "a.parquet",
        random.Random(2).randbytes(4096),
        "parse_error",
        "Parquet file cannot be read",
        id="garbage-parquet",
    ),
]


@pytest.mark.parametrize(("name", "data", "kind", "fragment"), ENCODINGS)
def test_wrongly_encoded_or_binary_upload_is_refused_with_the_reason(
    filled: Store, name: str, data: bytes, kind: str, fragment: str
) -> None:
    _, matching = _refused(filled, name, data, kind)
    assert fragment in matching[0].message, matching[0].message


def test_file_with_other_columns_names_every_missing_one(filled: Store) -> None:
    _, missing = _refused(filled, "other.csv", b"id,text,score\n1,hello,3\n", "missing_column")
    assert sorted(p.column for p in missing) == sorted(_spec().columns())
    assert all("The file has: id, text, score" in p.message and p.row == 1 for p in missing)
    assert "the rater id column 'rater' is not in the file" in next(
        p.message for p in missing if p.column == "rater"
    )

    headless = GOOD.split("\n", 1)[1].encode()
    _, missing = _refused(filled, "headless.csv", headless, "missing_column")
    assert "The file has: r1, i1, P1, A1, woman, 1, 5" in missing[0].message


def test_scores_far_outside_the_scale_are_each_reported(filled: Store) -> None:
    values = ["-1", "0", "6", "1e3", "inf", "-inf", "99999999999999999999", "-0"]
    rows = [f"r{i},i1,P1,A1,woman,{value},3" for i, value in enumerate(values)]
    _, out = _refused(filled, "a.csv", ("\n".join([HEADER, *rows]) + "\n").encode(), "out_of_range")
    assert [(p.row, p.column) for p in out] == [(row, "toxicity") for row in range(2, 2 + len(values))]
    assert [p.message for p in out][:2] == [
        "score -1 is outside the scale 1..5",
        "score 0 is outside the scale 1..5",
    ]


def test_file_over_the_default_size_limit_is_refused_unread(filled: Store, tmp_path: Path) -> None:
    limits = ImportLimits()
    huge = tmp_path / "huge.csv"
    with open(huge, "wb") as handle:  # sparse: costs no disk and nothing is read
        handle.write(GOOD.encode())
        handle.truncate(limits.max_bytes + 1)
    before = store_snapshot(filled)
    report = import_dataset(filled, huge, _spec())
    assert [p.kind for p in report.problems] == ["too_large"] and not report.written
    assert "above the limit of 2,048.0 MB" in report.problems[0].message
    assert "ImportLimits.max_bytes" in report.problems[0].message
    assert store_snapshot(filled) == before
    config = tomllib.loads((paths.REPO_ROOT / ".streamlit" / "config.toml").read_text("utf-8"))
    assert config["server"]["maxUploadSize"] * 1024**2 <= limits.max_bytes  # the app's uploader binds first


def test_formula_cells_are_kept_verbatim_flagged_and_escaped(store: Store) -> None:
    """``=``, ``+``, ``-``, ``@`` at the start of rater ids, prompts, responses and demographics."""
    payloads = {
        "rater": "@SUM(1+1)*cmd|' /C calc'!A0",
        "prompt": "-2+3+cmd|' /C calc'!A0",
        "response": '=HYPERLINK("http://evil.example","click")',
        "gender": "+cmd|' /C notepad'!A0",
    }
    row = {"item": "-1", "toxicity": "+2", "helpfulness": "3", **payloads}  # item -1 is a number: not flagged
    cells = ['"' + row[c].replace('"', '""') + '"' for c in HEADER.split(",")]
    data = "\n".join([HEADER, ",".join(cells), "r2,i2,P2,A2,man,1,+3"]) + "\n"
    report = import_dataset(store, ImportSource("f.csv", data.encode()), _spec())
    assert report.ok and report.written, report.format()
    flagged = {(w.row, w.column) for w in report.warnings if w.kind == "formula_like_cell"}
    assert flagged == {(2, column) for column in payloads}

    stored = store.query(
        "SELECT r.rater_id, a.value AS gender, p.text AS prompt, s.text AS response "
        "FROM ratings g JOIN raters r USING (dataset_id, rater_id) "
        "JOIN rater_attributes a USING (dataset_id, rater_id) "
        "JOIN responses s USING (dataset_id, response_id) JOIN prompts p USING (dataset_id, prompt_id) "
        "WHERE g.dataset_id = 'new' AND g.dimension = 'toxicity' ORDER BY r.rater_id"
    )
    first = stored.iloc[0]
    assert [first.rater_id, first.prompt, first.response, first.gender] == list(payloads.values())
    safe = csv_safe(stored)
    assert [safe.iloc[0][c] for c in ("rater_id", "prompt", "response", "gender")] == [
        "'" + value for value in payloads.values()
    ]
    assert safe.iloc[1].tolist() == stored.iloc[1].tolist()


def _unescaped_csv_downloads() -> list[str]:
    """``x.to_csv(...)`` calls in pages/ and the CLI whose receiver is not ``csv_safe(...)``."""
    found = []
    files = sorted((paths.REPO_ROOT / "pages").glob("*.py"))
    files += sorted((paths.REPO_ROOT / "pluralign_core" / "commands").glob("*.py"))
    for file in files:
        for node in ast.walk(ast.parse(file.read_text("utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr != "to_csv":
                continue
            receiver = node.func.value
            escaped = (
                isinstance(receiver, ast.Call)
                and isinstance(receiver.func, ast.Name)
                and receiver.func.id == "csv_safe"
            )
            if not escaped:
                found.append(f"{file.relative_to(paths.REPO_ROOT)}:{node.lineno}")
    return found


def test_every_csv_download_escapes_formula_cells() -> None:
    assert _unescaped_csv_downloads() == []
