"""The simulated population's parameters (:class:`SimulationConfig`), as written in ``data/simulation.yaml``.

The config is hand-edited, so it is validated strictly: an unknown key, a misspelt group value or
probabilities that do not sum to 1 raise :class:`SimulationConfigError` naming the field, instead of
silently skewing the data. The YAML nests the rating model under ``model:``; the dataclass is flat, and
:meth:`SimulationConfig.from_dict` / :meth:`SimulationConfig.to_dict` translate between the two.

Besides additive group shifts (``effects``), the model has two kinds of group x response interaction,
because additive shifts alone leave every group preferring the same answers in expectation:

* ``interactions``: rules "raters with these values shift dimension d on answers of these styles/topics",
  e.g. women reading stereotyped answers about gender as more toxic than men do;
* ``contested``: on a share of prompts, every answer gets its own random polarisation along group axes
  (e.g. liberal vs conservative), so groups split on those items in ways no style predicts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import yaml

from pluralign_core import paths
from pluralign_core.config_base import YamlConfig
from pluralign_core.ratings.embedded_items import STYLES, TOPICS
from pluralign_core.ratings.schema import DE_LEANING, STUDY_ATTRIBUTES, STUDY_DIMENSIONS, US_LEANING

DEFAULT_CONFIG_PATH = paths.DATA_DIR / "simulation.yaml"

_ATTRS = {a.name: a for a in STUDY_ATTRIBUTES}
DIMENSION_NAMES = tuple(d.name for d in STUDY_DIMENSIONS)
GENDERS = _ATTRS["gender"].values
AGE_BANDS = _ATTRS["age_band"].values
RACES = _ATTRS["race"].values
LEANINGS = {"US": US_LEANING, "DE": DE_LEANING}
ASSIGNMENTS = ("balanced", "uniform")
SAMPLINGS = ("quota", "independent")
EFFECT_ATTRIBUTES = ("gender", "age_band", "race", "political_leaning", "party", "country")
MODEL_FIELDS = (
    "cut_points",
    "noise_sd",
    "response_sd",
    "rater_shared_sd",
    "rater_dimension_sd",
    "effects",
    "interactions",
    "contested",
)


class SimulationConfigError(ValueError):
    """The simulation config is inconsistent; the message names the field and what to change."""


def _check_distribution(where: str, probs: dict[str, float], allowed: tuple[str, ...] | None) -> None:
    if not isinstance(probs, dict) or not probs:
        raise SimulationConfigError(f"{where}: expected a mapping of value -> probability")
    if allowed is not None:
        unknown = sorted(set(probs) - set(allowed))
        if unknown:
            raise SimulationConfigError(f"{where}: unknown value(s) {unknown}; use {list(allowed)}")
    if any(not isinstance(p, int | float) or p < 0 for p in probs.values()):
        raise SimulationConfigError(f"{where}: probabilities must be numbers >= 0, got {probs}")
    total = float(sum(probs.values()))
    if abs(total - 1.0) > 1e-3:
        raise SimulationConfigError(f"{where}: probabilities sum to {total:.4f}; they must sum to 1")


def _check_values(where: str, by_value: Any, known: set[str]) -> None:
    """``by_value`` maps group values to numbers, every value known for its attribute."""
    if not isinstance(by_value, dict):
        raise SimulationConfigError(f"{where}: expected a mapping of group value -> number")
    for value, number in by_value.items():
        if value not in known:
            raise SimulationConfigError(f"{where}.{value}: unknown value; use one of {sorted(known)}")
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise SimulationConfigError(f"{where}.{value} is {number!r}; use a number")


def _strict(cls: type, data: Any, where: str) -> Any:
    """Build a nested config dataclass from a mapping, naming unknown or missing keys."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise SimulationConfigError(f"{where}: expected a mapping, got {data!r}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SimulationConfigError(f"{where}: unknown key(s) {unknown}; known keys: {sorted(known)}")
    try:
        return cls(**data)
    except TypeError as error:
        raise SimulationConfigError(f"{where}: {error}") from error


