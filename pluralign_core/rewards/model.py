"""A trained group reward model (:class:`RewardModel`): prediction, reward orientation and its files.

Files users may share are never pickles: the vocabularies and idf weights (or the hidden-state encoder's
reference and feature scaling) are JSON, the ridge weights a
plain ``.npz`` loaded with ``allow_pickle=False``; :func:`load_reward_model` rebuilds the exact same
transform, so a round trip gives identical predictions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from pluralign_core import paths
from pluralign_core.rewards.config import (
    CONFIG_FILE,
    FORMAT_VERSION,
    META_FILE,
    VOCAB_FILE,
    WEIGHTS_FILE,
    RewardModelConfig,
)
from pluralign_core.rewards.encoder import HiddenStateFeatures
from pluralign_core.rewards.features import TextFeatures
from pluralign_core.store.selection import RaterSelection


@dataclass
class RewardModel:
    """A trained group reward model: text features, linear weights and what they mean."""

    config: RewardModelConfig
    features: TextFeatures | HiddenStateFeatures
    coef: np.ndarray
    intercept: float
    higher_is_better: bool
    scale_min: float
    scale_max: float
    selection_label: str
    dimension_label: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    path: Path | None = None
    artifact_id: str | None = None

    @property
    def dimension(self) -> str:
        return self.config.dimension

    @property
    def dataset_id(self) -> str:
        return self.config.dataset_id

    @property
    def selection(self) -> RaterSelection:
        return self.config.rater_selection

    def predict(self, prompts: Sequence[str] | None, responses: Sequence[str]) -> np.ndarray:
        """Predicted mean score of the group on the dataset's scale (clipped to it), one per response.

        TF-IDF features read the response only; hidden-state features read it as the reply to its prompt
        (``prompts=None`` reads every response as a reply to an empty message).
        """
        if isinstance(responses, str):
            raise TypeError("predict() takes a sequence of responses, not a single string")
        if prompts is not None and len(prompts) != len(responses):
            raise ValueError(f"got {len(prompts)} prompts for {len(responses)} responses")
        if len(responses) == 0:
            return np.zeros(0)
        texts = [str(r) for r in responses]
        if isinstance(self.features, HiddenStateFeatures):
            matrix = self.features.transform(texts, None if prompts is None else [str(p) for p in prompts])
        else:
            matrix = self.features.transform(texts)
        raw = np.asarray(matrix @ self.coef).ravel() + self.intercept
        return np.clip(raw, self.scale_min, self.scale_max)

    def reward(self, prompts: Sequence[str] | None, responses: Sequence[str]) -> np.ndarray:
        """Prediction mapped to [0, 1] with 1 = best (toxicity and bias are flipped)."""
        span = self.scale_max - self.scale_min
        scaled = (self.predict(prompts, responses) - self.scale_min) / span
        return np.clip(scaled if self.higher_is_better else 1.0 - scaled, 0.0, 1.0)

    def save(self, folder: Path | str) -> Path:
        """Write the model into ``folder``, replaced as a whole through a unique staging folder.

        A fixed staging name let two sessions saving at once delete each other's half-written folder.
        """
        folder = Path(folder)
        with paths.staged_folder(folder, replace=True) as staging:
            self._write(staging)
        self.path = folder
        return folder

    def _write(self, staging: Path) -> None:
        (staging / CONFIG_FILE).write_text(self.config.to_yaml(), "utf-8")
        meta = {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "dimension": self.dimension,
            "dimension_label": self.dimension_label,
            "higher_is_better": self.higher_is_better,
            "scale_min": self.scale_min,
            "scale_max": self.scale_max,
            "selection_label": self.selection_label,
            "intercept": self.intercept,
            "metrics": self.metrics,
        }
        (staging / META_FILE).write_text(json.dumps(meta, indent=2, default=_json_default), "utf-8")
        (staging / VOCAB_FILE).write_text(json.dumps(self.features.to_json(), ensure_ascii=False), "utf-8")
        np.savez(staging / WEIGHTS_FILE, coef=np.asarray(self.coef, dtype=np.float64))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def load_reward_model(path: Path | str) -> RewardModel:
    """Load a reward model folder written by :meth:`RewardModel.save` (no unpickling anywhere)."""
    folder = Path(path)
    missing = [f for f in (CONFIG_FILE, META_FILE, VOCAB_FILE, WEIGHTS_FILE) if not (folder / f).exists()]
    if missing:
        raise FileNotFoundError(f"{folder} is not a pluralign reward model folder: missing {missing}")
    config = RewardModelConfig.from_dict(yaml.safe_load((folder / CONFIG_FILE).read_text("utf-8")))
    meta = json.loads((folder / META_FILE).read_text("utf-8"))
    feature_json = json.loads((folder / VOCAB_FILE).read_text("utf-8"))
    features: TextFeatures | HiddenStateFeatures
    if feature_json.get("kind") == HiddenStateFeatures.kind:
        features = HiddenStateFeatures.from_json(feature_json)
    else:
        features = TextFeatures.from_json(feature_json)
    with np.load(folder / WEIGHTS_FILE, allow_pickle=False) as weights:
        coef = np.asarray(weights["coef"], dtype=np.float64)
    if coef.shape != (features.n_features,):
        raise ValueError(f"{folder}: {coef.shape[0]} weights for {features.n_features} features")
    return RewardModel(
        config=config,
        features=features,
        coef=coef,
        intercept=float(meta["intercept"]),
        higher_is_better=bool(meta["higher_is_better"]),
        scale_min=float(meta["scale_min"]),
        scale_max=float(meta["scale_max"]),
        selection_label=str(meta["selection_label"]),
        dimension_label=str(meta.get("dimension_label", "")),
        metrics=dict(meta.get("metrics", {})),
        name=str(meta.get("name", "")),
        path=folder,
    )
