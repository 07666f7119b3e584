"""Running a grid: the group reward models first, then each cell's training and evaluation, resumably.

:func:`run_grid` trains the group reward models the evaluations score with, then executes the cells one by
one: each training run gets a run folder like a queued run and is trained in this process
(:func:`train_cell`), and the evaluation runs in this process too. Every state change goes to grid.json,
so a rerun with the same id skips the finished cells and picks an interrupted training up from its run
folder. The process running the grid records its pid and start time there, so the app can tell it is
alive (see :mod:`.process`).
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from pluralign_core.evaluation.config import EvaluationConfig
from pluralign_core.experiments.grid_config import GridConfig
from pluralign_core.experiments.grid_pace import grid_pace, start_share
from pluralign_core.experiments.plan import GridCell, cell_from_state, reward_groups
from pluralign_core.experiments.state import GridState, claim_grid, create_grid, load_grid, release_grid
from pluralign_core.launcher import process_start_time
from pluralign_core.progress import EtaClock, ProgressCallback, eta_text
from pluralign_core.store.database import Store
from pluralign_core.store.selection import RaterSelection

CellExecutor = Callable[[Store, GridCell, GridState, ProgressCallback], dict[str, Any]]


def run_grid(
    store: Store,
    config: GridConfig | None = None,
    progress: ProgressCallback | None = None,
    *,
    grid_id: str | None = None,
    resume: bool = False,
    executor: CellExecutor | None = None,
    prepare: Callable[[Store, GridState], None] | None = None,
) -> GridState:
    """Run (or, with ``resume``, continue) a grid; finished cells are never redone.

    ``executor(store, cell, state, progress)`` runs one cell and returns what to record (adapter id,
    evaluation id, ...); the default trains through the JobQueue and evaluates. ``prepare`` runs once before
    the cells (default: train the group reward models the evaluations score with).
    """
    if resume:
        if not grid_id:
            raise ValueError("resume needs the grid id (see `pluralign grid --list`)")
        state = load_grid(grid_id)
    else:
        if config is None:
            raise ValueError("run_grid needs a GridConfig (or resume=True with a grid id)")
        state = create_grid(store, config, grid_id)
    executor = executor or execute_cell
    order = state.data["cell_order"]
    # the bar advances with expected time, so that the ETA extrapolated from it is right (see grid_pace)
    start_work = _start_work(store, state)
    pace = grid_pace([cell_from_state(state.cells[c]) for c in order], start_work)
    prepare_share = pace.prepare

    clock = EtaClock()

    def report(fraction: float, message: str) -> None:
        eta = clock.eta(fraction)
        state.data["progress"] = {
            "fraction": round(fraction, 4),
            "message": message + eta_text(eta),
            "eta_s": None if eta is None else round(eta),
            "time": time.time(),
        }
        state.save()
        if progress:
            progress(fraction, message + eta_text(eta))

    claim_grid(state)
    session_started = time.time()
    worked_before = float(state.data.get("running_seconds", 0.0))

    def account() -> None:
        """Wall time spent running this grid, summed over the sessions that resumed it."""
        state.data["running_seconds"] = round(worked_before + time.time() - session_started, 1)

    state.data.setdefault("first_started", session_started)
    state.data.update(state="running", pid=os.getpid(), started=process_start_time(os.getpid()), error=None)
    state.save()
    _register_grid(store, state)
    try:
        report(0.0, "preparing the start model and the reward models")
        if prepare is None:
            prepare_grid(
                store,
                state,
                lambda f, m: report(prepare_share * f, f"preparing: {m}"),
                start_work=start_work,
            )
        else:
            prepare(store, state)
        for index, cell_id in enumerate(order):
            entry = state.cells[cell_id]
            if entry["state"] == "done":
                continue
            cell = cell_from_state(entry)
            state.update_cell(cell_id, state="running", started=time.time(), error=None)

            def cell_progress(
                fraction: float, message: str, index: int = index, cell: GridCell = cell
            ) -> None:
                report(pace.fraction(index, fraction), f"{cell.label}: {message}")

            cell_progress(0.0, "starting")
            try:
                outcome = executor(store, cell, state, cell_progress)
            except Exception as error:  # one failed cell must not stop the teacher's whole grid
                traceback.print_exc()
                state.update_cell(
                    cell_id, state="failed", finished=time.time(), error=f"{type(error).__name__}: {error}"
                )
                continue
            state.update_cell(cell_id, state="done", finished=time.time(), **(outcome or {}))
        counts = state.counts()
        final = "completed" if counts["done"] == len(order) else "partial"
        account()
        state.data.update(state=final, finished=time.time())
        report(1.0, f"{final}: {counts['done']}/{len(order)} cells done, {counts['failed']} failed")
    except BaseException as error:
        account()
        state.data.update(state="interrupted", error=f"{type(error).__name__}: {error}", finished=time.time())
        for entry in state.cells.values():
            if entry["state"] == "running":
                entry["state"] = "pending"
        state.save()
        _register_grid(store, state)
        release_grid(state)
        raise
    _register_grid(store, state)
    release_grid(state)
    return state


def _register_grid(store: Store, state: GridState) -> None:
    counts = state.counts()
    store.register_artifact(
        "grid",
        f"grid {state.grid_id} ({state.data['config'].get('preset')})",
        path=state.folder,
        dataset_id=state.data.get("dataset_id"),
        config=state.data["config"],
        metrics=counts,
        status=state.data.get("state", ""),
        artifact_id=state.grid_id,
    )


def _start_work(store: Store, state: GridState) -> str:
    """What preparing the grid's start still takes (``"none"`` when it tunes from the instruct model)."""
    config = state.data["config"]
    if config.get("start") != "unaligned":
        return "none"
    from pluralign_core.experiments.plan import start_config
    from pluralign_core.experiments.unaligned_start import start_work

    return start_work(store, start_config(GridConfig.from_dict(config), state.data["dataset_id"]))


