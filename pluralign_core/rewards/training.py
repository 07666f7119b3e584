"""Group reward models: predict how a group of raters would score a response on one dimension.

For a rater selection (e.g. women, or conservative raters) and one dimension, the model is trained on the
*mean rating the selected raters gave each response*, weighted by how many of their ratings that mean rests
on, and reports its quality on held-out prompts (Pearson/Spearman correlation and pairwise accuracy). These
models are the GRPO reward functions (one dimension, or a weighted :class:`CombinedReward`), and evaluation
and chat reuse them to show how each group would rate a generated reply.

Why a ridge regression over one of two feature kinds (``RewardModelConfig.features``):

* ``hidden_states`` (:mod:`.encoder`): the embedded model's pooled hidden states of the answer read as the
  reply to its prompt. On the default data (all raters, toxicity) it ranks the held-out reference answers
  better (pairwise accuracy EN 1.000 / DE 0.972 vs TF-IDF 0.958 / 0.944) and scores junk (empty, one word
  repeated, "No, no…", cut off) above the hostile answers (junk beats a problematic answer in <= 25 % of
  pairs; TF-IDF, which puts junk near the mean rating: 17-56 %); numbers in each model's evaluator card
  (:mod:`.validation`) and
  ``bench/bench_evaluators.py``. The price is one forward pass of the base model per (prompt, answer),
  cached: minutes for a dataset's few hundred answers on two CPU cores, so it is opt-in.
* ``tfidf`` (the default): scikit-learn TF-IDF counts over word 1-2-grams *and* character 3-5-grams
  (within word boundaries) of the response text. Character n-grams carry German compounds and
  inflections as well as English words, so one recipe serves both study languages; nothing is
  downloaded, and a model trains in about a second on a CPU. It reads the answer alone, so text unlike
  the training answers (empty, repeated, cut off) lands near the mean rating, whatever the prompt.
* The regressor is a ridge (L2) linear regression. The study has only a few hundred distinct responses per
  dataset and the group signal is a shift in mean ratings, so a strongly regularised linear model is the
  honest choice: it cannot memorise responses, its weights are inspectable (which n-grams make women rate
  a reply more toxic), and a transformer reward head would overfit such data and cost minutes per group.

The model's files are described in :mod:`pluralign_core.rewards.model`.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pluralign_core import paths
from pluralign_core.progress import ProgressCallback
from pluralign_core.rewards.config import RewardModelConfig
from pluralign_core.rewards.encoder import HiddenStateFeatures
from pluralign_core.rewards.features import TextFeatures
from pluralign_core.rewards.model import RewardModel, load_reward_model
from pluralign_core.rewards.validation import write_card
from pluralign_core.store.database import Store
from pluralign_core.store.selection import RaterSelection


def group_response_means(store: Store, config: RewardModelConfig) -> pd.DataFrame:
    """One row per rated response: ``response_id, prompt_id, prompt_text, text, split, mean, n``."""
    condition, params = config.rater_selection.where_sql(config.dataset_id, "g.rater_id")
    return store.query(
        f"""
        SELECT g.response_id, any_value(s.prompt_id) AS prompt_id, any_value(s.text) AS text,
               coalesce(any_value(p.text), '') AS prompt_text,
               any_value(p.split) AS split, avg(g.score)::DOUBLE AS mean, count(*) AS n
        FROM ratings g
        JOIN responses s ON s.dataset_id = g.dataset_id AND s.response_id = g.response_id
        LEFT JOIN prompts p ON p.dataset_id = s.dataset_id AND p.prompt_id = s.prompt_id
        WHERE g.dataset_id = ? AND g.dimension = ? AND {condition}
        GROUP BY g.response_id
        HAVING count(*) >= ?
        ORDER BY g.response_id
        """,
        [config.dataset_id, config.dimension, *params, config.min_ratings],
    )


def heldout_mask(frame: pd.DataFrame, config: RewardModelConfig) -> np.ndarray:
    """Which responses are held out: whole prompts, so no prompt's answers sit on both sides."""
    groups = frame.prompt_id.fillna("response:" + frame.response_id).to_numpy()
    if config.heldout == "split":
        marked = frame.split.eq("heldout").to_numpy()
        if marked.any() and not marked.all():
            return marked
    unique = np.unique(groups)
    if len(unique) < 2:
        raise ValueError(
            "cannot hold out data: the selected raters rated responses to only one prompt. "
            "Select more raters or use a dataset with more prompts."
        )
    rng = np.random.default_rng(config.seed)
    n_heldout = min(max(1, round(config.heldout_fraction * len(unique))), len(unique) - 1)
    chosen = set(rng.choice(unique, size=n_heldout, replace=False).tolist())
    return np.array([g in chosen for g in groups])


