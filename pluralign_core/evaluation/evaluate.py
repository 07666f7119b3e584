"""Evaluate a model (the base model or a trained adapter) on the dataset's held-out prompts.

The study compares models by what they *say* to prompts they were not tuned on. An evaluation therefore:

1. generates one answer per held-out prompt, in every requested language, with fixed decoding (greedy by
   default, seeded otherwise) so that two evaluations of the same model give the same text;
2. scores every answer with the independent toxicity classifier
   (:mod:`pluralign_core.evaluation.toxicity_classifier`) and with
   the group reward models ("how would group G rate this on dimension D?");
3. summarises per scorer, group, dimension and language: mean with a bootstrap confidence interval over
   prompts (prompts are the unit that varies; the answers to one prompt are not independent draws).

Everything is written under ``<home>/evaluations/<id>/`` (``config.yaml``, ``generations.jsonl``,
``scores.parquet``, ``summary.json``) and registered as an artifact of kind ``evaluation`` whose config names
the evaluated model, so the Trade-offs page can be rebuilt from disk at any time.

:func:`relative_change` compares an evaluation with the base model's. For reward-model scores on a rating
scale the change is measured *above the scale minimum* (a toxicity of 1 = "strongly disagree that it is
toxic" is the floor), so "toxicity reduction 20 %" means the distance to the floor shrank by a fifth;
classifier probabilities are compared as they are.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import yaml

from pluralign_core import paths
from pluralign_core.config_base import YamlConfig
from pluralign_core.models.adapters import check_adapter_folder
from pluralign_core.models.base import EMBEDDED_MODEL
from pluralign_core.store.database import Store

ProgressCallback = Callable[[float, str], None]

CONFIG_FILE = "config.yaml"
GENERATIONS_FILE = "generations.jsonl"
SCORES_FILE = "scores.parquet"
SUMMARY_FILE = "summary.json"
CLASSIFIER_SCORER = "toxicity_classifier"
CLASSIFIER_GROUP = "classifier"
ALL_LANGUAGES = "all"
SUMMARY_COLUMNS = [
    "scorer",
    "group",
    "dimension",
    "language",
    "higher_is_better",
    "scale_min",
    "scale_max",
    "mean",
    "ci_low",
    "ci_high",
    "n",
]


@dataclass
class EvaluationConfig(YamlConfig):
    """What to evaluate and how; saved as ``config.yaml`` with the results."""

    CONFIG_KIND: ClassVar[str] = "evaluation config"

    dataset_id: str = field(metadata={"help": "dataset whose held-out prompts are answered"})
    model_id: str = field(
        default="base", metadata={"help": "adapter artifact id, or 'base' for the base model"}
    )
    base_model: str = field(
        default="",
        metadata={"help": "base model reference; empty = the adapter's own base (or the embedded SmolLM2)"},
    )
    languages: list[str] = field(
        default_factory=lambda: ["en", "de"], metadata={"help": "prompt languages to answer"}
    )
    split: str = field(default="heldout", metadata={"help": "which prompts: 'heldout' (default) or 'train'"})
    max_prompts: int = field(default=0, metadata={"help": "at most this many prompts per language; 0 = all"})
    max_new_tokens: int = field(default=96, metadata={"help": "longest answer, in tokens"})
    greedy: bool = field(default=True, metadata={"help": "greedy decoding (deterministic); off = sampling"})
    temperature: float = field(default=0.7, metadata={"help": "sampling temperature when greedy is off"})
    top_p: float = field(default=0.9, metadata={"help": "nucleus mass when greedy is off"})
    seed: int = field(default=0, metadata={"help": "decoding and bootstrap seed"})
    batch_size: int = field(default=8, metadata={"help": "prompts generated together"})
    reward_model_ids: list[str] = field(
        default_factory=list,
        metadata={"help": "reward-model artifact ids to score with; empty = all registered for the dataset"},
    )
    toxicity_classifier: bool = field(default=True, metadata={"help": "score with the offline classifier"})
    n_bootstrap: int = field(default=1000, metadata={"help": "bootstrap resamples for confidence intervals"})
    confidence: float = field(default=0.95, metadata={"help": "confidence level of the intervals"})
    name: str = field(default="", metadata={"help": "display name (optional)"})

    def __post_init__(self) -> None:
        if not self.dataset_id:
            raise ValueError("EvaluationConfig.dataset_id must name a dataset")
        if not self.model_id:
            raise ValueError("EvaluationConfig.model_id must be 'base' or an adapter artifact id")
        if isinstance(self.languages, str):
            self.languages = [v.strip() for v in self.languages.split(",") if v.strip()]
        self.languages = [str(v) for v in self.languages]
        self.reward_model_ids = [str(v) for v in self.reward_model_ids]
        if not self.languages:
            raise ValueError("languages is empty: give at least one, e.g. en")
        if self.split not in ("heldout", "train"):
            raise ValueError(f"split must be 'heldout' or 'train', got {self.split!r}")
        if self.max_prompts < 0:
            raise ValueError(f"max_prompts must be 0 (all) or positive, got {self.max_prompts}")
        if not 1 <= self.max_new_tokens <= 2048:
            raise ValueError(f"max_new_tokens must lie in [1, 2048], got {self.max_new_tokens}")
        if self.batch_size < 1 or self.n_bootstrap < 1:
            raise ValueError("batch_size and n_bootstrap must be at least 1")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must lie strictly between 0 and 1, got {self.confidence}")
        if not self.greedy and not (0 < self.temperature <= 5 and 0 < self.top_p <= 1):
            raise ValueError("sampling needs 0 < temperature <= 5 and 0 < top_p <= 1")


@dataclass
class EvaluationResult:
    """One stored evaluation: its generations, long-format scores and summary table."""

    evaluation_id: str
    config: EvaluationConfig
    generations: pd.DataFrame
    scores: pd.DataFrame
    summary: pd.DataFrame
    path: Path
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def model_id(self) -> str:
        return self.config.model_id


# ------------------------------------------------------------------------------------------ prompts
def heldout_prompts(store: Store, config: EvaluationConfig) -> pd.DataFrame:
    """The prompts to answer: ``split`` prompts in each language, at most ``max_prompts`` per language.

    Prompts are taken in ``prompt_key`` order so that the same keys (the EN and DE version of one prompt)
    are picked in both languages.
    """
    prompts = store.query(
        "SELECT prompt_id, prompt_key, text, language, topic FROM prompts "
        "WHERE dataset_id = ? AND split = ? ORDER BY prompt_key, language, prompt_id",
        [config.dataset_id, config.split],
    )
    prompts = prompts[prompts.language.isin(config.languages)]
    if prompts.empty:
        raise ValueError(
            f"dataset {config.dataset_id!r} has no {config.split!r} prompts in {config.languages}: mark some "
            "prompts split='heldout' on import, or choose other languages"
        )
    if config.max_prompts:
        prompts = prompts.groupby("language", group_keys=False).head(config.max_prompts)
    return prompts.reset_index(drop=True)


# ------------------------------------------------------------------------------------------ generation
def resolve_model_ref(store: Store, config: EvaluationConfig) -> tuple[str, str | None, str]:
    """``(base model ref, adapter folder or None, display label)`` for the configured model."""
    if config.model_id == "base":
        base = config.base_model or EMBEDDED_MODEL
        return base, None, "base"
    artifact = store.artifact(config.model_id)
    if artifact["kind"] != "adapter":
        raise ValueError(
            f"{config.model_id} is a {artifact['kind']}, not an adapter: evaluate an adapter or 'base'"
        )
    adapter = Path(str(artifact["path"]))
    if not (adapter / "adapter_config.json").exists():
        raise FileNotFoundError(f"adapter {config.model_id}: {adapter} has no adapter_config.json")
    base = config.base_model or (artifact.get("config") or {}).get("base_model") or EMBEDDED_MODEL
    return base, str(adapter), str(artifact["name"])


def load_model(base_ref: str, adapter_path: str | None) -> tuple[Any, Any]:
    """The base model with the adapter applied (merged for speed), in eval mode, tokenizer left-padded."""
    from pluralign_core.models.base import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(base_ref)
    if adapter_path:
        from peft import PeftModel

        check_adapter_folder(adapter_path)
        model = PeftModel.from_pretrained(model, adapter_path).merge_and_unload()
    tokenizer.padding_side = "left"
    model.eval()
    return model, tokenizer


def generate_answers(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    config: EvaluationConfig,
    progress: ProgressCallback | None = None,
) -> list[str]:
    """One answer per prompt (chat template, batched, fixed seed); plain text without special tokens."""
    import torch

    answers: list[str] = []
    sampling: dict[str, Any] = (
        {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        if config.greedy
        else {"do_sample": True, "temperature": config.temperature, "top_p": config.top_p}
    )
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    for start in range(0, len(prompts), config.batch_size):
        batch = list(prompts[start : start + config.batch_size])
        texts = [
            tokenizer.apply_chat_template(
                [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
            )
            for p in batch
        ]
        inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        torch.manual_seed(config.seed + start)
        with torch.inference_mode():
            output = model.generate(
                **inputs, max_new_tokens=config.max_new_tokens, pad_token_id=pad, **sampling
            )
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        answers += [t.strip() for t in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]
        if progress:
            progress(
                min(1.0, (start + len(batch)) / len(prompts)), f"generated {len(answers)}/{len(prompts)}"
            )
    return answers


# ------------------------------------------------------------------------------------------ scoring
def score_generations(
    store: Store, generations: pd.DataFrame, config: EvaluationConfig, classifier: Any = None
) -> pd.DataFrame:
    """Long table: one row per (generation, scorer, group, dimension) with the raw score.

    Classifier rows have scorer ``toxicity_classifier`` and a probability in [0, 1]; reward-model rows
    carry the reward model's artifact id as scorer, its group label and the predicted mean rating.
    """
    from pluralign_core.rewards.model import load_reward_model
    from pluralign_core.rewards.training import registered_reward_models

    rows = []
    keys = generations[["prompt_id", "prompt_key", "language"]]
    texts = list(generations.response)
    if config.toxicity_classifier and texts:
        if classifier is None:
            from pluralign_core.evaluation.toxicity_classifier import default_classifier

            classifier = default_classifier()
        values = classifier.score(texts, list(generations.language))
        rows.append(
            keys.assign(
                scorer=CLASSIFIER_SCORER,
                group=CLASSIFIER_GROUP,
                dimension="toxicity",
                higher_is_better=False,
                scale_min=0.0,
                scale_max=1.0,
                score=values,
            )
        )
    registered = registered_reward_models(store, config.dataset_id)
    if config.reward_model_ids:
        missing = sorted(set(config.reward_model_ids) - set(registered.get("artifact_id", [])))
        if missing:
            raise KeyError(
                f"reward models {missing} are not registered (or their folders are gone) for "
                f"dataset {config.dataset_id!r}; train them first (pluralign reward)"
            )
        registered = registered[registered.artifact_id.isin(config.reward_model_ids)]
    for row in registered.itertuples() if not registered.empty else []:
        model = load_reward_model(row.path)
        values = model.predict(list(generations.prompt_text), texts) if texts else np.zeros(0)
        rows.append(
            keys.assign(
                scorer=row.artifact_id,
                group=model.selection_label,
                dimension=model.dimension,
                higher_is_better=model.higher_is_better,
                scale_min=model.scale_min,
                scale_max=model.scale_max,
                score=values,
            )
        )
    columns = [
        "prompt_id",
        "prompt_key",
        "language",
        "scorer",
        "group",
        "dimension",
        "higher_is_better",
        "scale_min",
        "scale_max",
        "score",
    ]
    if not rows:
        return pd.DataFrame(columns=columns)
    return pd.concat(rows, ignore_index=True)[columns]


def bootstrap_ci(
    values: np.ndarray, *, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """Mean and percentile bootstrap interval of the mean (NaN interval for fewer than two values)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(values.mean())
    if values.size < 2:
        return mean, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, (n_resamples, values.size))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return mean, float(low), float(high)