def prepare_grid(
    store: Store,
    state: GridState,
    progress: ProgressCallback | None = None,
    *,
    start_work: str | None = None,
) -> None:
    """Everything the cells share: the unaligned start (when the grid tunes from it), the reward models.

    ``start_work`` (:func:`~pluralign_core.experiments.unaligned_start.start_work`) sizes the start's share
    of ``progress``; the caller passes it when it has worked it out already.
    """
    config = state.data["config"]
    seconds = state.data.setdefault("prepare_seconds", {})
    report = progress or (lambda fraction, message: None)
    share = start_share(start_work or _start_work(store, state))
    if config.get("start") == "unaligned":
        from pluralign_core.experiments.plan import start_config
        from pluralign_core.experiments.unaligned_start import build_unaligned_start

        began = time.time()
        grid = GridConfig.from_dict(config)
        folder = build_unaligned_start(
            store, start_config(grid, state.data["dataset_id"]), lambda f, m: report(share * f, m)
        )
        state.data["start_model"] = str(folder)
        seconds["start"] = round(time.time() - began, 1)
        state.save()
    began = time.time()
    report(share, "training the group reward models")
    prepare_reward_models(store, state)
    seconds["reward_models"] = round(time.time() - began, 1)
    state.save()


def prepare_reward_models(store: Store, state: GridState) -> None:
    """Train (once per grid) every needed group's reward model for every dimension; ids go to grid.json."""
    from pluralign_core.rewards.training import registered_reward_models, train_group_reward_models

    dataset_id = state.data["dataset_id"]
    cells = [cell_from_state(state.cells[c]) for c in state.data["cell_order"]]
    known = state.data.setdefault("reward_models", {})
    available = set(registered_reward_models(store, dataset_id).get("artifact_id", []))
    for group, selection in reward_groups(cells).items():
        if group in known and set(known[group].values()) <= available:
            continue
        features = state.data["config"].get("reward_features", "tfidf")
        models = train_group_reward_models(
            store, dataset_id, RaterSelection.from_dict(selection), features=features
        )
        known[group] = {dimension: model.artifact_id for dimension, model in models.items()}
        state.save()


