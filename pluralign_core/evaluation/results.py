"""Stored evaluations: write and read an evaluation folder, list registered ones, compare two.

:func:`relative_change` compares an evaluation with the base model's. For reward-model scores on a rating
scale the change is measured *above the scale minimum* (a toxicity of 1 = "strongly disagree that it is
toxic" is the floor), so "toxicity reduction 20 %" means the distance to the floor shrank by a fifth;
classifier probabilities are compared as they are.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pluralign_core.evaluation.config import (
    CLASSIFIER_SCORER,
    CONFIG_FILE,
    GENERATIONS_FILE,
    SCORES_FILE,
    SUMMARY_FILE,
    SUMMARY_WITH_ANSWERS,
    EvaluationConfig,
    read_config,
)
from pluralign_core.store.database import Store


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


def save_result(
    folder: Path,
    config: EvaluationConfig,
    generations: pd.DataFrame,
    scores: pd.DataFrame,
    summary: pd.DataFrame,
    meta: dict[str, Any],
) -> Path:
    """Write the four result files: into a staging folder inside ``folder``, then moved in one by one.

    The summary moves last, and readers take an evaluation as present only when its summary is
    (:func:`evaluations`), so no reader sees a half-written one. Other files in ``folder`` (a queued
    evaluation's status, progress log and process log) are kept.
    """
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder))  # unique: two writers never collide
    (staging / CONFIG_FILE).write_text(config.to_yaml(), encoding="utf-8")
    generations.to_json(staging / GENERATIONS_FILE, orient="records", lines=True, force_ascii=False)
    scores.to_parquet(staging / SCORES_FILE, index=False)
    payload = {**meta, "summary": json.loads(summary.to_json(orient="records"))}
    (staging / SUMMARY_FILE).write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
    (folder / SUMMARY_FILE).unlink(missing_ok=True)  # an older result in this folder stops counting first
    for name in (CONFIG_FILE, GENERATIONS_FILE, SCORES_FILE, SUMMARY_FILE):
        os.replace(staging / name, folder / name)
    staging.rmdir()
    return folder


def load_result(folder: Path | str) -> EvaluationResult:
    """Read an evaluation folder written by :func:`evaluate_model`."""
    folder = Path(folder)
    missing = [
        f for f in (CONFIG_FILE, GENERATIONS_FILE, SCORES_FILE, SUMMARY_FILE) if not (folder / f).exists()
    ]
    if missing:
        raise FileNotFoundError(f"{folder} is not a pluralign evaluation folder: missing {missing}")
    config = read_config(folder / CONFIG_FILE)
    generations = pd.read_json(folder / GENERATIONS_FILE, orient="records", lines=True, dtype=False)
    scores = pd.read_parquet(folder / SCORES_FILE)
    payload = json.loads((folder / SUMMARY_FILE).read_text("utf-8"))
    summary = pd.DataFrame(payload.pop("summary", []), columns=SUMMARY_WITH_ANSWERS)
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
