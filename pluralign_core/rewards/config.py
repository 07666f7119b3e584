"""What determines one group reward model (:class:`RewardModelConfig`) and the files a model folder holds.

The config is saved as ``config.yaml`` beside each model, so a model folder alone says how it was trained;
:mod:`pluralign_core.rewards.training` explains the method those fields control.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from pluralign_core.config_base import YamlConfig
from pluralign_core.models.base import EMBEDDED_MODEL
from pluralign_core.store.selection import RaterSelection

FORMAT_VERSION = 1
CONFIG_FILE = "config.yaml"
META_FILE = "reward_model.json"
VOCAB_FILE = "vocabulary.json"
WEIGHTS_FILE = "weights.npz"
CARD_JSON = "evaluator_card.json"
CARD_MARKDOWN = "evaluator_card.md"
FEATURE_KINDS = ("tfidf", "hidden_states")


@dataclass
class RewardModelConfig(YamlConfig):
    """Everything that determines one group reward model; saved as ``config.yaml`` next to it.

    ``from_dict`` (from :class:`YamlConfig`) refuses unknown keys, so a mistyped field in a hand-edited
    ``config.yaml`` is reported instead of silently training with the default.
    """

    CONFIG_KIND: ClassVar[str] = "reward model config"

    dataset_id: str = field(metadata={"help": "dataset whose ratings train the model"})
    dimension: str = field(metadata={"help": "rated dimension to predict, e.g. toxicity"})
    selection: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "rater selection (RaterSelection.to_dict()); empty means all raters"},
    )
    features: str = field(
        default="tfidf",
        metadata={
            "help": "'tfidf': word/character n-grams of the answer alone (seconds, no model); "
            "'hidden_states': the encoder model's pooled states of the answer read after its prompt "
            "(more accurate, minutes on a CPU; see rewards.training)"
        },
    )
    encoder_model: str = field(
        default=EMBEDDED_MODEL,
        metadata={"help": "model whose hidden states are the features (hidden_states)"},
    )
    encoder_layer: int = field(
        default=-1,
        metadata={
            "help": "decoder layers to run before pooling (-1 = all; fewer is cheaper; hidden_states only)"
        },
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
        if self.features not in FEATURE_KINDS:
            raise ValueError(f"features must be one of {', '.join(FEATURE_KINDS)}; got {self.features!r}")
        if self.features == "hidden_states" and not self.encoder_model:
            raise ValueError("features='hidden_states' needs encoder_model (a model reference or folder)")
        if self.encoder_layer == 0 or self.encoder_layer < -1:
            raise ValueError(
                f"encoder_layer must be -1 (all layers) or a layer count >= 1, got {self.encoder_layer}"
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
        """The base dict with the n-gram ranges as lists, which YAML (safe_dump) can write."""
        data = super().to_dict()
        data["word_ngrams"] = list(self.word_ngrams)
        data["char_ngrams"] = list(self.char_ngrams)
        return data