def pairwise_accuracy(
    prompt_ids: Sequence[Any], observed: Sequence[float], predicted: Sequence[float]
) -> tuple[float, int]:
    """Share of same-prompt response pairs whose predicted order matches the observed order.

    Pairs whose observed means are equal are skipped (there is no order to get right); a predicted tie
    counts as half right. Returns ``(accuracy, number_of_pairs)``; accuracy is NaN without pairs.
    """
    frame = pd.DataFrame({"prompt": list(prompt_ids), "y": observed, "p": predicted})
    right, pairs = 0.0, 0
    for _, group in frame.groupby("prompt", sort=False, dropna=True):
        y, p = group.y.to_numpy(float), group.p.to_numpy(float)
        dy = np.sign(y[:, None] - y[None, :])
        dp = np.sign(p[:, None] - p[None, :])
        upper = np.triu(np.ones_like(dy, dtype=bool), k=1) & (dy != 0)
        pairs += int(upper.sum())
        right += float((dy[upper] == dp[upper]).sum()) + 0.5 * float((dp[upper] == 0).sum())
    return (right / pairs if pairs else math.nan), pairs


def quality_metrics(prompt_ids: Sequence[Any], observed: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """Held-out quality: correlations, pairwise accuracy and errors (NaN where undefined)."""
    from scipy import stats

    observed, predicted = np.asarray(observed, float), np.asarray(predicted, float)
    defined = len(observed) >= 3 and np.std(observed) > 0 and np.std(predicted) > 0
    accuracy, n_pairs = pairwise_accuracy(prompt_ids, observed, predicted)
    return {
        "pearson": float(stats.pearsonr(observed, predicted)[0]) if defined else math.nan,
        "spearman": float(stats.spearmanr(observed, predicted)[0]) if defined else math.nan,
        "pairwise_accuracy": accuracy,
        "n_pairs": n_pairs,
        "rmse": float(np.sqrt(np.mean((observed - predicted) ** 2))) if len(observed) else math.nan,
    }


def fit_features(train: pd.DataFrame, config: RewardModelConfig) -> TextFeatures | HiddenStateFeatures:
    """The feature transform ``config.features`` names, fitted on the training responses."""
    if config.features == "hidden_states":
        return HiddenStateFeatures.fit(
            list(train.prompt_text), list(train.text), config.encoder_model, config.encoder_layer
        )
    return TextFeatures.fit(list(train.text), config)


def default_name(config: RewardModelConfig) -> str:
    return f"{config.rater_selection.label} · {config.dimension}"


def train_reward_model(
    store: Store, config: RewardModelConfig, name: str | None = None, *, register: bool = True
) -> RewardModel:
    """Train, evaluate on held-out prompts, save under ``<home>/reward_models/`` and register.

    The saved model is the one fitted on the training prompts only, so the reported held-out metrics
    describe exactly the model that is used, and held-out prompts stay unseen for later evaluation.
    """
    from sklearn.linear_model import Ridge

    if not store.has_dataset(config.dataset_id):
        raise KeyError(f"no dataset {config.dataset_id!r}; run `pluralign datasets` to list them")
    dimensions = {d.name: d for d in store.dimensions(config.dataset_id)}
    if config.dimension not in dimensions:
        raise ValueError(
            f"dataset {config.dataset_id!r} has no dimension {config.dimension!r}; "
            f"choose one of {sorted(dimensions)}"
        )
    dimension = dimensions[config.dimension]
    info = store.dataset_info(config.dataset_id)
    selection = config.rater_selection
    frame = group_response_means(store, config)
    if len(frame) < 4:
        raise ValueError(
            f"the selection {selection.label!r} rated only {len(frame)} responses on {config.dimension!r} "
            f"in {config.dataset_id!r}; a reward model needs at least 4. Widen the selection."
        )
    held = heldout_mask(frame, config)
    train, test = frame[~held], frame[held]
    features = fit_features(train, config)
    matrix = (
        features.transform(list(train.text), list(train.prompt_text))
        if isinstance(features, HiddenStateFeatures)
        else features.transform(list(train.text))
    )
    regressor = Ridge(alpha=config.alpha)
    regressor.fit(matrix, train["mean"].to_numpy(float), sample_weight=train.n)
    model = RewardModel(
        config=config,
        features=features,
        coef=np.asarray(regressor.coef_, dtype=np.float64).ravel(),
        intercept=float(regressor.intercept_),
        higher_is_better=dimension.higher_is_better,
        scale_min=float(info.scale.minimum),
        scale_max=float(info.scale.maximum),
        selection_label=selection.label,
        dimension_label=dimension.label or dimension.name,
        name=name or default_name(config),
    )
    predicted = model.predict(list(test.prompt_text), list(test.text))
    metrics = quality_metrics(
        list(test.prompt_id.fillna(test.response_id)), test["mean"].to_numpy(), predicted
    )
    baseline = float(np.average(train["mean"], weights=train.n))
    metrics.update(
        {
            "baseline_rmse": float(np.sqrt(np.mean((test["mean"].to_numpy() - baseline) ** 2))),
            "n_train_responses": len(train),
            "n_heldout_responses": len(test),
            "n_ratings": int(frame.n.sum()),
            "n_raters": len(selection.rater_ids(store, config.dataset_id)),
            "n_features": features.n_features,
        }
    )
    model.metrics = metrics
    # The folder is named by registry id, not by label: labels such as "gender=男" and "gender=女" reduce
    # to one safe name, and two entries sharing a folder would score with the wrong group's model.
    existing = store.artifacts("reward_model", config.dataset_id) if register else pd.DataFrame()
    existing = existing[existing.name == model.name] if register else existing
    artifact_id = (
        f"reward_model-{uuid.uuid4().hex[:10]}" if existing.empty else str(existing.artifact_id.iloc[0])
    )
    folder = paths.subdir("reward_models") / artifact_id
    model.save(folder)
    write_card(store, model)
    if register:
        model.artifact_id = store.register_artifact(
            "reward_model",
            model.name,
            path=folder,
            dataset_id=config.dataset_id,
            config={
                **config.to_dict(),
                "dimension": config.dimension,
                "higher_is_better": dimension.higher_is_better,
                "selection": config.selection,
                "selection_label": selection.label,
                "scale_min": model.scale_min,
                "scale_max": model.scale_max,
            },
            metrics={k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in metrics.items()},
            artifact_id=artifact_id,
        )
    return model


def train_group_reward_models(
    store: Store,
    dataset_id: str,
    selection: RaterSelection | dict[str, Any],
    dimensions: Sequence[str] | None = None,
    *,
    progress: ProgressCallback | None = None,
    **settings: Any,
) -> dict[str, RewardModel]:
    """One reward model per dimension (all of the dataset's by default) for one rater selection."""
    selection = selection if isinstance(selection, RaterSelection) else RaterSelection.from_dict(selection)
    names = list(dimensions) if dimensions else [d.name for d in store.dimensions(dataset_id)]
    models = {}
    for index, dimension in enumerate(names):
        if progress:
            progress(index / len(names), f"{selection.label}: {dimension}")
        config = RewardModelConfig(
            dataset_id=dataset_id, dimension=dimension, selection=selection.to_dict(), **settings
        )
        models[dimension] = train_reward_model(store, config)
    if progress:
        progress(1.0, f"{selection.label}: done")
    return models


def default_groups(store: Store, dataset_id: str) -> list[RaterSelection]:
    """The contrasting groups the chat page offers by default: women/men and liberal/conservative.

    Groups whose raters are absent from the dataset are left out.
    """
    values = store.query(
        "SELECT DISTINCT attribute, value FROM rater_attributes WHERE dataset_id = ?", [dataset_id]
    )
    present = {(a, v) for a, v in zip(values.attribute, values.value, strict=True)}
    candidates = [
        {"gender": ("woman",)},
        {"gender": ("man",)},
        {"political_leaning": ("very liberal", "liberal", "left")},
        {"political_leaning": ("conservative", "very conservative", "right")},
    ]
    groups = []
    for filters in candidates:
        kept = {a: tuple(v for v in vs if (a, v) in present) for a, vs in filters.items()}
        if all(kept.values()):
            groups.append(RaterSelection(kept))
    return groups


def registered_reward_models(store: Store, dataset_id: str | None = None) -> pd.DataFrame:
    """Ready reward-model artifacts whose folder still exists, newest first."""
    rows = store.artifacts("reward_model", dataset_id)
    if rows.empty:
        return rows
    keep = rows.status.eq("ready") & rows.path.map(lambda p: bool(p) and Path(p).exists())
    return rows[keep].reset_index(drop=True)


def load_group_reward_models(
    store: Store, dataset_id: str | None = None, artifact_ids: Sequence[str] | None = None
) -> dict[str, dict[str, RewardModel]]:
    """Registered reward models grouped as ``{selection label: {dimension: model}}`` (newest wins)."""
    rows = registered_reward_models(store, dataset_id)
    if artifact_ids is not None:
        rows = rows[rows.artifact_id.isin(list(artifact_ids))]
    grouped: dict[str, dict[str, RewardModel]] = {}
    for row in rows.itertuples():
        model = load_reward_model(row.path)
        model.artifact_id = row.artifact_id
        grouped.setdefault(model.selection_label, {}).setdefault(model.dimension, model)
    return grouped