@dataclass
class ArmConfig(YamlConfig):
    """One country arm: its share of raters, language and demographic marginals."""

    CONFIG_KIND: ClassVar[str] = "arm"

    share: float = field(metadata={"help": "fraction of all raters in this arm (arms' shares sum to 1)"})
    language: str = field(metadata={"help": "language the arm's raters read and rate in (en or de)"})
    gender: dict[str, float] = field(metadata={"help": "P(gender)"})
    age_band: dict[str, float] = field(metadata={"help": "P(age band)"})
    race: dict[str, float] = field(metadata={"help": "P(first selected race)"})
    second_race_probability: float = field(
        metadata={"help": "chance that a rater selects a second, different race (multi-select)"}
    )
    political_leaning: dict[str, float] = field(metadata={"help": "P(political leaning)"})
    party_given_leaning: dict[str, dict[str, float]] = field(
        metadata={"help": "P(party | leaning): how party correlates with leaning"}
    )

    def validate(self, country: str) -> None:
        where = f"arms.{country}"
        if not 0 <= self.share <= 1:
            raise SimulationConfigError(f"{where}.share is {self.share}; use a fraction between 0 and 1")
        if self.language not in ("en", "de"):
            raise SimulationConfigError(f"{where}.language is {self.language!r}; use 'en' or 'de'")
        _check_distribution(f"{where}.gender", self.gender, GENDERS)
        _check_distribution(f"{where}.age_band", self.age_band, AGE_BANDS)
        _check_distribution(f"{where}.race", self.race, RACES)
        if not 0 <= self.second_race_probability <= 1:
            raise SimulationConfigError(f"{where}.second_race_probability must be between 0 and 1")
        _check_distribution(f"{where}.political_leaning", self.political_leaning, LEANINGS.get(country))
        missing = sorted(set(self.political_leaning) - set(self.party_given_leaning))
        if missing:
            raise SimulationConfigError(f"{where}.party_given_leaning has no row for leaning(s) {missing}")
        for leaning, parties in self.party_given_leaning.items():
            _check_distribution(f"{where}.party_given_leaning.{leaning}", parties, None)

    @property
    def parties(self) -> list[str]:
        """Every party named in this arm, in first-seen order."""
        return list(dict.fromkeys(p for row in self.party_given_leaning.values() for p in row))


@dataclass
class InteractionRule(YamlConfig):
    """Raters with some attribute values shift one dimension, but only on some kinds of answer."""

    CONFIG_KIND: ClassVar[str] = "interaction"

    attribute: str = field(metadata={"help": "rater attribute whose values carry the shift"})
    dimension: str = field(metadata={"help": "study dimension that shifts"})
    shift: dict[str, float] = field(metadata={"help": "latent shift per attribute value (missing = 0)"})
    styles: list[str] = field(
        default_factory=list, metadata={"help": "answer styles it applies to (empty: all)"}
    )
    topics: list[str] = field(
        default_factory=list, metadata={"help": "prompt topics it applies to (empty: all)"}
    )
    rationale: str = field(default="", metadata={"help": "why we assume it, with its source"})


@dataclass
class ContestedConfig(YamlConfig):
    """Contested prompts: each answer polarises groups along axes, in a random direction of its own."""

    CONFIG_KIND: ClassVar[str] = "contested"

    prompt_share: float = field(default=0.0, metadata={"help": "share of prompts that are contested"})
    sd: float = field(default=0.0, metadata={"help": "SD of an answer's polarisation per dimension"})
    axes: dict[str, dict[str, float]] = field(
        default_factory=dict,
        metadata={"help": "attribute -> value -> position on the axis (missing = 0, the midpoint)"},
    )
    rationale: str = field(default="", metadata={"help": "why we assume it, with its source"})


