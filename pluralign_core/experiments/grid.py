"""The experiment grid: the study's design-choice comparisons as one resumable batch of runs.

The paper's results are comparisons, so the grid plans one *cell* per design choice on the active dataset:

* **design**: disagreement handling (preserve the raters' split as soft labels / weights, or majority
  vote) × rating scale (5-point, or binarised) with DPO, plus GRPO (which learns from the group reward
  models, fitted to the raters' mean ratings, so the disagreement and scale axes do not apply to it);
* **objective**: single-objective (toxicity only) next to the multi-objective (all dimensions) DPO cell;
* **group**: DPO on one group's preferences (women / men, liberal / conservative, US / DE);
* **base**: the untuned base model, the reference every relative change is measured against.

Each cell is a preference (or prompt) set spec + a :class:`RunConfig` + an :class:`EvaluationConfig`.
:func:`run_grid` trains the group reward models the evaluations score with, then executes the cells one by
one: training goes through the :class:`JobQueue` (one subprocess per run, as on the Train page) and the
evaluation runs in this process. Every state change is written to ``<home>/grids/<id>/grid.json`` (atomic
replace), so a rerun with the same id skips the finished cells and picks an interrupted training up from its
run folder. The app starts a grid as a subprocess (``python -m pluralign_core.experiments.grid``) and reads
grid.json.

Presets: ``demo`` is sized for a classroom laptop (2 CPU cores, embedded SmolLM2, < 30 minutes for the whole
grid: few optimizer steps, short sequences, a few held-out prompts); ``full`` is meant for a GPU.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from pluralign_core import paths
from pluralign_core.config_base import YamlConfig
from pluralign_core.evaluation.config import EvaluationConfig
from pluralign_core.models.base import EMBEDDED_MODEL
from pluralign_core.store.database import Store
from pluralign_core.store.selection import RaterSelection

ProgressCallback = Callable[[float, str], None]
GRID_FILE = "grid.json"
CONFIG_FILE = "config.yaml"
DISAGREEMENTS = ("preserve", "majority", "soft")
SCALES = ("5-point", "binary", "3-point")
OPTIMIZERS = ("dpo", "grpo")
OBJECTIVES = ("multi", "single")
CELL_STATES = ("pending", "running", "done", "failed")

#: Named groups the grid can tune on; values missing from a dataset are dropped at planning time.
GROUPS: dict[str, dict[str, tuple[str, ...]]] = {
    "women": {"gender": ("woman",)},
    "men": {"gender": ("man",)},
    "liberal": {"political_leaning": ("very liberal", "liberal", "left")},
    "conservative": {"political_leaning": ("conservative", "very conservative", "right")},
    "US": {"country": ("US",)},
    "DE": {"country": ("DE",)},
}


@dataclass
class GridConfig(YamlConfig):
    """Which cells to plan and how big each run is; saved as ``config.yaml`` in the grid folder."""

    CONFIG_KIND: ClassVar[str] = "grid config"

    preset: str = field(
        default="demo", metadata={"help": "demo (2 CPU cores, < 30 min), full (GPU) or custom"}
    )
    dataset_id: str = field(default="", metadata={"help": "dataset to use; empty = the active dataset"})
    base_model: str = field(default=EMBEDDED_MODEL, metadata={"help": "base model every cell starts from"})
    disagreements: list[str] = field(
        default_factory=lambda: ["preserve", "majority"],
        metadata={"help": "disagreement handling: preserve and/or majority (or soft)"},
    )
    scales: list[str] = field(
        default_factory=lambda: ["5-point", "binary"],
        metadata={"help": "rating scales: 5-point, binary (and 3-point)"},
    )
    optimizers: list[str] = field(
        default_factory=lambda: list(OPTIMIZERS), metadata={"help": "dpo and/or grpo"}
    )
    objectives: list[str] = field(
        default_factory=lambda: list(OBJECTIVES),
        metadata={"help": "multi (all dimensions) and/or single (one dimension)"},
    )
    single_dimension: str = field(default="toxicity", metadata={"help": "the single objective's dimension"})
    groups: list[str] = field(
        default_factory=lambda: list(GROUPS), metadata={"help": f"group-specific models, from {list(GROUPS)}"}
    )
    max_steps: int = field(default=8, metadata={"help": "DPO optimizer steps per run"})
    grpo_max_steps: int = field(default=4, metadata={"help": "GRPO optimizer steps per run"})
    batch_size: int = field(default=1, metadata={"help": "DPO preference pairs per optimizer step"})
    learning_rate: float = field(default=1e-3, metadata={"help": "LoRA learning rate"})
    beta: float = field(default=0.1, metadata={"help": "DPO/GRPO KL strength"})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank"})
    max_length: int = field(default=128, metadata={"help": "DPO max tokens of prompt + answer"})
    max_prompt_length: int = field(default=64, metadata={"help": "max prompt tokens"})
    max_completion_length: int = field(default=24, metadata={"help": "GRPO sampled answer length"})
    num_generations: int = field(default=2, metadata={"help": "GRPO answers per prompt (= its batch size)"})
    gradient_checkpointing: bool = field(
        default=False, metadata={"help": "recompute activations to save memory (slower; for long sequences)"}
    )
    eval_languages: list[str] = field(
        default_factory=lambda: ["en", "de"], metadata={"help": "languages of the held-out prompts"}
    )
    eval_max_prompts: int = field(default=2, metadata={"help": "held-out prompts per language (0 = all)"})
    eval_max_new_tokens: int = field(default=40, metadata={"help": "answer length at evaluation"})
    seed: int = field(default=42, metadata={"help": "seed of every run and evaluation"})

    def __post_init__(self) -> None:
        for name, allowed in (
            ("disagreements", DISAGREEMENTS),
            ("scales", SCALES),
            ("optimizers", OPTIMIZERS),
            ("objectives", OBJECTIVES),
            ("groups", tuple(GROUPS)),
        ):
            values = getattr(self, name)
            if isinstance(values, str):
                values = [v.strip() for v in values.split(",") if v.strip()]
            values = [str(v) for v in values]
            bad = sorted(set(values) - set(allowed))
            if bad:
                raise ValueError(f"GridConfig.{name}: unknown value(s) {bad}; choose from {list(allowed)}")
            setattr(self, name, values)
        if not self.optimizers:
            raise ValueError("GridConfig.optimizers is empty: choose dpo and/or grpo")
        for name in (
            "max_steps",
            "grpo_max_steps",
            "batch_size",
            "lora_r",
            "max_length",
            "max_prompt_length",
            "max_completion_length",
            "eval_max_new_tokens",
        ):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"GridConfig.{name} must be at least 1, got {getattr(self, name)}")
        if self.num_generations < 2:
            raise ValueError(f"num_generations must be at least 2 for GRPO, got {self.num_generations}")
        if self.eval_max_prompts < 0:
            raise ValueError("eval_max_prompts must be 0 (all) or positive")
        if self.learning_rate <= 0:
            raise ValueError("learning_rate must be positive")


def preset(name: str, **overrides: Any) -> GridConfig:
    """``demo``: measured to finish within 30 minutes on 2 CPU cores; ``full``: GPU-sized runs."""
    if name == "demo":
        values: dict[str, Any] = {}
    elif name == "full":
        values = dict(
            max_steps=200,
            grpo_max_steps=100,
            batch_size=8,
            learning_rate=5e-5,
            lora_r=16,
            max_length=512,
            max_prompt_length=256,
            max_completion_length=128,
            num_generations=4,
            eval_max_prompts=0,
            eval_max_new_tokens=160,
            gradient_checkpointing=True,
        )
    else:
        raise ValueError(f"unknown preset {name!r}: choose demo or full")
    return GridConfig(preset=name, **{**values, **overrides})


@dataclass
class GridCell:
    """One planned experiment: what data, how to train, how to evaluate, and which design choices it is."""

    cell_id: str
    label: str
    family: str
    optimizer: str
    disagreement: str
    scale: str
    objective: str
    group: str
    selection: dict[str, Any]
    dimensions: list[str]
    run: dict[str, Any]
    evaluation: dict[str, Any]

    @property
    def trains(self) -> bool:
        return self.family != "base"

    def preference_spec(self, dataset_id: str) -> dict[str, Any]:
        """What the preference builder needs (also written as the preference set's config facts)."""
        return {
            "dataset_id": dataset_id,
            "selection": self.selection,
            "dimensions": self.dimensions,
            "scale": self.scale,
            "disagreement": self.disagreement,
        }

    def facts(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in ("run", "evaluation")}


def _group_selection(name: str, present: set[tuple[str, str]] | None) -> dict[str, Any] | None:
    filters = GROUPS[name]
    if present is not None:
        filters = {a: tuple(v for v in vs if (a, v) in present) for a, vs in filters.items()}
        if not all(filters.values()):
            return None
    return RaterSelection(filters).to_dict()


def plan_grid(
    config: GridConfig,
    dataset_id: str = "",
    dimensions: list[str] | None = None,
    present_values: set[tuple[str, str]] | None = None,
) -> list[GridCell]:
    """The cells of a grid, in execution order; ``present_values`` drops groups absent from the data."""
    dataset_id = dataset_id or config.dataset_id
    dimensions = list(
        dimensions or ["toxicity", "emotional_awareness", "sensitivity", "stereotypical_bias", "helpfulness"]
    )
    everyone = RaterSelection.everyone().to_dict()
    evaluation = dict(
        dataset_id=dataset_id,
        base_model=config.base_model,
        languages=list(config.eval_languages),
        max_prompts=config.eval_max_prompts,
        max_new_tokens=config.eval_max_new_tokens,
        seed=config.seed,
    )
    common = dict(
        base_model=config.base_model,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        beta=config.beta,
        lora_r=config.lora_r,
        lora_alpha=2 * config.lora_r,
        max_length=config.max_length,
        max_prompt_length=config.max_prompt_length,
        seed=config.seed,
        logging_steps=1,
        gradient_checkpointing=config.gradient_checkpointing,
    )
    dpo_run = dict(
        common, algorithm="dpo", max_steps=config.max_steps, save_steps=max(1, config.max_steps // 2)
    )
    grpo_run = dict(
        common,
        algorithm="grpo",
        max_steps=config.grpo_max_steps,
        per_device_train_batch_size=config.num_generations,
        save_steps=max(1, config.grpo_max_steps // 2),
        max_completion_length=config.max_completion_length,
        num_generations=config.num_generations,
    )

    def cell(
        cell_id: str,
        label: str,
        family: str,
        optimizer: str,
        disagreement: str,
        scale: str,
        objective: str,
        group: str,
        selection: dict[str, Any],
        dims: list[str],
    ) -> GridCell:
        run = dict(dpo_run if optimizer == "dpo" else grpo_run, name=cell_id) if family != "base" else {}
        return GridCell(
            cell_id,
            label,
            family,
            optimizer,
            disagreement,
            scale,
            objective,
            group,
            selection,
            list(dims),
            run,
            dict(evaluation, name=label),
        )

    cells = [cell("base", "Base model", "base", "none", "none", "none", "none", "none", everyone, [])]
    first_disagreement = config.disagreements[0] if config.disagreements else "preserve"
    first_scale = config.scales[0] if config.scales else "5-point"
    if "dpo" in config.optimizers:
        for disagreement in config.disagreements or [first_disagreement]:
            for scale in config.scales or [first_scale]:
                cells.append(
                    cell(
                        f"dpo-{disagreement}-{scale}-multi-all",
                        f"DPO · {disagreement} · {scale} · all dimensions",
                        "design",
                        "dpo",
                        disagreement,
                        scale,
                        "multi",
                        "all raters",
                        everyone,
                        dimensions,
                    )
                )
    if "grpo" in config.optimizers:
        cells.append(
            cell(
                "grpo-mean-5-point-multi-all",
                "GRPO · group reward models · all dimensions",
                "design",
                "grpo",
                "mean rating",
                "5-point",
                "multi",
                "all raters",
                everyone,
                dimensions,
            )
        )
    if "single" in config.objectives:
        optimizer = "dpo" if "dpo" in config.optimizers else "grpo"
        disagreement = first_disagreement if optimizer == "dpo" else "mean rating"
        scale = first_scale if optimizer == "dpo" else "5-point"
        if config.single_dimension not in dimensions:
            raise ValueError(
                f"single_dimension {config.single_dimension!r} is not a dimension of the dataset "
                f"({dimensions})"
            )
        cells.append(
            cell(
                f"{optimizer}-{disagreement.replace(' ', '-')}-{scale}-single-all",
                f"{optimizer.upper()} · {config.single_dimension} only",
                "objective",
                optimizer,
                disagreement,
                scale,
                "single",
                "all raters",
                everyone,
                [config.single_dimension],
            )
        )
    optimizer = "dpo" if "dpo" in config.optimizers else "grpo"
    for group in config.groups:
        selection = _group_selection(group, present_values)
        if selection is None:
            continue
        disagreement = first_disagreement if optimizer == "dpo" else "mean rating"
        scale = first_scale if optimizer == "dpo" else "5-point"
        cells.append(
            cell(
                f"{optimizer}-{disagreement.replace(' ', '-')}-{scale}-multi-{group}",
                f"{optimizer.upper()} · tuned on {group}",
                "group",
                optimizer,
                disagreement,
                scale,
                "multi",
                group,
                selection,
                dimensions,
            )
        )
    return cells


def reward_groups(cells: list[GridCell]) -> dict[str, dict[str, Any]]:
    """The rater selections whose reward models the evaluations need (everyone + each tuned group)."""
    groups: dict[str, dict[str, Any]] = {"all raters": RaterSelection.everyone().to_dict()}
    for cell in cells:
        if cell.family == "group":
            groups[cell.group] = cell.selection
    return groups


# ------------------------------------------------------------------------------------------- state
class GridState:
    """``grid.json``: the grid's config, planned cells and each cell's state; rewritten atomically."""

    def __init__(self, folder: Path, data: dict[str, Any]) -> None:
        self.folder = folder
        self.data = data

    @property
    def grid_id(self) -> str:
        return str(self.data["grid_id"])

    @property
    def cells(self) -> dict[str, dict[str, Any]]:
        return self.data["cells"]

    @classmethod
    def load(cls, folder: Path) -> GridState:
        path = folder / GRID_FILE
        if not path.exists():
            raise FileNotFoundError(f"no grid at {folder}: {GRID_FILE} is missing")
        return cls(folder, json.loads(path.read_text(encoding="utf-8")))

    def save(self) -> None:
        self.data["updated"] = time.time()
        staging = self.folder / f".{GRID_FILE}.{os.getpid()}"
        staging.write_text(json.dumps(self.data, indent=2, default=str, ensure_ascii=False), encoding="utf-8")
        os.replace(staging, self.folder / GRID_FILE)

    def update_cell(self, cell_id: str, **updates: Any) -> None:
        self.cells[cell_id].update(updates)
        self.save()

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(CELL_STATES, 0)
        for cell in self.cells.values():
            counts[cell["state"]] = counts.get(cell["state"], 0) + 1
        return counts


def grids_root() -> Path:
    return paths.subdir("grids")


def grid_folder(grid_id: str) -> Path:
    return grids_root() / paths.safe_name(grid_id)


def load_grid(grid_id: str) -> GridState:
    return GridState.load(grid_folder(grid_id))


def list_grids() -> list[GridState]:
    """Every grid folder under home, newest first."""
    found = []
    for folder in grids_root().iterdir():
        if (folder / GRID_FILE).exists():
            try:
                found.append(GridState.load(folder))
            except (json.JSONDecodeError, KeyError):
                continue
    return sorted(found, key=lambda g: g.data.get("created", 0), reverse=True)


def create_grid(store: Store, config: GridConfig, grid_id: str | None = None) -> GridState:
    """Plan the grid on its dataset and write grid.json with every cell pending."""
    dataset_id = config.dataset_id or store.active_dataset()
    if not dataset_id:
        raise ValueError("the store has no dataset: run `pluralign init` or import data first")
    if not store.has_dataset(dataset_id):
        raise KeyError(f"no dataset {dataset_id!r}; run `pluralign datasets` to list them")
    config = dataclasses.replace(config, dataset_id=dataset_id)
    dimensions = [d.name for d in store.dimensions(dataset_id)]
    values = store.query(
        "SELECT DISTINCT attribute, value FROM rater_attributes WHERE dataset_id = ?", [dataset_id]
    )
    present = set(zip(values.attribute, values.value, strict=True))
    cells = plan_grid(config, dataset_id, dimensions, present)
    grid_id = paths.safe_name(grid_id or f"grid-{config.preset}-{time.strftime('%Y%m%d-%H%M%S')}")
    folder = grid_folder(grid_id)
    if (folder / GRID_FILE).exists():
        raise ValueError(f"grid {grid_id} exists already: resume it with --resume {grid_id}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_FILE).write_text(config.to_yaml(), encoding="utf-8")
    state = GridState(
        folder,
        {
            "grid_id": grid_id,
            "config": config.to_dict(),
            "dataset_id": dataset_id,
            "created": time.time(),
            "state": "planned",
            "reward_models": {},
            "progress": {"fraction": 0.0, "message": "planned"},
            "cell_order": [c.cell_id for c in cells],
            "cells": {c.cell_id: {**dataclasses.asdict(c), "state": "pending"} for c in cells},
        },
    )
    state.save()
    return state


def cell_from_state(entry: dict[str, Any]) -> GridCell:
    known = {f.name for f in dataclasses.fields(GridCell)}
    return GridCell(**{k: v for k, v in entry.items() if k in known})


# ------------------------------------------------------------------------------------------- executing
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
    prepare = prepare or prepare_reward_models
    order = state.data["cell_order"]

    def report(fraction: float, message: str) -> None:
        state.data["progress"] = {"fraction": round(fraction, 4), "message": message, "time": time.time()}
        state.save()
        if progress:
            progress(fraction, message)

    state.data.update(state="running", pid=os.getpid(), error=None)
    state.save()
    _register_grid(store, state)
    try:
        report(0.0, "preparing reward models")
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
                report((index + max(0.0, min(1.0, fraction))) / len(order), f"{cell.label}: {message}")

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
        state.data.update(state=final, finished=time.time())
        report(1.0, f"{final}: {counts['done']}/{len(order)} cells done, {counts['failed']} failed")
    except BaseException as error:
        state.data.update(state="interrupted", error=f"{type(error).__name__}: {error}", finished=time.time())
        for entry in state.cells.values():
            if entry["state"] == "running":
                entry["state"] = "pending"
        state.save()
        _register_grid(store, state)
        raise
    _register_grid(store, state)
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


def prepare_reward_models(store: Store, state: GridState) -> None:
    """Train (once per grid) every needed group's reward model for every dimension; ids go to grid.json."""
    from pluralign_core.rewards.group_models import registered_reward_models, train_group_reward_models

    dataset_id = state.data["dataset_id"]
    cells = [cell_from_state(state.cells[c]) for c in state.data["cell_order"]]
    known = state.data.setdefault("reward_models", {})
    available = set(registered_reward_models(store, dataset_id).get("artifact_id", []))
    for group, selection in reward_groups(cells).items():
        if group in known and set(known[group].values()) <= available:
            continue
        models = train_group_reward_models(store, dataset_id, RaterSelection.from_dict(selection))
        known[group] = {dimension: model.artifact_id for dimension, model in models.items()}
        state.save()


def reward_model_ids(state: GridState) -> list[str]:
    return sorted({i for group in state.data.get("reward_models", {}).values() for i in group.values()})


def execute_cell(
    store: Store, cell: GridCell, state: GridState, progress: ProgressCallback
) -> dict[str, Any]:
    """Default executor: build the cell's data, train it through the JobQueue, register, evaluate."""
    from pluralign_core.evaluation.evaluate import evaluate_model

    outcome: dict[str, Any] = {}
    model_id = "base"
    if cell.trains:
        adapter_id, run_id = train_cell(store, cell, state, lambda f, m: progress(0.8 * f, m))
        outcome.update(adapter_id=adapter_id, run_id=run_id)
        model_id = adapter_id
    evaluation = EvaluationConfig.from_dict(
        {**cell.evaluation, "model_id": model_id, "reward_model_ids": reward_model_ids(state)}
    )
    if model_id != "base":
        evaluation.base_model = ""
    evaluation_id = f"evaluation-{state.grid_id}-{cell.cell_id}"
    start = 0.8 if cell.trains else 0.0
    evaluate_model(
        store,
        evaluation,
        lambda f, m: progress(start + (1 - start) * f, f"evaluating: {m}"),
        evaluation_id=evaluation_id,
    )
    outcome["evaluation_id"] = evaluation_id
    return outcome


def train_cell(store: Store, cell: GridCell, state: GridState, progress: ProgressCallback) -> tuple[str, str]:
    """Prepare data, submit (or resume) the cell's run in the JobQueue, wait, register; returns ids."""
    from pluralign_core.training.config import RunConfig
    from pluralign_core.training.jobs import JobQueue, last_checkpoint

    queue = JobQueue()
    entry = state.cells[cell.cell_id]
    run_id = entry.get("run_id")
    status = queue.status(run_id) if run_id and run_id in queue.run_ids() else {}
    if status.get("state") in ("interrupted", "failed", "cancelled") and last_checkpoint(queue.root / run_id):
        queue.resume(run_id)
    elif status.get("state") not in ("queued", "running", "completed"):
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
        run_id = queue.submit(
            RunConfig.from_dict(settings),
            run_id=f"{state.grid_id}-{cell.cell_id}"[:70] + f"-{int(time.time()) % 100000}",
        )
        state.update_cell(cell.cell_id, run_id=run_id)
    progress(0.0, f"training run {run_id}")
    while True:
        queue.poll()
        status = queue.status(run_id)
        if status.get("state") in ("completed", "failed", "cancelled", "interrupted"):
            break
        info = queue.progress(run_id)
        step, total = info.get("step"), info.get("max_steps") or cell.run.get("max_steps")
        if step and total:
            progress(min(0.99, float(step) / float(total)), f"training step {step}/{total}")
        time.sleep(2.0)
    if status.get("state") != "completed":
        raise RuntimeError(
            f"training run {run_id} ended {status.get('state')}: {status.get('error') or ''} "
            f"{(status.get('log_tail') or '')[-500:]}"
        )
    queue.register_finished(store)
    return f"adapter-{run_id}", run_id


# ------------------------------------------------------------------------------------------- data
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
    result = preferences.build_preferences(store, config)
    target, _ = preference_export.export_preferences(
        store, result, f"{folder.parent.parent.name}-{cell.cell_id}", folder=folder, include_test=False
    )
    return Path(target)


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


# ------------------------------------------------------------------------------------------- entry point
def describe_plan(cells: list[GridCell]) -> str:
    lines = [
        f"{'cell':<40} {'family':<9} {'optimizer':<9} {'disagreement':<12} {'scale':<8} "
        f"{'objective':<9} group"
    ]
    for c in cells:
        lines.append(
            f"{c.cell_id:<40} {c.family:<9} {c.optimizer:<9} {c.disagreement:<12} {c.scale:<8} "
            f"{c.objective:<9} {c.group}"
        )
    return "\n".join(lines)


def launch(preset_name: str = "demo", dataset_id: str = "", *, resume: str | None = None) -> tuple[str, int]:
    """Start ``python -m pluralign_core.experiments.grid`` as a separate process (own session); returns (grid
    id, pid).

    The app uses this instead of a thread: the grid outlives a browser reload, and its progress is read
    back from grid.json. Output goes to ``<home>/grids/<id>.log``.
    """
    import subprocess

    grid_id = resume or paths.safe_name(f"grid-{preset_name}-{time.strftime('%Y%m%d-%H%M%S')}")
    command = [sys.executable, "-m", "pluralign_core.experiments.grid"]
    command += ["--resume", grid_id] if resume else ["--preset", preset_name, "--grid-id", grid_id]
    if dataset_id and not resume:
        command += ["--dataset", dataset_id]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(grids_root() / f"{grid_id}.log", "ab") as log:
        child = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
            cwd=str(paths.REPO_ROOT),
        )
    return grid_id, child.pid


def is_running(state: GridState) -> bool:
    """Whether the grid's process is alive (grid.json says running and its pid still exists)."""
    if state.data.get("state") not in ("running", "planned"):
        return False
    pid = state.data.get("pid")
    if not pid:
        return state.data.get("state") == "planned" and time.time() - state.data.get("created", 0) < 60
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stop(grid_id: str) -> None:
    """Cancel the running cell's training and stop the grid process (it records ``interrupted``)."""
    import signal

    state = load_grid(grid_id)
    for entry in state.cells.values():
        if entry.get("state") == "running" and entry.get("run_id"):
            from pluralign_core.training.jobs import JobQueue

            with contextlib.suppress(KeyError):
                JobQueue().cancel(entry["run_id"])
    pid = state.data.get("pid")
    if pid and is_running(state):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(pid), signal.SIGTERM)


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """``python -m pluralign_core.experiments.grid --preset demo [--resume ID] [--grid-id ID] [--dataset
    ID]``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m pluralign_core.experiments.grid", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--preset", default="demo", choices=("demo", "full"))
    parser.add_argument("--dataset", default="", help="dataset id (default: the active dataset)")
    parser.add_argument("--grid-id", default=None, help="id of a new grid")
    parser.add_argument("--resume", default=None, metavar="GRID_ID", help="continue this grid")
    args = parser.parse_args(argv)
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    store = Store()
    if not args.dataset and not args.resume and store.active_dataset() is None:
        from pluralign_core.store.bootstrap import ensure_default_dataset

        ensure_default_dataset(store)
    started = time.time()

    def show(fraction: float, message: str) -> None:
        print(f"[{time.time() - started:7.0f}s {fraction:6.1%}] {message}", flush=True)

    if args.resume:
        state = run_grid(store, progress=show, grid_id=args.resume, resume=True)
    else:
        state = run_grid(store, preset(args.preset, dataset_id=args.dataset), show, grid_id=args.grid_id)
    print(f"grid {state.grid_id}: {state.data['state']} in {time.time() - started:.0f}s")
    return 0 if state.data["state"] == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
