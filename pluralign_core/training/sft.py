"""Supervised fine-tuning (LoRA) on prompt–completion pairs: how pluralign builds an *unaligned* start.

The study tuned an uncensored model; the embedded SmolLM2-135M-Instruct is already polite, so alignment has
nothing to remove and a tuned model cannot visibly improve. An SFT run on hostile and stereotyped answers
gives a deliberately unaligned teaching model to start DPO/GRPO from (see
:mod:`pluralign_core.experiments.unaligned_start`). The loss covers the completion only (trl's
``completion_only_loss``), so the model learns how to answer, not to repeat prompts.

The data is a folder saved with ``datasets`` (``save_to_disk``) whose ``train`` split has conversational
``prompt`` and ``completion`` columns, the shape trl's ``SFTTrainer`` reads directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pluralign_core.training import common
from pluralign_core.training.config import RunConfig

SFT_COLUMNS = ("prompt", "completion")


def load_sft_pairs(path: str | Path) -> Any:
    """An SFT set folder as a Dataset with ``prompt`` and ``completion`` columns."""
    folder = Path(path)
    if not folder.exists():
        raise FileNotFoundError(f"SFT set {folder} does not exist")
    from datasets import load_from_disk

    data = common.train_split(load_from_disk(str(folder)))
    missing = set(SFT_COLUMNS) - set(data.column_names)
    if missing:
        raise ValueError(f"SFT set {folder} lacks columns {sorted(missing)}")
    return data.select_columns(list(SFT_COLUMNS))


def build_trainer(config: RunConfig, run_dir: Path, callbacks: list[Any] | None = None) -> Any:
    """Seed → model → data → trainer (not yet trained)."""
    from trl import SFTConfig, SFTTrainer

    common.seed_everything(config.seed)
    model, tokenizer = common.load_base(config)
    tokenizer.padding_side = "right"
    arguments = common.trainer_arguments(config, run_dir)
    arguments.pop("beta")
    args = SFTConfig(**arguments, max_length=config.max_length, completion_only_loss=True)
    return SFTTrainer(
        model=model,
        args=args,
        train_dataset=load_sft_pairs(config.sft_set),
        processing_class=tokenizer,
        peft_config=common.lora_config(config, model),
        callbacks=callbacks,
    )


def train(config: RunConfig, run_dir: Path, callbacks: list[Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """Train and return the trainer and facts for the model card."""
    trainer = build_trainer(config, run_dir, callbacks)
    trainer.train(resume_from_checkpoint=config.resume_from_checkpoint or None)
    return trainer, {"completion_only_loss": True}
