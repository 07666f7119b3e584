"""``pluralign demo``: the models Chat opens with, built in one resumable command (≤ 10 min on 2 cores).

A new user should see alignment on the first visit to Chat, not after an afternoon of training. The demo
builds, on the active dataset:

1. **The unaligned start** (:func:`~pluralign_core.experiments.unaligned_start.build_unaligned_start`): a
   deliberately unaligned teaching model, so that there is something to align away.
2. **Two group-aligned DPO adapters** tuned from it (base *and* DPO reference = the start's folder): one on
   liberal raters' toxicity pairs, one on conservative raters' (training prompts only, majority vote). The
   groups disagree on stereotyped and identity-affirming answers, so the two pair sets genuinely differ
   (on the default data about 40 % of response pairs are contested). LoRA r 16, a constant learning rate
   after a short warm-up and about one pass over the pairs, capped by ``max_steps``: the alignment probe
   saw DPO over-train into flat, repetitive answers after ~13 steps of batch 4, so the cap stays low
   (12 steps of 8 pairs; the demo grid's 10 such steps already move the held-out likelihood margin by a
   resolved +0.24 EN / +0.13 DE per token). Both languages are trained and measured, never pooled.
3. **The group reward models** of both groups (every dimension), which Chat uses to show how each group
   would rate a reply.
4. **The group × model likelihood matrix** (:mod:`pluralign_core.evaluation.likelihood`): for the start and
   each adapter, agreement of its per-token implicit reward with each group's *held-out* pairs. A tuned
   adapter's implicit reward is measured against the start; the start's own against the instruct base it
   was made from. Saved beside the demo as CSV and JSON, with paired comparisons per group.

Every step checks its finished output before it runs, and training continues from its last checkpoint,
so an interrupted ``pluralign demo`` picks up where it stopped. Progress (fraction, message, ETA), the pid
of the running process and every step's output go to ``demo.json`` in the demo folder, which the Home page
and Chat read (:mod:`pluralign_core.experiments.demo_process`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pluralign_core import launcher, paths
from pluralign_core.config_base import TextList, YamlConfig
from pluralign_core.experiments.grid_config import GROUPS
from pluralign_core.experiments.grid_pace import start_seconds
from pluralign_core.experiments.unaligned_start import (
    TEACHING_LABEL,
    UnalignedStartConfig,
    build_unaligned_start,
    start_folder,
    start_work,
)
from pluralign_core.models.base import EMBEDDED_MODEL
from pluralign_core.progress import EtaClock, ProgressCallback, eta_text
from pluralign_core.store.database import Store
from pluralign_core.store.selection import RaterSelection
from pluralign_core.training.in_process import prepare_run, train_in_process

STATE_FILE = "demo.json"
LOG_FILE = "demo.log"
MATRIX_CSV = "alignment_matrix.csv"
MATRIX_JSON = "alignment_matrix.json"
#: Share of the progress bar per step, from measured costs (SFT ≈ 220 s, each DPO run ≈ 150 s, matrix ≈ 60 s).
#: Expected seconds of the demo's parts after the start on 2 CPU cores (measured 2026-12-02; only their ratios
#: matter): the bar advances with time, so its ETA is right whether the start is trained, shipped or built.
PART_SECONDS = {"adapters": 300.0, "rewards": 7.0, "matrix": 53.0}


def part_weights(work: str) -> dict[str, float]:
    """Each part's share of the demo's bar; ``work`` is what the start still needs (:func:`start_work`)."""
    seconds = {"start": start_seconds(work), **PART_SECONDS}
    total = sum(seconds.values())
    return {part: value / total for part, value in seconds.items()}


class DemoError(RuntimeError):
    """The demo cannot be built on this dataset, or one of its steps failed."""


@dataclass
class DemoConfig(YamlConfig):
    """What ``pluralign demo`` builds (saved as ``config.yaml`` in the demo folder)."""

    CONFIG_KIND: ClassVar[str] = "demo config"

    dataset_id: str = field(default="", metadata={"help": "Dataset to build from (default: the active one)."})
    dimension: str = field(default="toxicity", metadata={"help": "Dimension whose preferences are tuned."})
    groups: TextList = field(
        default_factory=lambda: ["liberal", "conservative"],
        metadata={"help": f"Rater groups, one adapter each (names from {sorted(GROUPS)})."},
    )
    language: str = field(
        default="",
        metadata={"help": "Language of the training pairs and the matrix ('' = all, reported separately)."},
    )
    base_model: str = field(
        default=EMBEDDED_MODEL, metadata={"help": "Model the unaligned start is made from."}
    )
    start_steps: int = field(default=50, metadata={"help": "SFT steps of the unaligned start."})
    max_steps: int = field(
        default=12, metadata={"help": "Cap on DPO steps per adapter (else one pass over its pairs)."}
    )
    batch_size: int = field(default=8, metadata={"help": "DPO pairs per step."})
    learning_rate: float = field(default=5e-4, metadata={"help": "Constant DPO learning rate after warm-up."})
    warmup_steps: int = field(default=3, metadata={"help": "Warm-up steps of the DPO runs."})
    beta: float = field(default=0.2, metadata={"help": "DPO beta (KL strength against the start)."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank of the adapters (every projection)."})
    max_length: int = field(default=128, metadata={"help": "Max tokens of prompt + answer."})
    max_prompt_length: int = field(default=64, metadata={"help": "Max prompt tokens."})
    seed: int = field(default=0, metadata={"help": "Seed of the pairs' order and the LoRA init."})

    def __post_init__(self) -> None:
        unknown = sorted(set(self.groups) - set(GROUPS))
        if unknown or len(self.groups) < 2:
            raise ValueError(
                f"groups must name at least two of {sorted(GROUPS)}; got {self.groups} (unknown: {unknown})"
            )
        for name in ("start_steps", "max_steps", "batch_size", "lora_r", "max_length", "max_prompt_length"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.learning_rate <= 0 or self.beta <= 0 or self.warmup_steps < 0:
            raise ValueError("learning_rate and beta must be positive, warmup_steps 0 or more")

    def fingerprint(self) -> str:
        payload = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]

    def start_config(self) -> UnalignedStartConfig:
        """The unaligned start's recipe: the shared default, so a grid's start is reused and vice versa."""
        return UnalignedStartConfig(
            dataset_id=self.dataset_id,
            dimension=self.dimension,
            base_model=self.base_model,
            max_steps=self.start_steps,
        )

    def selection(self, group: str) -> RaterSelection:
        return RaterSelection(GROUPS[group])


def adapter_label(group: str, dimension: str = "toxicity") -> str:
    """What an adapter was tuned on, as Chat and the registry show it."""
    return f"tuned on {group} raters' {dimension} preferences (from the unaligned start)"


def demo_root() -> Path:
    return paths.subdir("demo")


def demo_folder(config: DemoConfig) -> Path:
    return demo_root() / paths.safe_name(f"{config.dataset_id}-{config.fingerprint()}")


# ------------------------------------------------------------------------------------------- state
def read_state(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / STATE_FILE).read_text("utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def write_state(folder: Path, state: dict[str, Any]) -> None:
    """Atomic write: a page reading demo.json never sees half a file."""
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".{STATE_FILE}.{os.getpid()}"
    staging.write_text(json.dumps(state, indent=2, default=str), "utf-8")
    os.replace(staging, folder / STATE_FILE)


# ------------------------------------------------------------------------------------------ steps
@dataclass
class DemoSteps:
    """The expensive steps, replaceable in tests (the orchestration and resume logic stay real)."""

    build_start: Callable[[Store, UnalignedStartConfig, ProgressCallback], Path] = build_unaligned_start
    train: Callable[[Path, ProgressCallback], dict[str, Any]] | None = None
    matrix: Callable[[Store, DemoConfig, dict[str, Any]], dict[str, Any]] | None = None


def preference_set(store: Store, config: DemoConfig, group: str, folder: Path) -> tuple[Path, int]:
    """The group's majority-vote pairs on the training prompts, exported for DPO; (folder, pairs)."""
    from pluralign_core.preferences import build as preferences
    from pluralign_core.preferences import export as preference_export
    from pluralign_core.preferences.budget import one_pass

    if (folder / "config.yaml").exists() and (folder / "pairs.parquet").exists():
        import pandas as pd

        return folder, len(pd.read_parquet(folder / "pairs.parquet"))
    pref = preferences.PreferenceConfig(
        dataset_id=config.dataset_id,
        selection=config.selection(group).to_dict(),
        dimensions={config.dimension: 1.0},
        disagreement="majority",
        language=config.language or None,
        split="train",
        seed=config.seed,
    )
    built = preferences.build_preferences(store, pref)
    # the run reads max_steps × batch pairs once; the rest would only cost a reference pass (see budget)
    result = one_pass(built, config.max_steps * config.batch_size, config.seed)
    if result.pairs.empty:
        raise DemoError(
            f"{group} raters give no {config.dimension} preference pairs on the training prompts of "
            f"{config.dataset_id!r}{f' in {config.language!r}' if config.language else ''}; "
            "choose another dataset, group or language"
        )
    target, _ = preference_export.export_preferences(
        store, result, f"demo-{config.dataset_id}-{group}", folder=folder, include_test=False
    )
    return Path(target), len(result.pairs)


