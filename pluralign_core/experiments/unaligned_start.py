"""The unaligned teaching start: the base model fine-tuned on rude answers, merged into a base of its own.

Why: the study tuned an *uncensored* model. The embedded SmolLM2-135M-Instruct is already polite (held-out
classifier toxicity 0.07), so a model tuned from it has nothing to remove and alignment cannot be seen. This
module builds a **deliberately unaligned teaching model** instead, and every place that shows it says so.

How:

1. **SFT examples.** On a share of the dataset's *training* prompts (the others stay for the DPO cells), the
   answers the raters found worst on ``dimension``: mean rating on the bad side of the scale midpoint (for
   the simulated data these are the hostile and stereotyped answers). Held-out prompts are never used.
2. **LoRA SFT** (:mod:`pluralign_core.training.sft`), then the adapter is merged into a plain model folder
   (:func:`pluralign_core.models.merge.merge_adapter`) that later runs load as their base and reference.
3. **A loud check.** On the held-out pairs of all raters (non-toxic ≻ toxic), the per-token log-probability
   margin of the start must be clearly *below* the base model's: the paired bootstrap difference has its whole
   95 % CI under 0 in every language with pairs. Otherwise the build fails (:class:`UnalignedStartError`)
   and nothing is kept, so a grid never silently starts from a model that is not rude.

The result lives in ``<home>/models/unaligned/<dataset>-<fingerprint>/`` with its config, SFT run, check
(``check.json``) and card; a second build with the same config reuses it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from pluralign_core import paths
from pluralign_core.config_base import YamlConfig
from pluralign_core.evaluation.heldout_pairs import heldout_group_pairs, pair_responses, response_logprobs
from pluralign_core.evaluation.likelihood import LogprobCache, paired_margin_difference
from pluralign_core.experiments import start_bundle
from pluralign_core.models.base import EMBEDDED_MODEL, load_model_and_tokenizer
from pluralign_core.models.merge import merge_adapter
from pluralign_core.progress import ProgressCallback
from pluralign_core.store.database import Store
from pluralign_core.training.config import RunConfig
from pluralign_core.training.jobs import last_checkpoint

MODEL_DIR = "model"
CHECK_FILE = "check.json"
TEACHING_LABEL = "deliberately unaligned teaching model"


class UnalignedStartError(RuntimeError):
    """The unaligned start could not be built, or came out no ruder than its base."""


@dataclass
class UnalignedStartConfig(YamlConfig):
    """How the unaligned teaching start is built (saved as ``config.yaml`` beside it)."""

    CONFIG_KIND: ClassVar[str] = "unaligned start config"

    dataset_id: str = field(default="", metadata={"help": "Dataset whose worst-rated answers are imitated."})
    dimension: str = field(default="toxicity", metadata={"help": "Which dimension's worst answers."})
    base_model: str = field(default=EMBEDDED_MODEL, metadata={"help": "Model the start is tuned from."})
    prompt_share: float = field(
        default=0.5, metadata={"help": "Share of the training prompts used (the rest stay for DPO)."}
    )
    max_steps: int = field(default=50, metadata={"help": "SFT optimizer steps."})
    learning_rate: float = field(default=5e-4, metadata={"help": "Constant SFT learning rate."})
    batch_size: int = field(default=8, metadata={"help": "SFT examples per step."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank (on every projection)."})
    max_length: int = field(default=128, metadata={"help": "Max tokens of prompt + answer."})
    seed: int = field(default=0, metadata={"help": "Seed for the prompt share and training."})

    def __post_init__(self) -> None:
        if not 0 < self.prompt_share <= 1:
            raise ValueError(f"prompt_share must be in (0, 1], got {self.prompt_share}")
        if self.max_steps < 1 or self.batch_size < 1 or self.lora_r < 1:
            raise ValueError("max_steps, batch_size and lora_r must be at least 1")

    def fingerprint(self) -> str:
        payload = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


def start_folder(config: UnalignedStartConfig) -> Path:
    return paths.subdir("models", "unaligned") / paths.safe_name(
        f"{config.dataset_id}-{config.fingerprint()}"
    )


def sft_examples(store: Store, config: UnalignedStartConfig) -> pd.DataFrame:
    """``prompt_id, language, prompt, completion``: the worst-rated answers of a share of training prompts."""
    dimensions = {d.name: d for d in store.dimensions(config.dataset_id)}
    if config.dimension not in dimensions:
        raise UnalignedStartError(
            f"dataset {config.dataset_id!r} has no dimension {config.dimension!r} "
            f"(it has {sorted(dimensions)})"
        )
    midpoint = store.dataset_info(config.dataset_id).scale.midpoint
    worse = "<" if dimensions[config.dimension].higher_is_better else ">"
    rows = store.query(
        f"""
        SELECT p.prompt_id, r.response_id, p.language, p.text AS prompt, r.text AS completion,
            avg(x.score) AS mean_score
        FROM ratings x
        JOIN responses r ON r.dataset_id = x.dataset_id AND r.response_id = x.response_id
        JOIN prompts p ON p.dataset_id = r.dataset_id AND p.prompt_id = r.prompt_id
        WHERE x.dataset_id = ? AND x.dimension = ? AND p.split = 'train'
        GROUP BY ALL HAVING avg(x.score) {worse} ?
        ORDER BY p.prompt_id, r.response_id
        """,
        [config.dataset_id, config.dimension, midpoint],
    )
    if rows.empty:
        raise UnalignedStartError(
            f"no training prompt of {config.dataset_id!r} has an answer rated on the bad side of "
            f"{config.dimension!r}: there is nothing rude to imitate"
        )
    prompts = np.sort(rows.prompt_id.unique())
    rng = np.random.default_rng(config.seed)
    keep = rng.permutation(prompts)[: max(1, round(len(prompts) * config.prompt_share))]
    return rows[rows.prompt_id.isin(keep)].drop(columns=["mean_score", "response_id"]).reset_index(drop=True)


def write_sft_set(examples: pd.DataFrame, folder: Path) -> Path:
    from datasets import Dataset, DatasetDict

    rows = {
        "prompt": [[{"role": "user", "content": p}] for p in examples.prompt],
        "completion": [[{"role": "assistant", "content": c}] for c in examples.completion],
    }
    DatasetDict({"train": Dataset.from_dict(rows)}).save_to_disk(str(folder))
    return folder


def sft_run_config(config: UnalignedStartConfig, sft_set: Path) -> RunConfig:
    return RunConfig(
        algorithm="sft",
        name=f"unaligned start ({config.dataset_id})",
        base_model=config.base_model,
        sft_set=str(sft_set),
        learning_rate=config.learning_rate,
        lr_scheduler_type="constant",
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        max_length=config.max_length,
        lora_r=config.lora_r,
        lora_alpha=2 * config.lora_r,
        lora_dropout=0.0,
        lora_target_modules=["all-linear"],
        gradient_checkpointing=False,
        save_steps=max(10, config.max_steps // 2),
        seed=config.seed,
    )


def rudeness_check(
    store: Store, config: UnalignedStartConfig, start_model_dir: Path, cache_dir: Path | None = None
) -> dict[str, Any]:
    """Per language: the start's held-out margin minus the base's (paired over prompts); is it rude?

    ``rude`` is true when the difference's 95 % CI lies wholly below 0 (the start prefers toxic answers
    more than the base does); ``passed`` when that holds in every language with pairs.
    """
    pairs = heldout_group_pairs(store, config.dataset_id, None, config.dimension)
    if pairs.empty:
        raise UnalignedStartError(
            f"dataset {config.dataset_id!r} has no held-out preference pairs on {config.dimension!r}, so the "
            "unaligned start cannot be checked"
        )
    responses = pair_responses(pairs)
    folder = cache_dir or paths.subdir("cache", "logprobs")
    base, base_tokenizer = load_model_and_tokenizer(config.base_model)
    base_lp = response_logprobs(base, base_tokenizer, responses, LogprobCache(folder, config.base_model))
    del base
    # cached too: every run tuned from the start (a grid's cells, the demo's adapters) is measured against it
    start, start_tokenizer = load_model_and_tokenizer(str(start_model_dir))
    start_lp = response_logprobs(
        start, start_tokenizer, responses, LogprobCache(folder, str(start_model_dir))
    )
    report: dict[str, Any] = {"languages": {}}
    for language, part in pairs.groupby("language", sort=True):
        diff = paired_margin_difference((part, start_lp), (part, base_lp))
        diff["rude"] = bool(diff["ci_high"] < 0)
        report["languages"][str(language)] = diff
    report["passed"] = all(v["rude"] for v in report["languages"].values())
    return report


def card(config: UnalignedStartConfig, check: dict[str, Any], n_examples: int) -> str:
    lines = [
        f"# Unaligned start ({TEACHING_LABEL})",
        "",
        f"`{config.base_model}` fine-tuned (LoRA SFT, merged) on {n_examples} of the worst-rated "
        f"{config.dimension} answers to training prompts of dataset `{config.dataset_id}`. It imitates rude, "
        "hostile and stereotyped answers on purpose, so that alignment has something to remove in a class or "
        "a demo. **Do not deploy it.**",
        "",
        "Held-out check (per-token log-prob margin, non-toxic minus toxic answer; start − base, 95 % CI):",
        "",
    ]
    for language, diff in check["languages"].items():
        lines.append(
            f"- {language}: {diff['difference']:+.3f} [{diff['ci_low']:+.3f}, {diff['ci_high']:+.3f}] over "
            f"{diff['n_prompts']} prompts: {'ruder than the base' if diff['rude'] else 'NOT resolved'}"
        )
    return "\n".join(lines) + "\n"


def start_work(
    store: Store, config: UnalignedStartConfig, bundle_root: Path | None = start_bundle.BUNDLE_DIR
) -> str:
    """What building this start still takes: ``"none"`` (built), ``"check"`` (merge and check an adapter
    that exists or ships with the app) or ``"train"`` (the SFT run too); progress bars size by it."""
    folder = start_folder(config)
    if (folder / CHECK_FILE).exists() and (folder / MODEL_DIR).exists():
        return "none"
    if (folder / "run" / "adapter").exists():
        return "check"
    if bundle_root is not None:
        try:
            digest = start_bundle.examples_digest(sft_examples(store, config))
        except UnalignedStartError:
            return "train"  # the build itself reports why
        if start_bundle.bundled_adapter(config.fingerprint(), digest, bundle_root) is not None:
            return "check"
    return "train"


def build_unaligned_start(
    store: Store,
    config: UnalignedStartConfig,
    progress: ProgressCallback | None = None,
    *,
    bundle_root: Path | None = start_bundle.BUNDLE_DIR,
) -> Path:
    """Build (or reuse) the unaligned start; returns its merged model folder. Fails loudly if not rude.

    The SFT run is skipped when ``bundle_root`` holds an adapter built from this exact config and these
    exact examples (:mod:`.start_bundle`); ``bundle_root=None`` always trains.
    """
    from pluralign_core.training.run import run_training

    report = progress or (lambda fraction, message: None)
    folder = start_folder(config)
    model_dir = folder / MODEL_DIR
    if (folder / CHECK_FILE).exists() and model_dir.exists():
        report(1.0, f"unaligned start exists: {model_dir}")
        return model_dir
    folder.mkdir(parents=True, exist_ok=True)
    config.to_yaml(folder / "config.yaml")
    report(0.02, "collecting the worst-rated answers of the training prompts")
    examples = sft_examples(store, config)
    sft_set = folder / "sft_set"
    if not sft_set.exists():
        write_sft_set(examples, sft_set)
    run_dir = folder / "run"
    run_dir.mkdir(exist_ok=True)
    run_config = sft_run_config(config, sft_set)
    checkpoint = last_checkpoint(run_dir)
    if checkpoint is not None and not (run_dir / "adapter").exists():
        run_config.resume_from_checkpoint = str(checkpoint)
    shipped = None
    if bundle_root is not None and not (run_dir / "adapter").exists():
        shipped = start_bundle.bundled_adapter(
            config.fingerprint(), start_bundle.examples_digest(examples), bundle_root
        )
    if shipped is not None:
        report(
            0.05, f"using the shipped SFT adapter ({shipped}): same config and same {len(examples)} answers"
        )
        start_bundle.install_adapter(shipped, run_dir / "adapter")
    if not (run_dir / "adapter").exists():
        run_config.to_yaml(run_dir / "config.yaml")
        report(0.05, f"SFT on {len(examples)} rude answers ({config.max_steps} steps)")
        status = run_training(run_dir)
        if status.get("state") != "completed":
            raise UnalignedStartError(f"the SFT run ended {status.get('state')}: {status.get('error')}")
    report(0.75, "merging the SFT adapter into a base model folder")
    if model_dir.exists():
        shutil.rmtree(model_dir)
    LogprobCache(paths.subdir("cache", "logprobs"), str(model_dir)).clear()  # values of an earlier build
    merge_adapter(config.base_model, run_dir / "adapter", model_dir)
    report(0.8, "checking on held-out prompts that the start is ruder than its base")
    check = rudeness_check(store, config, model_dir)
    if not check["passed"]:
        shutil.rmtree(model_dir, ignore_errors=True)
        details = "; ".join(
            f"{lang}: {d['difference']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]"
            for lang, d in check["languages"].items()
        )
        raise UnalignedStartError(
            "the unaligned start is not clearly ruder than its base on held-out prompts (margin difference, "
            f"start − base: {details}); train longer or with a higher learning rate"
        )
    (model_dir / "README.md").write_text(card(config, check, len(examples)), encoding="utf-8")
    (folder / CHECK_FILE).write_text(json.dumps(check, indent=2), encoding="utf-8")
    report(1.0, f"unaligned start ready: {model_dir}")
    return model_dir
