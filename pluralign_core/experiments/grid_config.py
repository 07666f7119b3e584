"""What a grid compares and how big each run is: :class:`GridConfig` and its ``demo`` / ``full`` presets.

A grid is many training runs and evaluations that differ only in the design choice under study, so the
settings they share are not copied field by field: the config *holds* one :class:`RunConfig` (``training``)
and one :class:`EvaluationConfig` (``evaluation``) as templates, and the planner fills in what differs per
cell (algorithm, data, run name, evaluated model). The grid's own fields are only the axes of the
comparison and what has no home in either template (GRPO's step count, the single objective's dimension).

Presets: ``demo`` and ``reference`` run the study's comparisons the way a class can see them on 2 CPU cores:
every cell tunes from the *unaligned start* (a deliberately unaligned teaching model, see
:mod:`.unaligned_start`, like the study's uncensored model: a polite instruct model has nothing to remove) on
toxicity pairs only, with a constant learning rate after a short warm-up, over several seeds, and GRPO
budget-matched to DPO. ``demo`` runs the design cells with 3 seeds (< 30 minutes); ``reference`` adds the
multi-objective and liberal / conservative cells with 5 seeds and more steps (about 90 minutes; its results
ship under ``data/reference_run/``). ``full`` is meant for a GPU. A preset overrides values inside the nested
templates, so ``full`` changes ``training.max_steps`` and nothing else has to know. The dataclass defaults
(no preset applied) are the plain grid: the instruct start, all dimensions, one seed.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from pluralign_core.config_base import YamlConfig
from pluralign_core.evaluation.config import EvaluationConfig
from pluralign_core.models.base import EMBEDDED_MODEL
from pluralign_core.preferences.config import DISAGREEMENT, SCALES
from pluralign_core.rewards.config import FEATURE_KINDS
from pluralign_core.training.config import ALIGNMENT_ALGORITHMS, RunConfig

OBJECTIVES = ("multi", "single")
#: What the tuned cells start from: the deliberately unaligned teaching model, or the instruct model itself.
STARTS = ("unaligned", "instruct")

#: Placeholder for template fields the planner sets for each cell (a template must still be a valid config).
PER_CELL = "<set per cell>"

#: Template fields that differ between cells; the planner owns them, so they are not saved in config.yaml.
PER_CELL_TRAINING = (
    "algorithm",
    "name",
    "preference_set",
    "prompt_set",
    "reward_models",
    "reward_weights",
    "save_steps",
    "resume_from_checkpoint",
)
PER_CELL_EVALUATION = ("dataset_id", "model_id", "base_model", "reward_model_ids", "name")

#: Named groups the grid can tune on; values missing from a dataset are dropped at planning time.
GROUPS: dict[str, dict[str, tuple[str, ...]]] = {
    "women": {"gender": ("woman",)},
    "men": {"gender": ("man",)},
    "liberal": {"political_leaning": ("very liberal", "liberal", "left")},
    "conservative": {"political_leaning": ("conservative", "very conservative", "right")},
    "US": {"country": ("US",)},
    "DE": {"country": ("DE",)},
}


def demo_training() -> RunConfig:
    """The demo preset's run template: measured to fit 12 runs in the demo grid's 30 minutes on 2 cores."""
    return RunConfig(
        base_model=EMBEDDED_MODEL,
        preference_set=PER_CELL,
        max_steps=8,
        per_device_train_batch_size=1,
        learning_rate=1e-3,
        beta=0.1,
        lora_r=8,
        lora_alpha=16,
        max_length=128,
        max_prompt_length=64,
        max_completion_length=24,
        num_generations=2,
        gradient_checkpointing=False,
        logging_steps=1,
        seed=42,
    )


def demo_evaluation() -> EvaluationConfig:
    """The demo preset's evaluation template: two held-out prompts per language, short answers."""
    return EvaluationConfig(
        dataset_id=PER_CELL, languages=["en", "de"], max_prompts=2, max_new_tokens=40, seed=42
    )


#: The study's design on the unaligned start, sized for 2 CPU cores; the demo and reference presets share it.
_STUDY_DESIGN: dict[str, Any] = {
    "start": "unaligned",
    "reward_features": "hidden_states",
    "design_objective": "single",
    "objectives": ["single"],
    "groups": [],
    "grpo_max_steps": 0,
    "training": {
        "max_steps": 10,
        "per_device_train_batch_size": 8,
        "learning_rate": 5e-4,
        "lr_scheduler_type": "constant_with_warmup",
        "warmup_steps": 2,
        "beta": 0.2,
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.0,
        "lora_target_modules": ["all-linear"],
        # adapters on the last 10 of 30 layers only, no activation recomputation, bf16 where the CPU has it:
        # a step costs about a third of every-layer float32 with checkpointing (bench_demo_step)
        "lora_top_layers": 10,
        "gradient_checkpointing": False,
        "precision": "auto",
        "max_length": 96,
        "max_prompt_length": 48,
        "max_completion_length": 24,
        "num_generations": 4,
        # every cell tunes from the same start on pairs drawn from the same few hundred answers: the
        # reference log-probs of a sequence are computed once for the whole grid (same loss, see
        # pluralign_core.training.reference_cache)
        "cache_reference_logps": True,
    },
    # all held-out prompts of both languages decoded as one batch: on 2 CPU cores a decoding step costs about
    # the same for 8 or 48 rows, so batches of 8 took several times longer for the same greedy answers
    "evaluation": {"max_prompts": 0, "max_new_tokens": 40, "batch_size": 48},
}

