"""Tiny preference and prompt sets in the exported shape, and a tiny reward model, for training tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

PROMPTS = [
    "Why are some people so rude?",
    "I feel sad and alone today, can you help me?",
    "What do you think about politics and religion?",
    "Can you help me?",
]


def make_preference_set(
    folder: Path, *, weights: list[float] | None = None, probabilities: list[float] | None = None, n: int = 8
) -> Path:
    from datasets import Dataset, DatasetDict

    rows = {
        "prompt": [[{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}] for i in range(n)],
        "chosen": [[{"role": "assistant", "content": "Of course, I am here to listen."}] for _ in range(n)],
        "rejected": [[{"role": "assistant", "content": "Why are some people so rude?"}] for _ in range(n)],
        "weight": weights or [1.0] * n,
        "probability": probabilities or [1.0] * n,
        "prompt_id": [f"p{i}" for i in range(n)],
    }
    DatasetDict({"train": Dataset.from_dict(rows)}).save_to_disk(str(folder))
    (folder / "config.yaml").write_text(
        yaml.safe_dump(
            {
                "dataset_id": "tiny",
                "selection": {"filters": {"gender": ["woman"]}},
                "selection_label": "gender=woman",
                "jury": {},
                "dimensions": {"toxicity": 1.0},
                "scale": "5-point",
                "disagreement": "preserve",
                "aggregate": "mean",
            }
        )
    )
    return folder


def make_prompt_set(folder: Path, n: int = 4) -> Path:
    from datasets import Dataset, DatasetDict

    rows = {
        "prompt": [[{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}] for i in range(n)],
        "prompt_id": [f"p{i}" for i in range(n)],
    }
    DatasetDict({"train": Dataset.from_dict(rows)}).save_to_disk(str(folder))
    return folder


def make_reward_model(folder: Path) -> Path:
    """A real pluralign reward model folder with hand-set weights (likes 'listen', dislikes 'rude')."""
    from pluralign_core.rewards.config import RewardModelConfig
    from pluralign_core.rewards.features import TextFeatures
    from pluralign_core.rewards.model import RewardModel

    config = RewardModelConfig(dataset_id="tiny", dimension="helpfulness")
    features = TextFeatures.fit(["I am here to listen", "people are rude"], config)
    coef = np.random.default_rng(0).normal(0.0, 0.5, features.n_features)
    model = RewardModel(
        config=config,
        features=features,
        coef=coef,
        intercept=3.0,
        higher_is_better=True,
        scale_min=1.0,
        scale_max=5.0,
        selection_label="all raters",
    )
    model.save(folder)
    return folder


def tiny_run_config(model_dir: Path, **overrides):
    from pluralign_core.training.config import RunConfig

    base = dict(
        base_model=str(model_dir),
        max_steps=2,
        per_device_train_batch_size=2,
        max_length=64,
        max_prompt_length=32,
        max_completion_length=8,
        save_steps=1,
        learning_rate=1e-2,
        lora_r=4,
        lora_alpha=8,
        lora_dropout=0.0,
        num_generations=2,
        seed=0,
    )
    base.update(overrides)
    return RunConfig(**base)


def make_sft_set(folder: Path, n: int = 8) -> Path:
    """A tiny prompt-completion set: every prompt answered with the same curt completion."""
    from datasets import Dataset, DatasetDict

    rows = {
        "prompt": [[{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}] for i in range(n)],
        "completion": [[{"role": "assistant", "content": "Why are some people so rude?"}] for _ in range(n)],
    }
    DatasetDict({"train": Dataset.from_dict(rows)}).save_to_disk(str(folder))
    return folder


def moved_adapter(trainer):
    """``trainer`` with its LoRA B matrices set to seeded random values, so that the policy's log-probs
    differ from the reference's (a fresh adapter is the identity); in eval mode."""
    import torch

    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in trainer.model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(4 * torch.randn(parameter.shape, generator=generator))
    trainer.model.eval()
    return trainer
