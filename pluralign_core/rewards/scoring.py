"""Group reward models as GRPO reward functions (:class:`CombinedReward`) and the texts they score.

trl passes completions and prompts as plain strings or as conversational message lists; the helpers here
reduce either to the text a reward model reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pluralign_core import paths
from pluralign_core.rewards.model import RewardModel


def completion_text(completion: Any) -> str:
    """The text of a completion: a string, or a conversational list of messages (assistant turns)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return _content_text(completion.get("content", ""))
    if isinstance(completion, Sequence):
        messages = [m for m in completion if isinstance(m, dict)]
        chosen = [m for m in messages if m.get("role", "assistant") == "assistant"] or messages
        return "\n".join(_content_text(m.get("content", "")) for m in chosen)
    return str(completion)


def prompt_text(prompt: Any) -> str:
    """The last user turn of a conversational prompt, or the prompt string itself."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, Sequence):
        users = [m for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        return _content_text(users[-1].get("content", "")) if users else ""
    return str(prompt)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):  # multimodal parts: [{"type": "text", "text": ...}, ...]
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


class CombinedReward:
    """A GRPO reward function: weighted mean of group reward models, each oriented so higher = better.

    Each model's prediction is mapped to [0, 1] on its scale and flipped for dimensions where lower is
    better (toxicity, stereotypical bias: ``scale_max + scale_min - prediction``), then averaged with
    ``weights`` (normalised by their sum), so the reward lies in [0, 1]. The call signature matches trl's
    ``GRPOTrainer``, which calls ``reward_func(prompts=..., completions=..., completion_ids=..., **columns)``
    with plain strings or, for conversational data, lists of ``{"role", "content"}`` messages.
    """

    def __init__(self, models: Sequence[RewardModel], weights: Sequence[float] | None = None) -> None:
        models = list(models)
        weights = [1.0] * len(models) if weights is None else [float(w) for w in weights]
        if not models:
            raise ValueError("CombinedReward needs at least one reward model")
        if len(weights) != len(models):
            raise ValueError(f"got {len(weights)} weights for {len(models)} reward models")
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError(f"weights must be non-negative with a positive sum, got {weights}")
        self.models = models
        self.weights = weights
        parts = "+".join(paths.safe_name(m.dimension) for m in models)
        self.__name__ = f"reward_{paths.safe_name(models[0].selection_label)}_{parts}"[:120]

    def scores(self, prompts: Sequence[Any] | None, completions: Sequence[Any]) -> np.ndarray:
        texts = [completion_text(c) for c in completions]
        prompt_texts = None if prompts is None else [prompt_text(p) for p in prompts]
        total = np.zeros(len(texts))
        for model, weight in zip(self.models, self.weights, strict=True):
            total += weight * model.reward(prompt_texts, texts)
        return total / sum(self.weights)

    def __call__(
        self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (), **kwargs: Any
    ) -> list[float]:
        return [float(x) for x in self.scores(prompts, completions)]

    def __repr__(self) -> str:
        parts = ", ".join(f"{m.dimension}×{w:g}" for m, w in zip(self.models, self.weights, strict=True))
        return f"CombinedReward({self.models[0].selection_label}: {parts})"