PRESETS: dict[str, dict[str, Any]] = {
    "demo": {**_STUDY_DESIGN, "seeds": [0, 1, 2]},
    "reference": {
        **_STUDY_DESIGN,
        "seeds": [0, 1, 2, 3, 4],
        "objectives": ["single", "multi"],
        "groups": ["liberal", "conservative"],
        "training": {**_STUDY_DESIGN["training"], "max_steps": 16},
    },
    "full": {
        "grpo_max_steps": 100,
        "training": {
            "max_steps": 200,
            "per_device_train_batch_size": 8,
            "learning_rate": 5e-5,
            "lora_r": 16,
            "lora_alpha": 32,
            "max_length": 512,
            "max_prompt_length": 256,
            "max_completion_length": 128,
            "num_generations": 4,
            "gradient_checkpointing": True,
        },
        "evaluation": {"max_prompts": 0, "max_new_tokens": 160},
    },
}


def _nested(
    name: str, value: Any, template: YamlConfig, kind: type[YamlConfig], per_cell: tuple[str, ...]
) -> Any:
    """``value`` (a partial dict from YAML, or a config) over ``template``; refuses per-cell fields."""
    given = value.to_dict() if isinstance(value, kind) else dict(value)
    base = template.to_dict()
    owned = sorted(k for k in per_cell if k in given and given[k] != base[k])
    if owned:
        raise ValueError(
            f"GridConfig.{name}: {owned} are set for each cell by the grid's planner; remove them from "
            f"the grid config"
        )
    try:
        return kind.from_dict({**base, **given})
    except ValueError as error:
        raise ValueError(f"GridConfig.{name}: {error}") from error