def reward_model_ids(state: GridState) -> list[str]:
    return sorted({i for group in state.data.get("reward_models", {}).values() for i in group.values()})


def execute_cell(
    store: Store, cell: GridCell, state: GridState, progress: ProgressCallback
) -> dict[str, Any]:
    """Default executor: build the cell's data, train it through the JobQueue, register, evaluate."""
    from pluralign_core.evaluation.evaluate import evaluate_model
    from pluralign_core.evaluation.generation import load_model, resolve_model_ref
    from pluralign_core.experiments.grid_likelihood import score_cell

    outcome: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    model_id = "base"
    adapter = None
    began = time.time()
    if cell.trains:
        adapter_id, run_id = train_cell(store, cell, state, lambda f, m: progress(0.7 * f, m))
        outcome.update(adapter_id=adapter_id, run_id=run_id)
        seconds["training"] = round(time.time() - began, 1)
        model_id = adapter_id
        adapter = str(store.artifact(adapter_id)["path"])
    evaluation = EvaluationConfig.from_dict(
        {**cell.evaluation, "model_id": model_id, "reward_model_ids": reward_model_ids(state)}
    )
    if model_id != "base":
        evaluation.base_model = ""
    evaluation_id = f"evaluation-{state.grid_id}-{cell.cell_id}"
    start = 0.7 if cell.trains else 0.0
    began = time.time()
    # one load serves the generation and the likelihood measure (both read the same merged model)
    loaded = load_model(*resolve_model_ref(store, evaluation)[:2])
    evaluate_model(
        store,
        evaluation,
        lambda f, m: progress(start + (0.9 - start) * f, f"evaluating: {m}"),
        evaluation_id=evaluation_id,
        loaded=loaded,
    )
    outcome["evaluation_id"] = evaluation_id
    seconds["evaluation"] = round(time.time() - began, 1)
    progress(0.9, "likelihood measure: implicit reward on the held-out pairs")
    began = time.time()
    likelihood = score_cell(store, state, cell, adapter, loaded=loaded)
    del loaded
    if likelihood is not None:
        outcome["likelihood"] = likelihood.name
    seconds["likelihood"] = round(time.time() - began, 1)
    outcome["seconds"] = seconds
    return outcome


def train_cell(store: Store, cell: GridCell, state: GridState, progress: ProgressCallback) -> tuple[str, str]:
    """Prepare the cell's data and train its run in this process (resuming an interrupted one from its last
    checkpoint), then register it; returns ``(adapter id, run id)``.

    The run keeps its own folder, config, status and checkpoints, exactly as a queued run does
    (:mod:`pluralign_core.training.in_process`); it is trained here rather than in a new process because a
    grid trains one short run after another, and a process start costs about 25 s on 2 CPU cores.
    """
    from pluralign_core.training.config import RunConfig
    from pluralign_core.training.in_process import prepare_run, train_in_process
    from pluralign_core.training.jobs import JobQueue
    from pluralign_core.training.queue import JobCancelled

    queue = JobQueue()
    run_id = state.cells[cell.cell_id].get("run_id")
    if run_id and (queue.root / run_id).exists():
        run_config = queue.config(run_id)
    else:
        run_config = RunConfig.from_dict(cell_run_settings(store, cell, state))
        run_id = f"{state.grid_id}-{cell.cell_id}"[:70] + f"-{int(time.time()) % 100000}"
        state.update_cell(cell.cell_id, run_id=run_id)
    run_dir, completed = prepare_run(queue.root, run_id, run_config)
    if not completed:
        progress(0.0, f"training run {run_id}")
        status = train_in_process(run_dir, lambda f, m: progress(min(0.99, f), f"training {m}"))
        if status.get("state") == "cancelled":
            raise JobCancelled(f"training run {run_id} was cancelled")
        if status.get("state") != "completed":
            raise RuntimeError(
                f"training run {run_id} ended {status.get('state')}: {status.get('error') or ''}"
            )
    queue.register_finished(store)
    return f"adapter-{run_id}", run_id


