"""One dataclass describes one training run; it is saved as ``config.yaml`` in the run folder.

The same object drives the app's Train form (rendered from the fields and their ``metadata``), the
``pluralign train --config run.yaml`` command and the training process itself, so the YAML in a run folder
is always the full recipe of what was trained.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from pluralign_core.config_base import TextList, YamlConfig
from pluralign_core.models.base import EMBEDDED_MODEL

ALGORITHMS = ("dpo", "grpo", "sft")
#: The algorithms that align a model to preferences (SFT only imitates; it builds the unaligned start).
ALIGNMENT_ALGORITHMS = ("dpo", "grpo")
LR_SCHEDULERS = ("linear", "constant", "constant_with_warmup", "cosine")
WEIGHTED_LOSS_MODES = ("auto", "on", "off")
#: Arithmetic of the training passes: bf16 mixed precision, float32, or auto (bf16 where the hardware has it).
PRECISIONS = ("auto", "fp32", "bf16")
DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
# Experiment trackers a run may also log to (the JSONL progress file the app reads is always written).
# Each maps to the modules transformers' own availability check looks for, and the package to install.
REPORTERS: dict[str, tuple[tuple[str, ...], str]] = {
    "none": ((), ""),
    "tensorboard": (("tensorboard", "tensorboardX"), "tensorboard"),
    "trackio": (("trackio",), "trackio"),
}


def check_reporter(name: str) -> None:
    """Raise a ``ValueError`` saying what to install when ``name`` is unknown or its package is missing.

    Checked when the config is made (form, YAML, flags), not when the trainer starts: transformers would
    otherwise fail minutes later inside the training process, after the base model had loaded.
    """
    if name not in REPORTERS:
        raise ValueError(f"report_to must be one of {tuple(REPORTERS)}, got {name!r}")
    modules, package = REPORTERS[name]
    if modules and not any(importlib.util.find_spec(module) for module in modules):
        raise ValueError(
            f"report_to: {name} needs the {package} package, which is not installed in this environment: "
            f"pip install {package}, or set report_to to none"
        )


@dataclass
class RunConfig(YamlConfig):
    """One training run: base model, data, LoRA and optimizer settings; saved as ``config.yaml``."""

    CONFIG_KIND: ClassVar[str] = "run config"

    algorithm: str = field(
        default="dpo",
        metadata={
            "help": "dpo: learn from preference pairs; grpo: sample answers and score them with reward "
            "models; sft: imitate prompt-completion pairs (how the unaligned teaching start is made).",
            "choices": ALGORITHMS,
            "group": "what",
        },
    )
    name: str = field(default="", metadata={"help": "Run name shown in tables (optional).", "group": "what"})
    base_model: str = field(
        default=EMBEDDED_MODEL,
        metadata={
            "help": "Base model: the embedded SmolLM2-135M-Instruct, a local model folder or a hub id.",
            "group": "what",
            "widget": "base_model",
        },
    )
    preference_set: str = field(
        default="",
        metadata={
            "help": "DPO: folder of an exported preference set (prompt, chosen, rejected, weight, "
            "probability).",
            "group": "data",
            "widget": "preference_set",
        },
    )
    prompt_set: str = field(
        default="",
        metadata={
            "help": "GRPO: a prompt set folder (column prompt) or a preference set folder (its prompts).",
            "group": "data",
            "widget": "prompt_set",
        },
    )
    sft_set: str = field(
        default="",
        metadata={
            "help": "SFT: folder of a prompt-completion set (datasets save_to_disk, conversational).",
            "group": "data",
        },
    )
    reward_models: list[str] = field(
        default_factory=list,
        metadata={
            "help": "GRPO: folders of group reward models, combined into one reward.",
            "group": "data",
            "widget": "reward_models",
        },
    )
    reward_weights: list[float] = field(
        default_factory=list,
        metadata={
            "help": "GRPO: one weight per reward model (empty = equal weights).",
            "group": "data",
            "widget": "reward_models",
        },
    )
    weighted_loss: str = field(
        default="auto",
        metadata={
            "help": "DPO: scale each pair's loss by its `weight` and use its `probability` as a soft "
            "label. auto = on when the preference set's weights or probabilities are not all equal.",
            "choices": WEIGHTED_LOSS_MODES,
            "group": "loss",
        },
    )
    beta: float = field(
        default=0.1,
        metadata={"help": "KL strength: how far the model may move from the base.", "group": "loss"},
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank.", "group": "lora"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling (alpha).", "group": "lora"})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout.", "group": "lora"})
    lora_target_modules: TextList = field(
        default_factory=lambda: list(DEFAULT_TARGETS),
        metadata={
            "help": "Module names that get LoRA adapters (or the single value all-linear).",
            "group": "lora",
        },
    )
    lora_top_layers: int = field(
        default=0,
        metadata={
            "help": "Put LoRA adapters only on the last N transformer layers (0, or more than the model has: "
            "every layer). The backward pass then stops N layers below the top: with 10 of SmolLM2's 30 "
            "layers a step costs about half.",
            "group": "lora",
        },
    )
    learning_rate: float = field(
        default=5e-5, metadata={"help": "Peak learning rate (AdamW).", "group": "optimizer"}
    )
    lr_scheduler_type: str = field(
        default="linear",
        metadata={
            "help": "Learning-rate schedule: linear decay to 0, constant after warm-up, or cosine.",
            "choices": LR_SCHEDULERS,
            "group": "optimizer",
        },
    )
    warmup_steps: int = field(
        default=0, metadata={"help": "Steps of linear warm-up from 0 to the peak rate.", "group": "optimizer"}
    )
    max_steps: int = field(
        default=100, metadata={"help": "Optimizer steps; 0 = use num_train_epochs.", "group": "optimizer"}
    )
    num_train_epochs: float = field(
        default=1.0, metadata={"help": "Epochs when max_steps is 0.", "group": "optimizer"}
    )
    per_device_train_batch_size: int = field(
        default=4, metadata={"help": "Examples per device per step.", "group": "optimizer"}
    )
    gradient_accumulation_steps: int = field(
        default=1, metadata={"help": "Micro-batches per optimizer step.", "group": "optimizer"}
    )
    max_length: int = field(
        default=512, metadata={"help": "Max tokens of prompt + answer (DPO).", "group": "lengths"}
    )
    max_prompt_length: int = field(
        default=256,
        metadata={"help": "Max prompt tokens (longer prompts keep their end).", "group": "lengths"},
    )
    max_completion_length: int = field(
        default=128, metadata={"help": "GRPO: max tokens per sampled answer.", "group": "lengths"}
    )
    num_generations: int = field(
        default=4,
        metadata={"help": "GRPO: answers sampled per prompt (must divide the batch).", "group": "lengths"},
    )
    seed: int = field(
        default=42, metadata={"help": "Random seed (data order, LoRA init, sampling).", "group": "optimizer"}
    )
    save_steps: int = field(
        default=50, metadata={"help": "Save a resumable checkpoint every N steps.", "group": "optimizer"}
    )
    logging_steps: int = field(
        default=1, metadata={"help": "Write a progress line every N steps.", "group": "optimizer"}
    )
    gradient_checkpointing: bool = field(
        default=True,
        metadata={
            "help": "Recompute activations in the backward pass: about 25% slower, far less memory.",
            "group": "optimizer",
        },
    )
    precision: str = field(
        default="fp32",
        metadata={
            "help": "fp32: float32 throughout; bf16: bfloat16 mixed precision (weights stay float32); auto: "
            "bf16 on a GPU or CPU with native bfloat16 instructions (AVX512-BF16, AMX), fp32 elsewhere. "
            "The resolved choice is saved with the run.",
            "choices": PRECISIONS,
            "group": "optimizer",
        },
    )
    cache_reference_logps: bool = field(
        default=False,
        metadata={
            "help": "DPO: compute the reference model's log-probabilities once per (prompt, answer) and "
            "reuse them in later runs on the same base (no reference forward per step; same loss).",
            "group": "optimizer",
        },
    )
    report_to: str = field(
        default="none",
        metadata={
            "help": "Also log metrics to an experiment tracker: tensorboard (event files under the run's "
            "checkpoints/runs/) or trackio (local trackio project 'pluralign'); needs that package.",
            "choices": tuple(REPORTERS),
            "group": "optimizer",
        },
    )
    resume_from_checkpoint: str = field(
        default="", metadata={"help": "Checkpoint folder to resume from (set by resume).", "ui": False}
    )

    def __post_init__(self) -> None:
        self.algorithm = str(self.algorithm).lower()
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {self.algorithm!r}")
        if self.weighted_loss not in WEIGHTED_LOSS_MODES:
            raise ValueError(
                f"weighted_loss must be one of {WEIGHTED_LOSS_MODES}, got {self.weighted_loss!r}"
            )
        self.report_to = str(self.report_to or "none").lower()
        check_reporter(self.report_to)
        self.precision = str(self.precision or "fp32").lower()
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if isinstance(self.lora_target_modules, str):
            self.lora_target_modules = [m.strip() for m in self.lora_target_modules.split(",") if m.strip()]
        self.reward_models = [str(p) for p in self.reward_models]
        self.reward_weights = [float(w) for w in self.reward_weights]
        if not self.base_model:
            raise ValueError("base_model is empty: use the embedded model, a local folder or a hub id")
        if self.algorithm == "dpo" and not self.preference_set:
            raise ValueError("a DPO run needs preference_set: the folder of an exported preference set")
        if self.algorithm == "sft" and not self.sft_set:
            raise ValueError("an SFT run needs sft_set: the folder of a prompt-completion set")
        if self.lr_scheduler_type not in LR_SCHEDULERS:
            raise ValueError(
                f"lr_scheduler_type must be one of {LR_SCHEDULERS}, got {self.lr_scheduler_type!r}"
            )
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be 0 or positive, got {self.warmup_steps}")
        if self.algorithm == "grpo":
            if not self.prompt_set:
                raise ValueError("a GRPO run needs prompt_set: the folder of an exported prompt set")
            if not self.reward_models:
                raise ValueError("a GRPO run needs at least one reward model folder in reward_models")
            if self.reward_weights and len(self.reward_weights) != len(self.reward_models):
                raise ValueError(
                    f"reward_weights has {len(self.reward_weights)} values for "
                    f"{len(self.reward_models)} reward models: give one per model or none"
                )
            if self.num_generations < 2:
                raise ValueError("num_generations must be at least 2 (GRPO compares answers to one prompt)")
            total = self.per_device_train_batch_size * self.gradient_accumulation_steps
            if total % self.num_generations:
                raise ValueError(
                    f"per_device_train_batch_size × gradient_accumulation_steps ({total}) must be "
                    f"a multiple of num_generations ({self.num_generations})"
                )
        positive = (
            "lora_r",
            "lora_alpha",
            "per_device_train_batch_size",
            "gradient_accumulation_steps",
            "max_length",
            "max_prompt_length",
            "max_completion_length",
            "save_steps",
            "logging_steps",
        )
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_steps < 0:
            raise ValueError(f"max_steps must be 0 (use epochs) or positive, got {self.max_steps}")
        if self.max_steps == 0 and self.num_train_epochs <= 0:
            raise ValueError("with max_steps 0, num_train_epochs must be positive")
        if not 0 <= self.lora_dropout < 1:
            raise ValueError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")
        if self.learning_rate <= 0 or self.beta < 0:
            raise ValueError("learning_rate must be positive and beta non-negative")
        if not self.lora_target_modules:
            raise ValueError("lora_target_modules is empty: name at least one module, e.g. q_proj")
        if self.lora_top_layers < 0:
            raise ValueError(f"lora_top_layers must be 0 (every layer) or above, got {self.lora_top_layers}")

    @property
    def label(self) -> str:
        data = {"dpo": self.preference_set, "grpo": self.prompt_set, "sft": self.sft_set}[self.algorithm]
        return self.name or f"{self.algorithm}-{Path(data).name}"