@dataclass
class GridConfig(YamlConfig):
    """Which cells to plan and the run / evaluation templates they share; saved as ``config.yaml``."""

    CONFIG_KIND: ClassVar[str] = "grid config"

    preset: str = field(
        default="custom",
        metadata={
            "help": "demo (2 CPU cores, < 30 min), reference (2 CPU cores, ~90 min), full (GPU) or custom"
        },
    )
    dataset_id: str = field(default="", metadata={"help": "dataset to use; empty = the active dataset"})
    disagreements: list[str] = field(
        default_factory=lambda: ["preserve", "majority"],
        metadata={"help": f"disagreement handling, from {list(DISAGREEMENT)}"},
    )
    scales: list[str] = field(
        default_factory=lambda: ["5-point", "binary"],
        metadata={"help": f"rating scales, from {list(SCALES)}"},
    )
    optimizers: list[str] = field(
        default_factory=lambda: list(ALIGNMENT_ALGORITHMS),
        metadata={"help": f"from {list(ALIGNMENT_ALGORITHMS)}"},
    )
    objectives: list[str] = field(
        default_factory=lambda: list(OBJECTIVES),
        metadata={"help": "multi (all dimensions) and/or single (one dimension)"},
    )
    single_dimension: str = field(default="toxicity", metadata={"help": "the single objective's dimension"})
    design_objective: str = field(
        default="multi",
        metadata={
            "help": "what the design cells (disagreement × scale, DPO vs GRPO) tune on: 'multi' (all "
            "dimensions) or 'single' (single_dimension only); the objective cell is the other one"
        },
    )
    start: str = field(
        default="instruct",
        metadata={
            "help": "what every cell tunes from: 'unaligned' (the deliberately unaligned teaching model, "
            "built once and shared with `pluralign demo`) or 'instruct' (the base model itself)"
        },
    )
    reward_features: str = field(
        default="tfidf",
        metadata={
            "help": "features of the group reward models the evaluations score with: 'tfidf' (seconds) or "
            "'hidden_states' (the instruct model's states of answer-after-prompt; validated on generated "
            "and degenerate text, minutes once)"
        },
    )
    seeds: list[int] = field(
        default_factory=list,
        metadata={"help": "training seeds; every tuned cell runs once per seed (empty = training.seed only)"},
    )
    groups: list[str] = field(
        default_factory=lambda: list(GROUPS), metadata={"help": f"group-specific models, from {list(GROUPS)}"}
    )
    grpo_max_steps: int = field(
        default=4,
        metadata={
            "help": "GRPO optimizer steps per run (training.max_steps is DPO's); 0 = budget-matched to DPO "
            "(same steps, and as many sampled answers per step as a DPO step reads chosen + rejected answers)"
        },
    )
    training: RunConfig = field(
        default_factory=demo_training,
        metadata={"help": "settings every cell's run shares; algorithm and data are set per cell"},
    )
    evaluation: EvaluationConfig = field(
        default_factory=demo_evaluation,
        metadata={"help": "settings every cell's evaluation shares; the evaluated model is set per cell"},
    )

    def __post_init__(self) -> None:
        for name, allowed in (
            ("disagreements", DISAGREEMENT),
            ("scales", SCALES),
            ("optimizers", ALIGNMENT_ALGORITHMS),
            ("objectives", OBJECTIVES),
            ("groups", tuple(GROUPS)),
            ("start", STARTS),
            ("reward_features", FEATURE_KINDS),
            ("design_objective", OBJECTIVES),
        ):
            values = getattr(self, name)
            if name in ("start", "reward_features", "design_objective"):
                if values not in allowed:
                    raise ValueError(
                        f"GridConfig.start: unknown value {values!r}; choose from {list(allowed)}"
                    )
                continue
            if isinstance(values, str):
                values = [v.strip() for v in values.split(",") if v.strip()]
            values = [str(v) for v in values]
            bad = sorted(set(values) - set(allowed))
            if bad:
                raise ValueError(f"GridConfig.{name}: unknown value(s) {bad}; choose from {list(allowed)}")
            setattr(self, name, values)
        if isinstance(self.seeds, str | int):
            self.seeds = [v.strip() for v in str(self.seeds).split(",") if v.strip()]
        try:
            self.seeds = [int(v) for v in self.seeds]
        except (TypeError, ValueError) as error:
            raise ValueError(f"GridConfig.seeds must be integers, got {self.seeds}") from error
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"GridConfig.seeds has repeats: {self.seeds}")
        if not self.optimizers:
            raise ValueError("GridConfig.optimizers is empty: choose dpo and/or grpo")
        self.training = _nested("training", self.training, demo_training(), RunConfig, PER_CELL_TRAINING)
        self.evaluation = _nested(
            "evaluation", self.evaluation, demo_evaluation(), EvaluationConfig, PER_CELL_EVALUATION
        )
        for name, value in (("training.max_steps", self.training.max_steps),):
            if int(value) < 1:
                raise ValueError(f"GridConfig.{name} must be at least 1, got {value}")
        if int(self.grpo_max_steps) < 0:
            raise ValueError(
                f"GridConfig.grpo_max_steps must be 0 (budget-matched) or more, got {self.grpo_max_steps}"
            )
        if self.training.num_generations < 2:
            raise ValueError(
                f"GridConfig.training.num_generations must be at least 2 for GRPO, got "
                f"{self.training.num_generations}"
            )
        if self.training.learning_rate <= 0:
            raise ValueError("GridConfig.training.learning_rate must be positive")

    @property
    def run_seeds(self) -> list[int]:
        """The seeds every tuned cell runs with (``training.seed`` when ``seeds`` is empty)."""
        return list(self.seeds) or [int(self.training.seed)]

    @property
    def grpo_steps(self) -> int:
        """GRPO's optimizer steps: ``grpo_max_steps``, or DPO's step count when it is 0 (budget-matched)."""
        return int(self.grpo_max_steps) or int(self.training.max_steps)

    @property
    def grpo_batch(self) -> int:
        """Sampled answers per GRPO step: budget-matched, as many as a DPO step reads (2 per pair),
        rounded up to a multiple of ``num_generations``; otherwise one prompt's ``num_generations``."""
        generations = int(self.training.num_generations)
        if self.grpo_max_steps:
            return generations
        answers = 2 * int(self.training.per_device_train_batch_size)
        return -(-answers // generations) * generations

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> Self:
        """Partial ``training`` / ``evaluation`` mappings are completed from the demo templates first.

        The saved YAML leaves out the per-cell fields (data, evaluated model), so the nested configs could
        not be built from it alone; values given in the mapping always win over the template's.
        """
        data = dict(data)
        for name, template in (("training", demo_training()), ("evaluation", demo_evaluation())):
            if isinstance(data.get(name), Mapping):
                data[name] = {**template.to_dict(), **data[name]}
        return super().from_dict(data, source)

    def to_dict(self) -> dict[str, Any]:
        """The grid's fields with the nested templates, minus the per-cell fields the planner fills in."""
        data = super().to_dict()
        data["training"] = {k: v for k, v in data["training"].items() if k not in PER_CELL_TRAINING}
        data["evaluation"] = {k: v for k, v in data["evaluation"].items() if k not in PER_CELL_EVALUATION}
        return data


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        elif dataclasses.is_dataclass(value) and key in merged:
            merged[key] = _merge(merged[key], value.to_dict())  # type: ignore[union-attr]
        else:
            merged[key] = value
    return merged


def preset(name: str, **overrides: Any) -> GridConfig:
    """A preset's config; ``overrides`` replace grid fields or merge into ``training`` / ``evaluation``."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: choose {' or '.join(PRESETS)}")
    return GridConfig(preset=name, **_merge(PRESETS[name], overrides))