def cell_run_settings(store: Store, cell: GridCell, state: GridState) -> dict[str, Any]:
    """The cell's run config: its template plus the data it trains on (built now) or its reward models."""
    data_dir = state.folder / "data" / cell.cell_id
    settings = dict(cell.run)
    if cell.optimizer == "dpo":
        settings["preference_set"] = str(
            build_preference_set(store, cell, state.data["dataset_id"], data_dir)
        )
    else:
        settings["prompt_set"] = str(build_prompt_set(store, cell, state.data["dataset_id"], data_dir))
        models = store.artifacts("reward_model", state.data["dataset_id"])
        ids = state.data["reward_models"].get(cell.group) or state.data["reward_models"]["all raters"]
        chosen = models[models.artifact_id.isin([ids[d] for d in cell.dimensions if d in ids])]
        settings["reward_models"] = [str(p) for p in chosen.path]
    return settings


def build_preference_set(store: Store, cell: GridCell, dataset_id: str, folder: Path) -> Path:
    """The cell's preference pairs (:mod:`pluralign_core.preferences.build`), exported for training."""
    from pluralign_core.preferences import build as preferences
    from pluralign_core.preferences import export as preference_export

    config = preferences.PreferenceConfig(
        dataset_id=dataset_id,
        selection=cell.selection,
        dimensions={d: 1.0 for d in cell.dimensions},
        scale=cell.scale,
        disagreement=cell.disagreement,
        split="train",
        seed=int(cell.run.get("seed", 0)),
    )
    result = one_pass(preferences.build_preferences(store, config), cell)
    target, _ = preference_export.export_preferences(
        store,
        result,
        f"{folder.parent.parent.name}-{cell.cell_id}",
        folder=folder,
        include_test=False,
        overwrite=True,
    )
    return Path(target)


def one_pass(result: Any, cell: GridCell) -> Any:
    """The pairs the cell's run reads exactly once: at most ``max_steps × batch``, drawn with the cell's
    seed (:func:`pluralign_core.preferences.budget.one_pass` says why)."""
    from pluralign_core.preferences.budget import one_pass as sample_one_pass

    capacity = int(cell.run.get("max_steps", 0)) * int(cell.run.get("per_device_train_batch_size", 1))
    return sample_one_pass(result, capacity, int(cell.run.get("seed", 0)))


def build_prompt_set(store: Store, cell: GridCell, dataset_id: str, folder: Path) -> Path:
    """The dataset's train-split prompts as a GRPO prompt set (conversational ``prompt`` column)."""
    from datasets import Dataset, DatasetDict

    prompts = store.query(
        "SELECT prompt_id, text, language FROM prompts WHERE dataset_id = ? AND split = 'train' "
        "ORDER BY prompt_key, language",
        [dataset_id],
    )
    if prompts.empty:
        raise ValueError(f"dataset {dataset_id!r} has no train-split prompts to sample answers for")
    folder.mkdir(parents=True, exist_ok=True)
    rows = {
        "prompt": [[{"role": "user", "content": t}] for t in prompts.text],
        "prompt_id": list(prompts.prompt_id),
        "language": list(prompts.language),
    }
    DatasetDict({"train": Dataset.from_dict(rows)}).save_to_disk(str(folder))
    (folder / "config.yaml").write_text(
        yaml.safe_dump(
            {**cell.preference_spec(dataset_id), "kind": "prompt_set"}, sort_keys=False, allow_unicode=True
        ),
        encoding="utf-8",
    )
    return folder
