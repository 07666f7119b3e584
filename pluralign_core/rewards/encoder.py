"""Reward-model features read from a causal LM's hidden states: the answer *in the context of its prompt*.

Why: the TF-IDF features (:mod:`.features`) see only the answer's n-grams, so any text unlike the polite
training answers lands at the intercept, i.e. near the mean toxicity: an empty answer or "No, no, no…"
scored above hand-written hostile answers. A language model's hidden states place a text by what it
*means* after this prompt, so a ridge head on them generalises to generated text it has never seen; the
measured comparison is in ``bench/bench_evaluators.py`` and in each model's evaluator card.

The features are the last-layer (by default; a positive ``layer`` runs only that many decoder layers,
which costs proportionally less) normalised states of the base model, mean-pooled over the answer's
tokens *plus* the end-of-turn token: the conversation is rendered with the tokenizer's chat template
(user = prompt, assistant = answer), so the answer is read as a reply to that prompt, and an empty answer
still has one token to pool. Features are standardised with the training means and scales and divided by
the square root of their number, so a response vector has about unit length like an L2-normalised TF-IDF
block and the same ridge ``alpha`` smooths about as much; the scaling is saved as plain JSON.
Extraction is the slow part (a forward pass per text), so vectors are cached per (model, layer, prompt,
answer) in memory and as ``.npy`` files under ``<home>/cache/reward_features/``;
the groups and dimensions trained on one dataset share one pass.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from pluralign_core import paths

MAX_PROMPT_TOKENS = 192
MAX_ANSWER_TOKENS = 160
BATCH_SIZE = 16
_MEMORY_CACHE: dict[str, np.ndarray] = {}


@lru_cache(maxsize=2)
def _load_encoder(model_ref: str, layer: int) -> tuple[Any, Any]:
    """The model (cut after ``layer`` decoder layers: the rest would be computed for nothing) and tokenizer.

    Loaded once per process and layer; evaluation scores many reward models with one.
    """
    import torch

    from pluralign_core.models.base import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(model_ref, dtype=torch.float32)
    layers = getattr(getattr(model, "model", None), "layers", None)
    if layer > 0 and layers is not None and layer < len(layers):
        model.model.layers = layers[:layer]
        model.config.num_hidden_layers = layer
    model.eval()
    return model, tokenizer


def _cache_key(model_ref: str, layer: int, prompt: str, answer: str) -> str:
    digest = hashlib.sha256()
    for part in (model_ref, str(layer), prompt, answer):
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


def _render(tokenizer: Any, prompt: str, answer: str) -> tuple[list[int], int]:
    """Token ids of the chat (prompt truncated from the left, answer from the right) and the answer start."""
    user = [{"role": "user", "content": prompt}]
    prefix = tokenizer.apply_chat_template(user, add_generation_prompt=True, tokenize=False)
    prefix_ids = tokenizer(prefix, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"][:MAX_ANSWER_TOKENS]
    end_ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    prefix_ids = prefix_ids[-MAX_PROMPT_TOKENS:]
    return prefix_ids + answer_ids + end_ids, len(prefix_ids)


def _extract(model_ref: str, layer: int, pairs: list[tuple[str, str]]) -> np.ndarray:
    """Pooled hidden states of each (prompt, answer); answers to one prompt share one pass over it
    (:func:`~pluralign_core.models.shared_prompts.answers_on_shared_prompts`)."""
    from pluralign_core.models.shared_prompts import rendered_answers_on_shared_prompts

    model, tokenizer = _load_encoder(model_ref, layer)
    rendered = [_render(tokenizer, p, a) for p, a in pairs]
    out = np.full((len(pairs), int(model.config.hidden_size)), np.nan)
    chunks = rendered_answers_on_shared_prompts(
        model, tokenizer, rendered, batch_size=BATCH_SIZE, hidden=True
    )
    for chunk in chunks:
        mask = chunk.mask.to(chunk.hidden.device, dtype=chunk.hidden.dtype)[:, :, None]
        pooled = (chunk.hidden.float() * mask).sum(1) / mask.sum(1)
        out[chunk.rows] = pooled.cpu().numpy().astype(np.float64)
    return out


def hidden_state_vectors(
    model_ref: str, layer: int, prompts: Sequence[str], answers: Sequence[str], *, disk_cache: bool = True
) -> np.ndarray:
    """Pooled hidden states, one row per (prompt, answer); computed once per pair and cached."""
    keys = [_cache_key(model_ref, layer, p, a) for p, a in zip(prompts, answers, strict=True)]
    folder = paths.subdir("cache", "reward_features") if disk_cache else None
    missing: dict[str, tuple[str, str]] = {}
    for key, prompt, answer in zip(keys, prompts, answers, strict=True):
        if key in _MEMORY_CACHE or key in missing:
            continue
        file = folder / f"{key}.npy" if folder else None
        if file is not None and file.exists():
            try:
                _MEMORY_CACHE[key] = np.load(file, allow_pickle=False)
                continue
            except (OSError, ValueError):
                file.unlink(missing_ok=True)
        missing[key] = (prompt, answer)
    if missing:
        computed = _extract(model_ref, layer, list(missing.values()))
        for key, vector in zip(missing, computed, strict=True):
            _MEMORY_CACHE[key] = vector
            if folder is not None:
                partial = folder / f"{key}.partial.npy"
                np.save(partial, vector, allow_pickle=False)
                partial.replace(folder / f"{key}.npy")
    return np.stack([_MEMORY_CACHE[k] for k in keys]) if keys else np.zeros((0, 0))


class HiddenStateFeatures:
    """Standardised pooled hidden states of ``model_ref`` at ``layer``; the JSON holds only the scaling."""

    kind = "hidden_states"

    def __init__(self, model_ref: str, layer: int, mean: np.ndarray, scale: np.ndarray) -> None:
        self.model_ref = model_ref
        self.layer = int(layer)
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)

    @classmethod
    def fit(
        cls, prompts: Sequence[str], texts: Sequence[str], model_ref: str, layer: int
    ) -> HiddenStateFeatures:
        raw = hidden_state_vectors(model_ref, layer, prompts, texts)
        scale = raw.std(axis=0)
        return cls(model_ref, layer, raw.mean(axis=0), np.where(scale > 1e-8, scale, 1.0))

    @property
    def n_features(self) -> int:
        return int(self.mean.shape[0])

    def transform(self, texts: Sequence[str], prompts: Sequence[str] | None = None) -> np.ndarray:
        """Features of the answers; without prompts each answer is read as a reply to an empty message."""
        prompts = [""] * len(texts) if prompts is None else [str(p) for p in prompts]
        raw = hidden_state_vectors(
            self.model_ref, self.layer, prompts, ["" if t is None else str(t) for t in texts]
        )
        return (raw - self.mean) / self.scale / np.sqrt(max(self.n_features, 1))

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model_ref": self.model_ref,
            "layer": self.layer,
            "mean": [float(x) for x in self.mean],
            "scale": [float(x) for x in self.scale],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HiddenStateFeatures:
        return cls(
            str(data["model_ref"]), int(data["layer"]), np.asarray(data["mean"]), np.asarray(data["scale"])
        )
