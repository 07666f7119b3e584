"""What an evaluation answers and how it scores: :class:`EvaluationConfig` and the stored file names.

An evaluation folder ``<home>/evaluations/<id>/`` holds ``config.yaml`` (this config), ``generations.jsonl``,
``scores.parquet`` and ``summary.json``; the Trade-offs page and the grid read those files, so their names
are defined once, here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import yaml

from pluralign_core import paths
from pluralign_core.config_base import TextList, YamlConfig
from pluralign_core.evaluation.degeneracy import DEGENERACY_COLUMNS

CONFIG_FILE = "config.yaml"
GENERATIONS_FILE = "generations.jsonl"
SCORES_FILE = "scores.parquet"
SUMMARY_FILE = "summary.json"
PROGRESS_LOG = "progress.jsonl"  # a queued evaluation's progress events (:mod:`.worker`)
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
# beside every score: the answers' mean words, repetition and degeneracy rate (see :mod:`.degeneracy`)
SUMMARY_WITH_ANSWERS = [*SUMMARY_COLUMNS, *DEGENERACY_COLUMNS]


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
    languages: TextList = field(
        default_factory=lambda: ["en", "de"], metadata={"help": "prompt languages to answer"}
    )
    split: str = field(
        default="heldout",
        metadata={"help": "which prompts: 'heldout' (default) or 'train'", "choices": ("heldout", "train")},
    )
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


def new_evaluation_id(config: EvaluationConfig) -> str:
    """A fresh id naming the evaluated model (also the name of its folder)."""
    return f"evaluation-{paths.safe_name(config.model_id)[:40]}-{uuid.uuid4().hex[:6]}"


def read_config(path: Path | str) -> EvaluationConfig:
    """The evaluation config stored at ``path`` (an evaluation folder's ``config.yaml``)."""
    return EvaluationConfig.from_dict(yaml.safe_load(Path(path).read_text("utf-8")))
