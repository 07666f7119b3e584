"""GRPO: sample several answers per prompt and reward them with one group's reward models."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from trl import GRPOConfig, GRPOTrainer

from pluralign_core.training import common
from pluralign_core.training.config import RunConfig


def reward_function(config: RunConfig) -> Callable[..., list[float]]:
    """The run's reward models combined into one trl reward function (weighted mean, higher = better)."""
    from pluralign_core.rewards.model import load_reward_model
    from pluralign_core.rewards.scoring import CombinedReward

    models = [load_reward_model(path) for path in config.reward_models]
    return CombinedReward(models, config.reward_weights or None)


def build_trainer(
    config: RunConfig,
    run_dir: Path,
    callbacks: list[Any] | None = None,
    reward_funcs: Any = None,
    dataset: Any = None,
) -> GRPOTrainer:
    common.seed_everything(config.seed)
    model, tokenizer = common.load_base(config)
    data = dataset if dataset is not None else common.load_prompts(config.prompt_set)
    args = GRPOConfig(
        **common.trainer_arguments(config, run_dir),
        num_generations=config.num_generations,
        max_completion_length=config.max_completion_length,
    )
    return GRPOTrainer(
        model=model,
        reward_funcs=reward_funcs or reward_function(config),
        args=args,
        train_dataset=data,
        processing_class=tokenizer,
        peft_config=common.lora_config(config, model),
        callbacks=callbacks,
    )


def train(
    config: RunConfig, run_dir: Path, callbacks: list[Any] | None = None, reward_funcs: Any = None
) -> tuple[Any, dict[str, Any]]:
    trainer = build_trainer(config, run_dir, callbacks, reward_funcs)
    trainer.train(resume_from_checkpoint=config.resume_from_checkpoint or None)
    return trainer, {"reward": repr(trainer.reward_funcs[0])}
