"""Scores of the answers and their summary: classifier and group reward models, bootstrap CIs over prompts.

Every answer is scored by the independent toxicity classifier
(:mod:`pluralign_core.evaluation.toxicity_classifier`) and by the group reward models ("how would group G
rate this on dimension D?"). The summary gives per scorer, group, dimension and language the mean with a
bootstrap confidence interval over prompts: prompts are the unit that varies, the answers to one prompt
are not independent draws. Beside every score sit the answers' mean length in words, repetition and
degeneracy rate (:mod:`pluralign_core.evaluation.degeneracy`), so a broken model cannot pass for a less
toxic one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pluralign_core.evaluation.config import (
    ALL_LANGUAGES,
    CLASSIFIER_GROUP,
    CLASSIFIER_SCORER,
    SUMMARY_WITH_ANSWERS,
    EvaluationConfig,
)
from pluralign_core.evaluation.degeneracy import DEGENERACY_COLUMNS, degeneracy_table
from pluralign_core.store.database import Store


def score_generations(
    store: Store, generations: pd.DataFrame, config: EvaluationConfig, classifier: Any = None
) -> pd.DataFrame:
    """Long table: one row per (generation, scorer, group, dimension) with the raw score.

    Classifier rows have scorer ``toxicity_classifier`` and a probability in [0, 1]; reward-model rows
    carry the reward model's artifact id as scorer, its group label and the predicted mean rating. Every
    row also carries its answer's ``words``, ``repetition`` and ``degenerate`` flag.
    """
    from pluralign_core.rewards.model import load_reward_model
    from pluralign_core.rewards.training import registered_reward_models

    rows = []
    texts = list(generations.response)
    keys = pd.concat(
        [
            generations[["prompt_id", "prompt_key", "language"]].reset_index(drop=True),
            degeneracy_table(texts),
        ],
        axis=1,
    )
    if config.toxicity_classifier and texts:
        if classifier is None:
            from pluralign_core.evaluation.toxicity_classifier import default_classifier

            classifier = default_classifier()
        values = classifier.score(texts, list(generations.language))
        rows.append(
            keys.assign(
                scorer=CLASSIFIER_SCORER,
                group=CLASSIFIER_GROUP,
                dimension="toxicity",
                higher_is_better=False,
                scale_min=0.0,
                scale_max=1.0,
                score=values,
            )
        )
    registered = registered_reward_models(store, config.dataset_id)
    if config.reward_model_ids:
        missing = sorted(set(config.reward_model_ids) - set(registered.get("artifact_id", [])))
        if missing:
            raise KeyError(
                f"reward models {missing} are not registered (or their folders are gone) for "
                f"dataset {config.dataset_id!r}; train them first (pluralign reward)"
            )
        registered = registered[registered.artifact_id.isin(config.reward_model_ids)]
    for row in registered.itertuples() if not registered.empty else []:
        model = load_reward_model(row.path)
        values = model.predict(list(generations.prompt_text), texts) if texts else np.zeros(0)
        rows.append(
            keys.assign(
                scorer=row.artifact_id,
                group=model.selection_label,
                dimension=model.dimension,
                higher_is_better=model.higher_is_better,
                scale_min=model.scale_min,
                scale_max=model.scale_max,
                score=values,
            )
        )
    columns = [
        "prompt_id",
        "prompt_key",
        "language",
        "scorer",
        "group",
        "dimension",
        "higher_is_better",
        "scale_min",
        "scale_max",
        "score",
        *DEGENERACY_COLUMNS,
    ]
    if not rows:
        return pd.DataFrame(columns=columns)
    return pd.concat(rows, ignore_index=True)[columns]


def bootstrap_ci(
    values: np.ndarray, *, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """Mean and percentile bootstrap interval of the mean (NaN interval for fewer than two values)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(values.mean())
    if values.size < 2:
        return mean, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, (n_resamples, values.size))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return mean, float(low), float(high)


def summarise(
    scores: pd.DataFrame, *, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """Per scorer, group, dimension and language (plus ``all`` languages): mean, CI, count, and the
    answers' mean words, repetition and degeneracy rate (NaN when ``scores`` lacks those columns)."""
    if scores.empty:
        return pd.DataFrame(columns=SUMMARY_WITH_ANSWERS)
    rows = []
    keys = ["scorer", "group", "dimension"]
    for (scorer, group, dimension), part in scores.groupby(keys, sort=True):
        first = part.iloc[0]
        languages = [(ALL_LANGUAGES, part)] + [(lang, p) for lang, p in part.groupby("language", sort=True)]
        for language, subset in languages:
            mean, low, high = bootstrap_ci(
                subset.score.to_numpy(), n_resamples=n_resamples, confidence=confidence, seed=seed
            )
            rows.append(
                [
                    scorer,
                    group,
                    dimension,
                    language,
                    bool(first.higher_is_better),
                    float(first.scale_min),
                    float(first.scale_max),
                    mean,
                    low,
                    high,
                    len(subset),
                    *(
                        float(subset[c].mean()) if c in subset and len(subset) else float("nan")
                        for c in DEGENERACY_COLUMNS
                    ),
                ]
            )
    return pd.DataFrame(rows, columns=SUMMARY_WITH_ANSWERS)


def headline_metrics(summary: pd.DataFrame) -> dict[str, float]:
    """A few numbers for the artifact table: classifier toxicity and every group's mean per dimension, and
    per language the answers' mean words and degeneracy rate (the same answers behind every scorer)."""
    metrics: dict[str, float] = {}
    pooled = summary[summary.language == ALL_LANGUAGES]
    for row in pooled.itertuples():
        key = "classifier_toxicity" if row.scorer == CLASSIFIER_SCORER else f"{row.group} · {row.dimension}"
        if not np.isnan(row.mean):
            metrics[key] = round(float(row.mean), 6)
    if "degenerate" in summary:
        for language, part in summary[summary.language != ALL_LANGUAGES].groupby("language", sort=True):
            for column in ("words", "degenerate"):
                value = part[column].dropna()
                if len(value):
                    metrics[f"answers_{column} · {language}"] = round(float(value.iloc[0]), 6)
    return metrics
