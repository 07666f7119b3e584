"""The choices that turn ratings into preference pairs (:class:`PreferenceConfig`) and their word lists.

The word lists (scales, disagreement modes, …) are defined here once; the preference builder, the grid and
the pages all read them from this module. :mod:`pluralign_core.preferences.build` explains each choice.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Self

from pluralign_core.config_base import YamlConfig
from pluralign_core.preferences.jury import normalise_targets
from pluralign_core.store.selection import RaterSelection

SCALES = ("5-point", "3-point", "binary")
NEUTRAL = ("drop", "agree", "disagree")
DISAGREEMENT = ("majority", "preserve", "soft")
FORMATS = ("conversational", "plain")
SPLITS = ("train", "heldout", "all")
AGGREGATES = ("median", "mean")


DERIVED_KEYS = ("selection_label",)


@dataclass
class PreferenceConfig(YamlConfig):
    """Every choice that turns ratings into preference pairs; saved with each preference set.

    ``to_dict`` adds the *derived* key ``selection_label`` (the rater selection's readable label, which the
    Train page and model cards show). ``from_dict`` therefore accepts that key and ignores it, since it is
    recomputed from ``selection``; any other unknown key is refused with its name, as in every
    :class:`YamlConfig`.
    """

    CONFIG_KIND: ClassVar[str] = "preference config"

    dataset_id: str = field(metadata={"help": "The ratings dataset to build pairs from."})
    selection: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "Rater filter (RaterSelection dict), e.g. {'filters': {'gender': ['woman']}}."},
    )
    jury: dict[str, dict[str, float]] = field(
        default_factory=dict,
        metadata={
            "help": "Target proportions per attribute value, e.g. {'gender': {'woman': 0.5, 'man': 0.5}}; "
            "raters are reweighted (raking) to meet them. Empty: every selected rater weighs 1."
        },
    )
    dimensions: dict[str, float] = field(
        default_factory=lambda: {"toxicity": 1.0},
        metadata={"help": "Dimensions and their weights; each is oriented so that higher is better."},
    )
    scale: str = field(
        default="5-point", metadata={"help": "5-point as rated, 3-point (below/neutral/above) or binary."}
    )
    neutral_as: str = field(
        default="drop",
        metadata={"help": "Binary scale only: neutral ratings are dropped, agree or disagree."},
    )
    disagreement: str = field(
        default="majority",
        metadata={
            "help": "majority (one pair, ties dropped), preserve (every judgement) or soft (probability)."
        },
    )
    aggregate: str = field(
        default="median", metadata={"help": "Majority vote: each response's weighted median or mean value."}
    )
    format: str = field(
        default="conversational",
        metadata={"help": "conversational (chat messages, as trl expects) or plain."},
    )
    language: str | None = field(
        default=None, metadata={"help": "Only prompts in this language (None: all)."}
    )
    split: str = field(
        default="train",
        metadata={
            "help": "Prompt split: train (the default; held-out prompts never feed training), heldout, all."
        },
    )
    seed: int = field(default=0, metadata={"help": "Seed for the rounding of preserved pairs and sampling."})
    max_pairs_per_prompt: int | None = field(
        default=None, metadata={"help": "Keep at most this many rows per prompt (seeded sample)."}
    )

    def __post_init__(self) -> None:
        for name, allowed in (
            ("scale", SCALES),
            ("neutral_as", NEUTRAL),
            ("disagreement", DISAGREEMENT),
            ("format", FORMATS),
            ("split", SPLITS),
            ("aggregate", AGGREGATES),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r} is not one of {allowed}")
        if isinstance(self.dimensions, str):
            self.dimensions = {self.dimensions: 1.0}
        if not self.dimensions:
            raise ValueError("choose at least one dimension")
        self.dimensions = {str(k): float(v) for k, v in self.dimensions.items()}
        if any(w < 0 for w in self.dimensions.values()) or sum(self.dimensions.values()) <= 0:
            raise ValueError(f"dimension weights must be >= 0 with a positive sum, got {self.dimensions}")
        self.selection = RaterSelection.from_dict(self.selection).to_dict()
        self.jury = normalise_targets(self.jury or {})
        if self.max_pairs_per_prompt is not None and int(self.max_pairs_per_prompt) < 1:
            raise ValueError("max_pairs_per_prompt must be at least 1 (or None for no limit)")
        self.seed = int(self.seed)

    @property
    def rater_selection(self) -> RaterSelection:
        return RaterSelection.from_dict(self.selection)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["selection_label"] = self.rater_selection.label
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | None = None) -> Self:
        return super().from_dict({k: v for k, v in data.items() if k not in DERIVED_KEYS}, source)

    def fingerprint(self) -> str:
        payload = json.dumps(asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]
