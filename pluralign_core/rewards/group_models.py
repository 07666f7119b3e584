"""Group reward models: predict how a group of raters would score a response on one dimension.

For a rater selection (e.g. women, or conservative raters) and one dimension, the model is trained on the
*mean rating the selected raters gave each response*, weighted by how many of their ratings that mean rests
on, and reports its quality on held-out prompts (Pearson/Spearman correlation and pairwise accuracy). These
models are the GRPO reward functions (one dimension, or a weighted :class:`CombinedReward`), and evaluation
and chat reuse them to show how each group would rate a generated reply.

Why TF-IDF + ridge regression:

* The features are scikit-learn TF-IDF counts over word 1-2-grams *and* character 3-5-grams (within word
  boundaries) of the response text. Character n-grams carry German compounds and inflections as well as
  English words, so one recipe serves both study languages; nothing is downloaded, and a model trains in
  about a second on a CPU, which keeps "train the reward models for this group" an interactive button.
* The regressor is a ridge (L2) linear regression. The study has only a few hundred distinct responses per
  dataset and the group signal is a shift in mean ratings, so a strongly regularised linear model is the
  honest choice: it cannot memorise responses, its weights are inspectable (which n-grams make women rate
  a reply more toxic), and a transformer reward head would overfit such data and cost minutes per group.
* Files users may share are never pickles. The vocabularies and idf weights are saved as JSON and the
  ridge weights as a plain ``.npz`` (loaded with ``allow_pickle=False``); :func:`load_reward_model`
  rebuilds the exact same transform, so a round trip gives identical predictions.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from pluralign_core import paths
from pluralign_core.store.database import Store
from pluralign_core.store.selection import RaterSelection

FORMAT_VERSION = 1
CONFIG_FILE = "config.yaml"
META_FILE = "reward_model.json"
VOCAB_FILE = "vocabulary.json"
WEIGHTS_FILE = "weights.npz"

ProgressCallback = Callable[[float, str], None]


@dataclass
class RewardModelConfig:
    """Everything that determines one group reward model; saved as ``config.yaml`` next to it."""

    dataset_id: str = field(metadata={"help": "dataset whose ratings train the model"})
    dimension: str = field(metadata={"help": "rated dimension to predict, e.g. toxicity"})
    selection: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "rater selection (RaterSelection.to_dict()); empty means all raters"},
    )
    word_ngrams: tuple[int, int] = field(default=(1, 2), metadata={"help": "word n-gram range"})
    char_ngrams: tuple[int, int] = field(
        default=(3, 5), metadata={"help": "character n-gram range (within word boundaries); (0, 0) = off"}
    )
    max_features: int = field(default=20000, metadata={"help": "largest vocabulary per n-gram kind"})
    min_df: int = field(default=1, metadata={"help": "drop n-grams seen in fewer responses than this"})
    lowercase: bool = field(default=True, metadata={"help": "lowercase text before counting n-grams"})
    alpha: float = field(default=1.0, metadata={"help": "ridge regularisation strength (larger = smoother)"})
    heldout: str = field(
        default="split",
        metadata={
            "help": "'split': hold out the prompts the dataset marks split='heldout' (random prompts when "
            "none are marked); 'random': hold out a random heldout_fraction of prompts"
        },
    )
    heldout_fraction: float = field(
        default=0.2, metadata={"help": "share of prompts held out when heldout='random' (or as fallback)"}
    )
    min_ratings: int = field(
        default=1, metadata={"help": "drop responses rated fewer times than this by the selected raters"}
    )
    seed: int = field(default=0, metadata={"help": "random seed for the held-out prompt draw"})

    def __post_init__(self) -> None:
        self.selection = RaterSelection.from_dict(self.selection).to_dict()
        self.word_ngrams = tuple(int(v) for v in self.word_ngrams)  # type: ignore[assignment]
        self.char_ngrams = tuple(int(v) for v in self.char_ngrams)  # type: ignore[assignment]
        if not self.dataset_id:
            raise ValueError("RewardModelConfig.dataset_id must name a dataset")
        if not self.dimension:
            raise ValueError("RewardModelConfig.dimension must name a dimension, e.g. 'toxicity'")
        for name in ("word_ngrams", "char_ngrams"):
            low, high = getattr(self, name)
            if (low, high) != (0, 0) and not 1 <= low <= high:
                raise ValueError(
                    f"{name} must be (low, high) with 1 <= low <= high, or (0, 0); got {low, high}"
                )
        if self.word_ngrams == (0, 0) and self.char_ngrams == (0, 0):
            raise ValueError("at least one of word_ngrams and char_ngrams must be switched on")
        if self.max_features < 1 or self.min_df < 1 or self.min_ratings < 1:
            raise ValueError("max_features, min_df and min_ratings must be at least 1")
        if not self.alpha > 0:
            raise ValueError(f"alpha must be positive, got {self.alpha}")
        if self.heldout not in ("split", "random"):
            raise ValueError(f"heldout must be 'split' or 'random', got {self.heldout!r}")
        if not 0 < self.heldout_fraction < 1:
            raise ValueError(
                f"heldout_fraction must lie strictly between 0 and 1, got {self.heldout_fraction}"
            )

    @property
    def rater_selection(self) -> RaterSelection:
        return RaterSelection.from_dict(self.selection)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["word_ngrams"] = list(self.word_ngrams)
        data["char_ngrams"] = list(self.char_ngrams)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RewardModelConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


# ------------------------------------------------------------------------------------------- features
class TextFeatures:
    """TF-IDF over word and character n-grams, stored as plain vocabularies and idf vectors.

    scikit-learn's ``CountVectorizer`` with a *fixed* vocabulary needs no fitting, so the same transform is
    rebuilt from JSON on load; idf weighting (smooth, sublinear tf) and L2 normalisation are done here.
    Each n-gram kind is normalised on its own, so words and characters contribute equally.
    """

    def __init__(self, blocks: list[dict[str, Any]], lowercase: bool = True) -> None:
        from sklearn.feature_extraction.text import CountVectorizer

        self.blocks = blocks
        self.lowercase = lowercase
        self._vectorizers = [
            CountVectorizer(
                analyzer=b["analyzer"],
                ngram_range=tuple(b["ngram_range"]),
                vocabulary=b["vocabulary"],
                lowercase=lowercase,
                dtype=np.float64,
            )
            for b in blocks
        ]

    @classmethod
    def fit(cls, texts: Sequence[str], config: RewardModelConfig) -> TextFeatures:
        from sklearn.feature_extraction.text import CountVectorizer

        specs = [("word", config.word_ngrams), ("char_wb", config.char_ngrams)]
        blocks = []
        for analyzer, ngram_range in specs:
            if tuple(ngram_range) == (0, 0):
                continue
            counter = CountVectorizer(
                analyzer=analyzer,
                ngram_range=tuple(ngram_range),
                lowercase=config.lowercase,
                max_features=config.max_features,
                min_df=min(config.min_df, max(len(texts), 1)),
                dtype=np.float64,
            )
            try:
                counts = counter.fit_transform(list(texts))
            except ValueError:  # empty vocabulary (e.g. only one-character texts)
                continue
            document_frequency = np.asarray((counts > 0).sum(axis=0)).ravel()
            idf = np.log((1 + len(texts)) / (1 + document_frequency)) + 1.0
            vocabulary = {term: int(index) for term, index in counter.vocabulary_.items()}
            blocks.append(
                {"analyzer": analyzer, "ngram_range": list(ngram_range), "vocabulary": vocabulary, "idf": idf}
            )
        if not blocks:
            raise ValueError("the responses give no usable n-grams; are the response texts empty?")
        return cls(blocks, config.lowercase)

    @property
    def n_features(self) -> int:
        return sum(len(b["vocabulary"]) for b in self.blocks)

    def transform(self, texts: Sequence[str]) -> Any:
        from scipy import sparse
        from sklearn.preprocessing import normalize

        parts = []
        for block, vectorizer in zip(self.blocks, self._vectorizers, strict=True):
            counts = vectorizer.transform([t or "" for t in texts]).tocsr()
            counts.data = 1.0 + np.log(counts.data)
            weighted = counts.multiply(np.asarray(block["idf"])[None, :]).tocsr()
            parts.append(normalize(weighted))
        return sparse.hstack(parts).tocsr()

    def to_json(self) -> dict[str, Any]:
        return {
            "lowercase": self.lowercase,
            "blocks": [{**b, "idf": [float(x) for x in np.asarray(b["idf"])]} for b in self.blocks],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TextFeatures:
        blocks = [{**b, "idf": np.asarray(b["idf"], dtype=np.float64)} for b in data["blocks"]]
        return cls(blocks, bool(data.get("lowercase", True)))


# --------------------------------------------------------------------------------------------- model
@dataclass
class RewardModel:
    """A trained group reward model: text features, linear weights and what they mean."""

    config: RewardModelConfig
    features: TextFeatures
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

        ``prompts`` is accepted for a uniform reward interface; the features read the response only,
        because the study's raters judged the response text (its prompt context is shared by all groups).
        """
        if isinstance(responses, str):
            raise TypeError("predict() takes a sequence of responses, not a single string")
        if prompts is not None and len(prompts) != len(responses):
            raise ValueError(f"got {len(prompts)} prompts for {len(responses)} responses")
        if len(responses) == 0:
            return np.zeros(0)
        matrix = self.features.transform([str(r) for r in responses])
        raw = np.asarray(matrix @ self.coef).ravel() + self.intercept
        return np.clip(raw, self.scale_min, self.scale_max)

    def reward(self, prompts: Sequence[str] | None, responses: Sequence[str]) -> np.ndarray:
        """Prediction mapped to [0, 1] with 1 = best (toxicity and bias are flipped)."""
        span = self.scale_max - self.scale_min
        scaled = (self.predict(prompts, responses) - self.scale_min) / span
        return np.clip(scaled if self.higher_is_better else 1.0 - scaled, 0.0, 1.0)

    def save(self, folder: Path | str) -> Path:
        """Write the model into ``folder`` (replaced as a whole; written beside it first)."""
        folder = Path(folder)
        staging = folder.with_name(folder.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
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
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
        self.path = folder
        return folder


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
    features = TextFeatures.from_json(json.loads((folder / VOCAB_FILE).read_text("utf-8")))
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


# ------------------------------------------------------------------------------------------ training
def group_response_means(store: Store, config: RewardModelConfig) -> pd.DataFrame:
    """One row per rated response: ``response_id, prompt_id, text, split, mean, n`` for the selection."""
    condition, params = config.rater_selection.where_sql(config.dataset_id, "g.rater_id")
    return store.query(
        f"""
        SELECT g.response_id, any_value(s.prompt_id) AS prompt_id, any_value(s.text) AS text,
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
    features = TextFeatures.fit(list(train.text), config)
    regressor = Ridge(alpha=config.alpha)
    regressor.fit(features.transform(list(train.text)), train["mean"].to_numpy(float), sample_weight=train.n)
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
    predicted = model.predict(None, list(test.text))
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
    folder = paths.subdir("reward_models") / paths.safe_name(f"{config.dataset_id}-{model.name}")
    model.save(folder)
    if register:
        existing = store.artifacts("reward_model", config.dataset_id)
        existing = existing[existing.name == model.name]
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
            artifact_id=None if existing.empty else str(existing.artifact_id.iloc[0]),
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


# ------------------------------------------------------------------------------------- GRPO rewards
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