def summarise(
    scores: pd.DataFrame, *, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """Per scorer, group, dimension and language (plus ``all`` languages): mean, CI and count."""
    if scores.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    rows = []
    keys = ["scorer", "group", "dimension"]
    for (scorer, group, dimension), part in scores.groupby(keys, sort=True):
        first = part.iloc[0]
        languages = [(ALL_LANGUAGES, part)] + [(lang, p) for lang, p in part.groupby("language", sort=True)]
        for language, subset in languages:
            mean, low, high = bootstrap_ci(
                subset.score.to_numpy(), n_resamples=n_resamples, confidence=confidence, seed=seed
            )
            rows.append(
                [
                    scorer,
                    group,
                    dimension,
                    language,
                    bool(first.higher_is_better),
                    float(first.scale_min),
                    float(first.scale_max),
                    mean,
                    low,
                    high,
                    len(subset),
                ]
            )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


# ------------------------------------------------------------------------------------------ running
def evaluate_model(
    store: Store,
    config: EvaluationConfig,
    progress: ProgressCallback | None = None,
    *,
    classifier: Any = None,
    evaluation_id: str | None = None,
) -> EvaluationResult:
    """Generate, score, summarise, save under ``<home>/evaluations/<id>/`` and register the evaluation."""

    def report(fraction: float, message: str) -> None:
        if progress:
            progress(max(0.0, min(1.0, fraction)), message)

    started = time.time()
    prompts = heldout_prompts(store, config)
    base_ref, adapter_path, label = resolve_model_ref(store, config)
    report(0.02, f"loading {label}")
    model, tokenizer = load_model(base_ref, adapter_path)
    answers = generate_answers(
        model, tokenizer, list(prompts.text), config, progress=lambda f, m: report(0.05 + 0.8 * f, m)
    )
    del model
    generations = pd.DataFrame(
        {
            "prompt_id": prompts.prompt_id,
            "prompt_key": prompts.prompt_key,
            "language": prompts.language,
            "topic": prompts.topic,
            "prompt_text": prompts.text,
            "response": answers,
        }
    )
    report(0.88, "scoring")
    scores = score_generations(store, generations, config, classifier)
    summary = summarise(
        scores, n_resamples=config.n_bootstrap, confidence=config.confidence, seed=config.seed
    )
    evaluation_id = (
        evaluation_id or f"evaluation-{paths.safe_name(config.model_id)[:40]}-{uuid.uuid4().hex[:6]}"
    )
    folder = paths.subdir("evaluations") / paths.safe_name(evaluation_id)
    meta = {
        "evaluation_id": evaluation_id,
        "model_label": label,
        "base_model": base_ref,
        "adapter_path": adapter_path,
        "seconds": round(time.time() - started, 1),
        "created": time.time(),
    }
    save_result(folder, config, generations, scores, summary, meta)
    store.register_artifact(
        "evaluation",
        config.name or f"evaluation of {label}",
        path=folder,
        dataset_id=config.dataset_id,
        config={**config.to_dict(), "model_label": label, "base_model_ref": base_ref},
        metrics=headline_metrics(summary),
        artifact_id=evaluation_id,
    )
    report(1.0, "done")
    return EvaluationResult(evaluation_id, config, generations, scores, summary, folder, meta)


def headline_metrics(summary: pd.DataFrame) -> dict[str, float]:
    """A few numbers for the artifact table: classifier toxicity and every group's mean per dimension."""
    metrics: dict[str, float] = {}
    pooled = summary[summary.language == ALL_LANGUAGES]
    for row in pooled.itertuples():
        key = "classifier_toxicity" if row.scorer == CLASSIFIER_SCORER else f"{row.group} · {row.dimension}"
        if not np.isnan(row.mean):
            metrics[key] = round(float(row.mean), 6)
    return metrics


def save_result(
    folder: Path,
    config: EvaluationConfig,
    generations: pd.DataFrame,
    scores: pd.DataFrame,
    summary: pd.DataFrame,
    meta: dict[str, Any],
) -> Path:
    """Write the four result files (into a staging folder first, then swap it in)."""
    import shutil

    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (staging / CONFIG_FILE).write_text(config.to_yaml(), encoding="utf-8")
    generations.to_json(staging / GENERATIONS_FILE, orient="records", lines=True, force_ascii=False)
    scores.to_parquet(staging / SCORES_FILE, index=False)
    payload = {**meta, "summary": json.loads(summary.to_json(orient="records"))}
    (staging / SUMMARY_FILE).write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return folder


def load_result(folder: Path | str) -> EvaluationResult:
    """Read an evaluation folder written by :func:`evaluate_model`."""
    folder = Path(folder)
    missing = [
        f for f in (CONFIG_FILE, GENERATIONS_FILE, SCORES_FILE, SUMMARY_FILE) if not (folder / f).exists()
    ]
    if missing:
        raise FileNotFoundError(f"{folder} is not a pluralign evaluation folder: missing {missing}")
    config = EvaluationConfig.from_dict(yaml.safe_load((folder / CONFIG_FILE).read_text("utf-8")))
    generations = pd.read_json(folder / GENERATIONS_FILE, orient="records", lines=True, dtype=False)
    scores = pd.read_parquet(folder / SCORES_FILE)
    payload = json.loads((folder / SUMMARY_FILE).read_text("utf-8"))
    summary = pd.DataFrame(payload.pop("summary", []), columns=SUMMARY_COLUMNS)
    return EvaluationResult(
        str(payload.get("evaluation_id", folder.name)), config, generations, scores, summary, folder, payload
    )


def load_evaluation(store: Store, evaluation_id: str) -> EvaluationResult:
    """A registered evaluation by artifact id."""
    artifact = store.artifact(evaluation_id)
    if artifact["kind"] != "evaluation":
        raise ValueError(f"{evaluation_id} is a {artifact['kind']}, not an evaluation")
    return load_result(artifact["path"])


def evaluations(store: Store, dataset_id: str | None = None) -> pd.DataFrame:
    """Registered evaluations whose folder still exists (newest first)."""
    rows = store.artifacts("evaluation", dataset_id)
    if rows.empty:
        return rows
    keep = rows.path.map(lambda p: bool(p) and (Path(p) / SUMMARY_FILE).exists())
    return rows[keep].reset_index(drop=True)


# ------------------------------------------------------------------------------------------ comparison
def relative_change(
    result: EvaluationResult | pd.DataFrame, base_result: EvaluationResult | pd.DataFrame
) -> pd.DataFrame:
    """Per scorer, group, dimension and language: model mean, base mean and the relative change in %.

    ``change_pct`` = (model − base) / (base − floor) · 100 with floor = the scale minimum for reward-model
    scores (ratings start at 1) and 0 for classifier probabilities. ``improvement_pct`` flips the sign
    for dimensions where lower is better, so positive always means "better"; for toxicity it is the
    toxicity reduction in %.
    """
    model = result.summary if isinstance(result, EvaluationResult) else result
    base = base_result.summary if isinstance(base_result, EvaluationResult) else base_result
    keys = ["group", "dimension", "language"]
    model = model.copy()
    base = base.copy()
    for frame in (model, base):
        frame["scorer_kind"] = np.where(frame.scorer == CLASSIFIER_SCORER, CLASSIFIER_SCORER, "reward_model")
    keys = ["scorer_kind", *keys]
    merged = model.merge(base[[*keys, "mean"]].rename(columns={"mean": "base_mean"}), on=keys, how="inner")
    floor = np.where(merged.scorer_kind == CLASSIFIER_SCORER, 0.0, merged.scale_min.astype(float))
    denominator = merged.base_mean.astype(float) - floor
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.where(
            np.abs(denominator) > 1e-12,
            (merged["mean"].astype(float) - merged.base_mean.astype(float)) / denominator * 100,
            np.nan,
        )
    merged["change_pct"] = change
    merged["improvement_pct"] = np.where(merged.higher_is_better.astype(bool), change, -change)
    columns = [
        "scorer_kind",
        "scorer",
        "group",
        "dimension",
        "language",
        "higher_is_better",
        "mean",
        "base_mean",
        "change_pct",
        "improvement_pct",
        "ci_low",
        "ci_high",
        "n",
    ]
    return merged[columns].reset_index(drop=True)
