"""A simulated rater population: demographics, assignments and ordinal ratings, all vectorised.

The study's ratings (Ali et al., arXiv 2511.14476) are not public, so the app ships a synthetic
population whose rating model is calibrated to the published headline effects. Everything the model
uses is in one readable YAML file (``data/simulation.yaml``); :class:`SimulationConfig` mirrors it and
validates it, so a typo fails loudly instead of skewing the data.

The simulation is pure numpy with no loop over raters or ratings, because the same code builds the
1,095-rater default in well under a second and 10 million ratings for benchmarks. Random draws come
from independent child streams of one seed (demographics, assignment, rater effects, response effects,
noise), so that changing an effect size leaves the population and the noise untouched; the calibration
relies on that.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from pluralign_core import paths
from pluralign_core.ratings.bundle import DatasetBundle
from pluralign_core.ratings.embedded_items import (
    STYLES,
    EmbeddedItems,
    embedded_fingerprint,
    load_embedded_items,
)
from pluralign_core.ratings.schema import (
    AGREEMENT_LABELS_DE,
    AGREEMENT_LABELS_EN,
    DE_LEANING,
    STUDY_ATTRIBUTES,
    STUDY_DIMENSIONS,
    US_LEANING,
    DatasetInfo,
    Scale,
)

DEFAULT_CONFIG_PATH = paths.DATA_DIR / "simulation.yaml"
DEFAULT_DATASET_ID = "default-simulated"
DEFAULT_DATASET_NAME = "Simulated study population (default)"
PAPER = "Ali et al. (arXiv 2511.14476)"

_ATTRS = {a.name: a for a in STUDY_ATTRIBUTES}
DIMENSION_NAMES = tuple(d.name for d in STUDY_DIMENSIONS)
GENDERS = _ATTRS["gender"].values
AGE_BANDS = _ATTRS["age_band"].values
RACES = _ATTRS["race"].values
LEANINGS = {"US": US_LEANING, "DE": DE_LEANING}
ASSIGNMENTS = ("balanced", "uniform")
SAMPLINGS = ("quota", "independent")
EFFECT_ATTRIBUTES = ("gender", "age_band", "race", "political_leaning", "party", "country")
_TOLERANCE = 1e-6


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


@dataclass
class ArmConfig:
    """One country arm: its share of raters, language and demographic marginals."""

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
class SimulationConfig:
    """All parameters of the simulated population; loaded from and saved to YAML."""

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
    responses_per_rater: int = field(default=5, metadata={"help": "different prompts each rater sees"})
    assignment: str = field(default="balanced", metadata={"help": "balanced (one of each style) or uniform"})
    sampling: str = field(
        default="quota",
        metadata={"help": "quota (each arm's marginals met exactly) or independent draws per rater"},
    )

    def __post_init__(self) -> None:
        self.arms = {
            name: arm if isinstance(arm, ArmConfig) else ArmConfig(**arm) for name, arm in self.arms.items()
        }
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

    def _check_effects(self) -> None:
        known_values = {
            "gender": set(GENDERS),
            "age_band": set(AGE_BANDS),
            "race": set(RACES),
            "political_leaning": set(US_LEANING) | set(DE_LEANING),
            "party": {p for arm in self.arms.values() for p in arm.parties},
            "country": set(self.arms),
        }
        for attribute, by_dimension in self.effects.items():
            if attribute not in known_values:
                raise SimulationConfigError(
                    f"model.effects.{attribute}: unknown attribute; use one of {EFFECT_ATTRIBUTES}"
                )
            for dimension, by_value in (by_dimension or {}).items():
                if dimension not in DIMENSION_NAMES:
                    raise SimulationConfigError(
                        f"model.effects.{attribute}.{dimension}: unknown dimension; use {DIMENSION_NAMES}"
                    )
                for value, shift in (by_value or {}).items():
                    if value not in known_values[attribute]:
                        raise SimulationConfigError(
                            f"model.effects.{attribute}.{dimension}.{value}: unknown value; use one of "
                            f"{sorted(known_values[attribute])}"
                        )
                    if not isinstance(shift, int | float):
                        raise SimulationConfigError(
                            f"model.effects.{attribute}.{dimension}.{value} is {shift!r}; use a number"
                        )

    # ------------------------------------------------------------------ YAML
    def to_dict(self) -> dict[str, Any]:
        """The nested layout of ``data/simulation.yaml``."""
        return {
            "seed": self.seed,
            "n_raters": self.n_raters,
            "responses_per_rater": self.responses_per_rater,
            "assignment": self.assignment,
            "sampling": self.sampling,
            "arms": {name: dataclasses.asdict(arm) for name, arm in self.arms.items()},
            "model": {
                "cut_points": list(self.cut_points),
                "noise_sd": self.noise_sd,
                "response_sd": self.response_sd,
                "rater_shared_sd": self.rater_shared_sd,
                "rater_dimension_sd": self.rater_dimension_sd,
                "effects": copy.deepcopy(self.effects),
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimulationConfig:
        data = dict(data)
        model = dict(data.pop("model", {}) or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted((set(data) | set(model)) - known)
        if unknown:
            raise SimulationConfigError(f"unknown field(s) {unknown} in the simulation config")
        try:
            return cls(**data, **model)
        except TypeError as error:
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

    def to_yaml(self, path: Path | str | None = None) -> str:
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

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


# ---------------------------------------------------------------------- simulation
@dataclass
class _Population:
    """Raters as integer codes (one array per attribute) — strings are made only at the end."""

    country: np.ndarray  # index into arms
    gender: np.ndarray
    age_band: np.ndarray
    leaning: np.ndarray  # index into leaning_values
    party: np.ndarray  # index into party_values
    race: np.ndarray  # (n, len(RACES)) bool multi-hot
    countries: list[str]
    leaning_values: list[str]
    party_values: list[str]


def _largest_remainder(p: np.ndarray, n: int) -> np.ndarray:
    """Integer counts summing to ``n`` that are as close as possible to ``p * n``."""
    quotas = p / p.sum() * n
    counts = np.floor(quotas).astype(np.int64)
    order = np.argsort(-(quotas - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    return counts


def _draw(rng: np.random.Generator, p: np.ndarray, n: int, quota: bool) -> np.ndarray:
    """``n`` category codes with probabilities ``p``: exact shares in random order, or independent draws."""
    if quota:
        return rng.permutation(np.repeat(np.arange(len(p)), _largest_remainder(p, n)))
    return rng.choice(len(p), size=n, p=p / p.sum())


def _probs(probs: dict[str, float], order: tuple[str, ...] | list[str]) -> np.ndarray:
    return np.array([probs.get(v, 0.0) for v in order], dtype=float)


def _population(config: SimulationConfig, rng: np.random.Generator) -> _Population:
    countries = list(config.arms)
    sizes = config.arm_sizes()
    leaning_values = [v for c in countries for v in LEANINGS[c]]
    party_values = list(dict.fromkeys(p for c in countries for p in config.arms[c].parties))
    n, quota = config.n_raters, config.sampling == "quota"
    country = np.repeat(np.arange(len(countries)), [sizes[c] for c in countries])
    gender = np.empty(n, np.int64)
    age = np.empty(n, np.int64)
    leaning = np.empty(n, np.int64)
    party = np.empty(n, np.int64)
    race = np.zeros((n, len(RACES)), bool)
    start = 0
    for name in countries:  # a loop over the (two) arms, not over raters
        arm, size = config.arms[name], sizes[name]
        block = slice(start, start + size)
        start += size
        gender[block] = _draw(rng, _probs(arm.gender, GENDERS), size, quota)
        age[block] = _draw(rng, _probs(arm.age_band, AGE_BANDS), size, quota)
        local_leaning = _draw(rng, _probs(arm.political_leaning, LEANINGS[name]), size, quota)
        leaning[block] = leaning_values.index(LEANINGS[name][0]) + local_leaning
        local_party = np.empty(size, np.int64)
        for code, value in enumerate(LEANINGS[name]):  # party within each leaning stratum
            stratum = np.flatnonzero(local_leaning == code)
            p_party = _probs(arm.party_given_leaning.get(value, {}), party_values)
            if len(stratum):
                local_party[stratum] = _draw(rng, p_party, len(stratum), quota)
        party[block] = local_party
        p_race = _probs(arm.race, RACES)
        first = _draw(rng, p_race, size, quota)
        # second race: same marginals with the first one excluded (Gumbel-max trick, vectorised)
        logits = np.log(np.where(p_race > 0, p_race, 1e-300))[None, :] + rng.gumbel(size=(size, len(RACES)))
        logits[np.arange(size), first] = -np.inf
        second = logits.argmax(1)
        takes_second = rng.random(size) < arm.second_race_probability
        rows = np.arange(block.start, block.stop)
        race[rows, first] = True
        race[rows[takes_second], second[takes_second]] = True
    return _Population(country, gender, age, leaning, party, race, countries, leaning_values, party_values)


def _effect_table(
    config: SimulationConfig, attribute: str, values: list[str] | tuple[str, ...]
) -> np.ndarray:
    """(len(values), n_dimensions) latent shifts for one attribute."""
    table = np.zeros((len(values), len(DIMENSION_NAMES)))
    for dimension, by_value in (config.effects.get(attribute) or {}).items():
        d = DIMENSION_NAMES.index(dimension)
        for value, shift in (by_value or {}).items():
            if value in values:
                table[list(values).index(value), d] = float(shift)
    return table


def _group_shift(config: SimulationConfig, pop: _Population) -> np.ndarray:
    """(n_raters, n_dimensions): the sum of every group effect for each rater.

    Race effects add up over the races a rater selected, so a rater who selected Black and White carries
    the full Black effect (White being the reference, with no effect of its own).
    """
    shift = _effect_table(config, "gender", GENDERS)[pop.gender]
    shift += _effect_table(config, "age_band", AGE_BANDS)[pop.age_band]
    shift += _effect_table(config, "political_leaning", pop.leaning_values)[pop.leaning]
    shift += _effect_table(config, "party", pop.party_values)[pop.party]
    shift += _effect_table(config, "country", pop.countries)[pop.country]
    shift += pop.race @ _effect_table(config, "race", RACES)  # effects add up over selected races
    return shift


def _response_grid(items: EmbeddedItems, languages: list[str]) -> tuple[np.ndarray, list[str], int]:
    """(n_prompt_keys, responses_per_prompt, n_languages) response row indices, styles in STYLES order."""
    responses = items.responses.reset_index(drop=True)
    prompts = items.prompts.set_index("prompt_id")
    keys = sorted(items.prompts["prompt_key"].unique())
    frame = pd.DataFrame(
        {
            "row": np.arange(len(responses)),
            "key": prompts.loc[responses["prompt_id"], "prompt_key"].to_numpy(),
            "language": responses["language"].to_numpy(),
            "style": pd.Categorical(responses["style"], categories=STYLES, ordered=True),
            "response_key": responses["response_key"].to_numpy(),
        }
    ).sort_values(["key", "style", "response_key"])
    per_prompt = frame.groupby(["key", "language"], observed=True).size()
    if per_prompt.nunique() != 1:
        raise ValueError("every prompt needs the same number of responses in every language")
    k = int(per_prompt.iloc[0])
    grid = np.empty((len(keys), k, len(languages)), dtype=np.int64)
    for li, language in enumerate(languages):
        rows = frame[frame["language"] == language]
        if rows["key"].nunique() != len(keys):
            raise ValueError(f"some prompts have no responses in language {language!r}")
        grid[:, :, li] = rows["row"].to_numpy().reshape(len(keys), k)
    return grid, keys, k


def _assign(config: SimulationConfig, n_keys: int, k: int, rng: np.random.Generator):
    """Per rater: ``responses_per_rater`` distinct prompts and the response slot chosen for each."""
    n, m = config.n_raters, config.responses_per_rater
    if m > n_keys:
        raise ValueError(f"responses_per_rater is {m} but the items have only {n_keys} prompts")
    prompt = np.argpartition(rng.random((n, n_keys), dtype=np.float32), m - 1, axis=1)[:, :m]
    if config.assignment == "uniform":
        slot = rng.integers(0, k, (n, m))
    elif m <= k:
        slot = np.argsort(rng.random((n, k), dtype=np.float32), axis=1)[:, :m]
    else:  # every slot (style) once per full round, the remainder at random, then shuffled
        full, extra = divmod(m, k)
        parts = [np.argsort(rng.random((n, k), dtype=np.float32), axis=1) for _ in range(full)]
        parts.append(rng.integers(0, k, (n, extra)))
        slot = np.concatenate(parts, axis=1)
        slot = np.take_along_axis(slot, np.argsort(rng.random((n, m), dtype=np.float32), axis=1), axis=1)
    return prompt, slot


def simulate(
    config: SimulationConfig,
    items: EmbeddedItems | None = None,
    *,
    dataset_id: str = DEFAULT_DATASET_ID,
    name: str | None = None,
) -> DatasetBundle:
    """Simulate ``config.n_raters`` raters and their ratings as a :class:`DatasetBundle`.

    ``items`` defaults to the embedded items. Each rater sees ``responses_per_rater`` different prompts
    in the arm's language and rates one response of each on every study dimension.
    """
    items = items if items is not None else load_embedded_items()
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(6)]
    rng_pop, rng_assign, rng_rater, rng_response, rng_noise, _ = streams
    pop = _population(config, rng_pop)
    languages = [config.arms[c].language for c in pop.countries]
    language_list = list(dict.fromkeys(languages))
    grid, keys, k = _response_grid(items, language_list)
    prompt, slot = _assign(config, len(keys), k, rng_assign)
    rater_language = np.array([language_list.index(lang) for lang in languages])[pop.country]
    response_row = grid[prompt, slot, rater_language[:, None]]  # (n, m)

    n, m, n_dims = config.n_raters, config.responses_per_rater, len(DIMENSION_NAMES)
    levels = _level_matrix(items)  # (n_responses, n_dims)
    cross_language = grid[:, :, 0].ravel()  # response effects shared by EN and DE versions
    response_shift = np.zeros_like(levels)
    shared = config.response_sd * rng_response.standard_normal((len(cross_language), n_dims))
    for li in range(len(language_list)):
        response_shift[grid[:, :, li].ravel()] = shared
    rater_shift = _group_shift(config, pop)
    rater_shift += config.rater_shared_sd * rng_rater.standard_normal((n, 1))
    rater_shift += config.rater_dimension_sd * rng_rater.standard_normal((n, n_dims))
    latent = (levels + response_shift)[response_row]  # (n, m, d)
    latent += rater_shift[:, None, :]
    latent += config.noise_sd * rng_noise.standard_normal((n, m, n_dims), dtype=np.float64)
    score = (1 + np.searchsorted(np.asarray(config.cut_points), latent.ravel(), side="left")).astype(np.int8)

    rater_ids = _rater_ids(n)
    response_ids = items.responses["response_id"].to_numpy()
    ratings = pd.DataFrame(
        {
            "rater_id": pd.Categorical.from_codes(np.repeat(np.arange(n), m * n_dims), categories=rater_ids),
            "response_id": pd.Categorical.from_codes(
                np.repeat(response_row.ravel(), n_dims), categories=response_ids
            ),
            "dimension": pd.Categorical.from_codes(
                np.tile(np.arange(n_dims), n * m), categories=list(DIMENSION_NAMES)
            ),
            "score": score,
        }
    )
    arms = ", ".join(f"{country} {size:,}" for country, size in config.arm_sizes().items())
    info = DatasetInfo(
        dataset_id=dataset_id,
        name=name or DEFAULT_DATASET_NAME,
        description=(
            f"SIMULATED data: {n:,} synthetic raters ({arms})"
            f" x {m} responses x {n_dims} dimensions = {len(ratings):,} ratings. Not real participants: the "
            f"rating model is calibrated so that the headline effects published by {PAPER} are recovered "
            "(men vs women toxicity -18%, conservative vs liberal emotional awareness +27.9%, Black vs White "
            "emotional awareness +44%); all other group effects are illustrative assumptions."
        ),
        scale=Scale(1, 5, AGREEMENT_LABELS_EN),
        simulated=True,
        source="simulation",
        meta={
            "simulation_config": config.to_dict(),
            "items_fingerprint": embedded_fingerprint(),
            "calibrated_to": PAPER,
            "scale_labels_de": list(AGREEMENT_LABELS_DE),
        },
    )
    return DatasetBundle(
        info=info,
        dimensions=list(STUDY_DIMENSIONS),
        attributes=_attributes(pop),
        raters=pd.DataFrame({"rater_id": rater_ids}),
        rater_attributes=_rater_attributes(pop, rater_ids, languages),
        prompts=items.prompts,
        responses=items.responses,
        ratings=ratings,
        response_levels=items.response_levels,
    )


def _level_matrix(items: EmbeddedItems) -> np.ndarray:
    levels = items.response_levels.pivot(index="response_id", columns="dimension", values="level")
    levels = levels.reindex(index=items.responses["response_id"], columns=list(DIMENSION_NAMES))
    if levels.isna().to_numpy().any():
        raise ValueError("every response needs a level on every study dimension")
    return levels.to_numpy(dtype=float)


def _rater_ids(n: int) -> np.ndarray:
    width = max(4, len(str(n - 1)))
    return np.char.add("sim-", np.char.zfill(np.arange(n).astype(str), width)).astype(object)


def _attributes(pop: _Population):
    party = dataclasses.replace(_ATTRS["party"], values=tuple(pop.party_values))
    leaning = dataclasses.replace(_ATTRS["political_leaning"], values=tuple(pop.leaning_values))
    country = dataclasses.replace(_ATTRS["country"], values=tuple(pop.countries))
    replaced = {"party": party, "political_leaning": leaning, "country": country}
    return [replaced.get(a.name, a) for a in STUDY_ATTRIBUTES]


def _rater_attributes(pop: _Population, rater_ids: np.ndarray, languages: list[str]) -> pd.DataFrame:
    """Long rater attributes: one row per (rater, attribute), several for a multi-selected race."""
    n = len(rater_ids)
    single = [
        ("country", pop.country, pop.countries),
        ("language", pop.country, languages),
        ("gender", pop.gender, list(GENDERS)),
        ("age_band", pop.age_band, list(AGE_BANDS)),
        ("political_leaning", pop.leaning, pop.leaning_values),
        ("party", pop.party, pop.party_values),
    ]
    race_rater, race_value = np.nonzero(pop.race)
    value_names = list(dict.fromkeys([v for _, _, vs in single for v in vs] + list(RACES)))
    index = {v: i for i, v in enumerate(value_names)}
    codes = [np.array([index[v] for v in vs])[c] for _, c, vs in single]
    codes.append(np.array([index[r] for r in RACES])[race_value])
    attribute_names = [a for a, _, _ in single] + ["race"]
    return pd.DataFrame(
        {
            "rater_id": pd.Categorical.from_codes(
                np.concatenate([np.arange(n)] * len(single) + [race_rater]), categories=rater_ids
            ),
            "attribute": pd.Categorical.from_codes(
                np.repeat(np.arange(len(attribute_names)), [n] * len(single) + [len(race_rater)]),
                categories=attribute_names,
            ),
            "value": pd.Categorical.from_codes(np.concatenate(codes), categories=value_names),
        }
    )