def dpo_steps(config: DemoConfig, n_pairs: int) -> int:
    """About one pass over the pairs, capped (the probe saw DPO degenerate when it over-trains)."""
    return max(1, min(config.max_steps, math.ceil(n_pairs / config.batch_size)))


def run_config(config: DemoConfig, group: str, start_dir: Path, pairs_dir: Path, steps: int) -> Any:
    from pluralign_core.training.config import RunConfig

    return RunConfig(
        algorithm="dpo",
        name=adapter_label(group, config.dimension),
        base_model=str(start_dir),
        preference_set=str(pairs_dir),
        beta=config.beta,
        learning_rate=config.learning_rate,
        lr_scheduler_type="constant_with_warmup",
        warmup_steps=min(config.warmup_steps, max(0, steps - 1)),
        max_steps=steps,
        per_device_train_batch_size=config.batch_size,
        max_length=config.max_length,
        max_prompt_length=config.max_prompt_length,
        lora_r=config.lora_r,
        lora_alpha=2 * config.lora_r,
        lora_dropout=0.0,
        lora_target_modules=["all-linear"],
        gradient_checkpointing=False,
        save_steps=max(4, steps // 3),
        seed=config.seed,
        cache_reference_logps=True,  # the groups' pairs share their answers: one reference pass for all
    )


def run_name(config: DemoConfig, group: str) -> str:
    """The run's folder name, hence its adapter's artifact id (``adapter-<name>``): unique per demo."""
    return paths.safe_name(f"demo-{config.dataset_id}-{group}-{config.fingerprint()[:6]}")


# ------------------------------------------------------------------------------------- the demo
class _Progress:
    """Writes fraction, message and ETA (from this process's own pace) into demo.json."""

    def __init__(self, folder: Path, state: dict[str, Any], echo: ProgressCallback | None) -> None:
        self.folder, self.state, self.echo = folder, state, echo
        self.clock = EtaClock()
        self.lock = threading.Lock()

    def __call__(self, fraction: float, message: str) -> None:
        with self.lock:
            self._report(fraction, message)

    def _report(self, fraction: float, message: str) -> None:
        fraction = max(0.0, min(1.0, fraction))
        eta = self.clock.eta(fraction)
        self.state["progress"] = {
            "fraction": round(fraction, 4),
            "message": message,
            "eta_s": None if eta is None else round(eta),
            "time": time.time(),
        }
        write_state(self.folder, self.state)
        if self.echo:
            self.echo(fraction, message + eta_text(eta))


def _part(report: _Progress, start: float, width: float, prefix: str) -> ProgressCallback:
    return lambda f, m: report(start + width * max(0.0, min(1.0, f)), f"{prefix}: {m}")


def _build_start_watched(
    steps: DemoSteps, store: Store, config: UnalignedStartConfig, progress: ProgressCallback
) -> Path:
    """Build the start while a thread turns its SFT run's step log into progress (SFT is most of it)."""
    from pluralign_core.training.callbacks import LOG_FILE
    from pluralign_core.training.queue import read_events

    log = start_folder(config) / "run" / LOG_FILE
    finished = threading.Event()
    last: list[Any] = [0.0, ""]  # the bar never moves back, and a step is reported once

    def forward(fraction: float, message: str) -> None:
        if fraction >= last[0] and [fraction, message] != last:
            last[:] = [fraction, message]
            progress(fraction, message)

    def watch() -> None:
        while not finished.wait(3.0):
            steps_done = [e for e in read_events(log) if e.get("step") and e.get("max_steps")]
            if steps_done:
                last = steps_done[-1]
                fraction = 0.05 + 0.7 * last["step"] / last["max_steps"]
                forward(fraction, f"SFT step {last['step']}/{last['max_steps']}")

    watcher = threading.Thread(target=watch, name="demo-start-progress", daemon=True)
    watcher.start()
    try:
        return Path(steps.build_start(store, config, forward))
    finally:
        finished.set()
        watcher.join()


def run_demo(
    store: Store,
    config: DemoConfig,
    progress: ProgressCallback | None = None,
    steps: DemoSteps | None = None,
) -> dict[str, Any]:
    """Build (or finish building) the demo; returns its final state (also in ``demo.json``)."""
    from pluralign_core.training.jobs import JobQueue

    steps = steps or DemoSteps()
    if not config.dataset_id:
        raise DemoError("the demo needs a dataset: pass --dataset or make one active")
    check_dataset(store, config)
    folder = demo_folder(config)
    folder.mkdir(parents=True, exist_ok=True)
    config.to_yaml(folder / "config.yaml")
    state = read_state(folder)
    state.update(
        state="running",
        dataset_id=config.dataset_id,
        pid=os.getpid(),
        started=launcher.process_start_time(os.getpid()),
        error=None,
        finished=None,
    )
    state.setdefault("created", time.time())
    state.setdefault("steps", {})
    done = state["steps"]
    report = _Progress(folder, state, progress)
    began = time.time()
    try:
        at = 0.0
        start_dir = Path(done.get("start", {}).get("model_dir", "/nonexistent"))
        built = (start_dir / "config.json").exists()
        weights = part_weights("none" if built else start_work(store, config.start_config()))
        if not built:
            part = _part(report, at, weights["start"], "start")
            start_dir = _build_start_watched(steps, store, config.start_config(), part)
            done["start"] = {"model_dir": str(start_dir), "finished": time.time()}
        at += weights["start"]
        report(at, f"unaligned start ready ({TEACHING_LABEL})")
        width = weights["adapters"] / len(config.groups)
        adapters = done.setdefault("adapters", {})
        runs = folder / "runs"
        runs.mkdir(exist_ok=True)
        for group in config.groups:
            pairs_dir, n_pairs = preference_set(store, config, group, folder / "data" / group)
            n_steps = dpo_steps(config, n_pairs)
            run_dir, completed = prepare_run(
                runs, run_name(config, group), run_config(config, group, start_dir, pairs_dir, n_steps)
            )
            if not completed:
                report(at, f"{group}: DPO on {n_pairs} pairs, {n_steps} steps")
                train = steps.train or train_in_process
                status = train(run_dir, _part(report, at, width, f"{group} adapter"))
                if status.get("state") != "completed":
                    raise DemoError(f"the {group} DPO run ended {status.get('state')}: {status.get('error')}")
            JobQueue(runs).register_finished(store)
            adapters[group] = {
                "artifact_id": f"adapter-{run_dir.name}",
                "path": str(run_dir / "adapter"),
                "label": adapter_label(group, config.dimension),
                "pairs": n_pairs,
                "steps": n_steps,
            }
            at += width
            report(at, f"{group} adapter ready")
        done["rewards"] = _reward_models(store, config, done.get("rewards"))
        at += weights["rewards"]
        report(at, "group reward models ready")
        if not (folder / MATRIX_JSON).exists():
            report(at, "likelihood matrix on held-out pairs")
            matrix = (steps.matrix or _matrix)(store, config, done)
            save_matrix(folder, matrix)
        done["matrix"] = {"csv": str(folder / MATRIX_CSV), "json": str(folder / MATRIX_JSON)}
        state.update(state="completed", finished=time.time(), wall_s=round(time.time() - began, 1))
        report(1.0, f"demo ready in {time.time() - began:.0f} s")
    except BaseException as error:
        ended = "failed" if isinstance(error, Exception) else "interrupted"
        state.update(state=ended, error=f"{type(error).__name__}: {error}", finished=time.time())
        write_state(folder, state)
        raise
    return state


def check_dataset(store: Store, config: DemoConfig) -> None:
    """Refuse, before any training, a dataset that lacks the dataset itself or one of the groups' raters."""
    if not store.has_dataset(config.dataset_id):
        raise DemoError(f"no dataset {config.dataset_id!r}: see `pluralign datasets`")
    for group in config.groups:
        if config.selection(group).rater_ids(store, config.dataset_id).empty:
            raise DemoError(
                f"dataset {config.dataset_id!r} has no {group} raters ({config.selection(group).label}), "
                "so no adapter can be tuned on their preferences; choose other --groups or another dataset"
            )


def _reward_models(store: Store, config: DemoConfig, known: dict[str, Any] | None) -> dict[str, Any]:
    """Each group's reward models (every dimension), trained once; ids recorded for reuse."""
    from pluralign_core.rewards.training import registered_reward_models, train_group_reward_models

    available = set(registered_reward_models(store, config.dataset_id).get("artifact_id", []))
    result = dict(known or {})
    for group in config.groups:
        if group in result and set(result[group].values()) <= available:
            continue
        models = train_group_reward_models(store, config.dataset_id, config.selection(group))
        result[group] = {dimension: model.artifact_id for dimension, model in models.items()}
    return result


def _matrix(store: Store, config: DemoConfig, done: dict[str, Any]) -> dict[str, Any]:
    from pluralign_core.experiments.demo_matrix import likelihood_matrix

    return likelihood_matrix(store, config, done)


def save_matrix(folder: Path, matrix: dict[str, Any]) -> None:
    import pandas as pd

    pd.DataFrame(matrix["cells"]).to_csv(folder / MATRIX_CSV, index=False)
    (folder / MATRIX_JSON).write_text(json.dumps(matrix, indent=2, default=str), "utf-8")