@dataclass
class SimulationConfig(YamlConfig):
    """All parameters of the simulated population; loaded from and saved to YAML."""

    CONFIG_KIND: ClassVar[str] = "simulation config"

    seed: int = field(metadata={"help": "random seed; same seed + config + items gives identical data"})
    n_raters: int = field(metadata={"help": "number of raters, split over the arms by share"})
    arms: dict[str, ArmConfig] = field(metadata={"help": "country arms (US, DE) with their marginals"})
    cut_points: list[float] = field(metadata={"help": "latent thresholds between scores 1|2, 2|3, 3|4, 4|5"})
    noise_sd: float = field(metadata={"help": "SD of the per-rating noise"})
    response_sd: float = field(metadata={"help": "SD of a response's shared deviation from its level"})
    rater_shared_sd: float = field(metadata={"help": "SD of a rater's general agreement tendency"})
    rater_dimension_sd: float = field(metadata={"help": "SD of a rater's per-dimension offset"})
    effects: dict[str, dict[str, dict[str, float]]] = field(
        default_factory=dict,
        metadata={"help": "latent shifts: attribute -> dimension -> value -> shift (missing = 0)"},
    )
    interactions: list[InteractionRule] = field(
        default_factory=list,
        metadata={"help": "group x answer-kind shifts: who shifts which dimension on which answers"},
    )
    contested: ContestedConfig = field(
        default_factory=ContestedConfig,
        metadata={"help": "contested prompts whose answers polarise groups in random directions"},
    )
    responses_per_rater: int = field(default=5, metadata={"help": "different prompts each rater sees"})
    assignment: str = field(default="balanced", metadata={"help": "balanced (one of each style) or uniform"})
    sampling: str = field(
        default="quota",
        metadata={"help": "quota (each arm's marginals met exactly) or independent draws per rater"},
    )

    def __post_init__(self) -> None:
        if not isinstance(self.arms, dict):
            raise SimulationConfigError("arms: expected a mapping of country -> arm")
        self.arms = {name: _strict(ArmConfig, arm, f"arms.{name}") for name, arm in self.arms.items()}
        if not isinstance(self.interactions, list):
            raise SimulationConfigError("model.interactions: expected a list of rules")
        self.interactions = [
            _strict(InteractionRule, rule, f"model.interactions[{i}]")
            for i, rule in enumerate(self.interactions)
        ]
        self.contested = _strict(ContestedConfig, self.contested or {}, "model.contested")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise SimulationConfigError(f"seed is {self.seed!r}; use a non-negative integer")
        if not isinstance(self.n_raters, int) or self.n_raters < 1:
            raise SimulationConfigError(f"n_raters is {self.n_raters!r}; use a positive integer")
        if not isinstance(self.responses_per_rater, int) or self.responses_per_rater < 1:
            raise SimulationConfigError("responses_per_rater must be a positive integer")
        if self.sampling not in SAMPLINGS:
            raise SimulationConfigError(f"sampling is {self.sampling!r}; use one of {SAMPLINGS}")
        if self.assignment not in ASSIGNMENTS:
            raise SimulationConfigError(f"assignment is {self.assignment!r}; use one of {ASSIGNMENTS}")
        unknown_arms = sorted(set(self.arms) - set(LEANINGS))
        if unknown_arms or not self.arms:
            raise SimulationConfigError(f"arms {unknown_arms or '(none)'}: use US and/or DE")
        for country, arm in self.arms.items():
            arm.validate(country)
        total = sum(arm.share for arm in self.arms.values())
        if abs(total - 1) > 1e-3:
            raise SimulationConfigError(f"arm shares sum to {total:.4f}; they must sum to 1")
        cuts = np.asarray(self.cut_points, dtype=float)
        if len(cuts) != 4 or np.any(np.diff(cuts) <= 0):
            raise SimulationConfigError(
                f"cut_points is {self.cut_points}; give 4 strictly increasing numbers (5-point scale)"
            )
        for name in ("noise_sd", "response_sd", "rater_shared_sd", "rater_dimension_sd"):
            if getattr(self, name) < 0:
                raise SimulationConfigError(f"model.{name} must be >= 0")
        self._check_effects()
        self._check_interactions()

    def known_values(self) -> dict[str, set[str]]:
        """Every value each effect attribute can take in this config's population."""
        return {
            "gender": set(GENDERS),
            "age_band": set(AGE_BANDS),
            "race": set(RACES),
            "political_leaning": set(US_LEANING) | set(DE_LEANING),
            "party": {p for arm in self.arms.values() for p in arm.parties},
            "country": set(self.arms),
        }

    def _attribute_values(self, where: str, attribute: str) -> set[str]:
        known = self.known_values()
        if attribute not in known:
            raise SimulationConfigError(
                f"{where}: unknown attribute {attribute!r}; use one of {EFFECT_ATTRIBUTES}"
            )
        return known[attribute]

    def _check_effects(self) -> None:
        for attribute, by_dimension in self.effects.items():
            known = self._attribute_values(f"model.effects.{attribute}", attribute)
            for dimension, by_value in (by_dimension or {}).items():
                where = f"model.effects.{attribute}.{dimension}"
                if dimension not in DIMENSION_NAMES:
                    raise SimulationConfigError(f"{where}: unknown dimension; use {DIMENSION_NAMES}")
                _check_values(where, by_value or {}, known)

    def _check_interactions(self) -> None:
        for index, rule in enumerate(self.interactions):
            where = f"model.interactions[{index}]"
            known = self._attribute_values(f"{where}.attribute", rule.attribute)
            if rule.dimension not in DIMENSION_NAMES:
                raise SimulationConfigError(
                    f"{where}.dimension is {rule.dimension!r}; use one of {DIMENSION_NAMES}"
                )
            _check_values(f"{where}.shift", rule.shift, known)
            for name, allowed in (("styles", STYLES), ("topics", TOPICS)):
                unknown = sorted(set(getattr(rule, name)) - set(allowed))
                if unknown:
                    raise SimulationConfigError(f"{where}.{name}: unknown {unknown}; use {list(allowed)}")
        contested = self.contested
        if not 0 <= contested.prompt_share <= 1:
            raise SimulationConfigError("model.contested.prompt_share must be between 0 and 1")
        if contested.sd < 0:
            raise SimulationConfigError("model.contested.sd must be >= 0")
        for attribute, positions in contested.axes.items():
            where = f"model.contested.axes.{attribute}"
            _check_values(where, positions, self._attribute_values(where, attribute))

    # ------------------------------------------------------------------ YAML
    def to_dict(self) -> dict[str, Any]:
        """The nested layout of ``data/simulation.yaml`` (rating model under ``model:``)."""
        flat = super().to_dict()
        top = {
            name: flat[name] for name in ("seed", "n_raters", "responses_per_rater", "assignment", "sampling")
        }
        return {**top, "arms": flat["arms"], "model": {name: flat[name] for name in MODEL_FIELDS}}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | None = None) -> SimulationConfig:
        data = dict(data)
        model = data.pop("model", {}) or {}
        if not isinstance(model, dict):
            raise SimulationConfigError("model: expected a mapping")
        clash = sorted(set(data) & set(model))
        if clash:
            raise SimulationConfigError(f"field(s) {clash} given both at the top level and under model")
        try:
            return super().from_dict({**data, **model}, source)
        except SimulationConfigError:
            raise
        except ValueError as error:  # the base class names unknown keys and the known ones
            raise SimulationConfigError(str(error)) from error
        except TypeError as error:  # a missing required field
            raise SimulationConfigError(f"simulation config: {error}") from error

    @classmethod
    def from_yaml(
        cls, path: Path | str = DEFAULT_CONFIG_PATH, *, n_raters: int | None = None, seed: int | None = None
    ) -> SimulationConfig:
        """Load a config file; ``n_raters``/``seed`` override the file's values when given."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise SimulationConfigError(f"{path}: the YAML does not parse: {error}") from error
        if not isinstance(data, dict):
            raise SimulationConfigError(f"{path}: expected a mapping at the top level")
        try:
            config = cls.from_dict(data)
        except SimulationConfigError as error:
            raise SimulationConfigError(f"{path}: {error}") from error
        return config.with_overrides(n_raters=n_raters, seed=seed)

    def with_overrides(self, *, n_raters: int | None = None, seed: int | None = None) -> SimulationConfig:
        changes = {k: v for k, v in {"n_raters": n_raters, "seed": seed}.items() if v is not None}
        return dataclasses.replace(self, **changes) if changes else self

    @property
    def n_ratings(self) -> int:
        return self.n_raters * self.responses_per_rater * len(DIMENSION_NAMES)

    def arm_sizes(self) -> dict[str, int]:
        """Exact raters per arm (largest remainder, ties to the arm listed first)."""
        names = list(self.arms)
        quotas = np.array([self.arms[n].share for n in names]) * self.n_raters
        sizes = np.floor(quotas).astype(int)
        order = np.argsort(-(quotas - sizes), kind="stable")
        sizes[order[: self.n_raters - sizes.sum()]] += 1
        return dict(zip(names, sizes.tolist(), strict=True))


def load_default_config(n_raters: int | None = None, seed: int | None = None) -> SimulationConfig:
    return SimulationConfig.from_yaml(DEFAULT_CONFIG_PATH, n_raters=n_raters, seed=seed)
