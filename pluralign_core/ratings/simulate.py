"""A simulated rater population: demographics, assignments and ordinal ratings, all vectorised.

The study's ratings (Ali et al., arXiv 2511.14476) are not public, so the app ships a synthetic
population whose rating model is calibrated to the published headline effects. Everything the model
uses is in one readable YAML file (``data/simulation.yaml``, see
:mod:`~pluralign_core.ratings.simulation_config`); the mean of every rating is fixed by
:mod:`~pluralign_core.ratings.simulation_model`, and this module draws the rest: who rates what, the
rater tendencies and the per-rating noise, and cuts the latent value into a 1..5 score.

The simulation is pure numpy with no loop over raters or ratings, because the same code builds the
1,095-rater default in well under a second and 10 million ratings for benchmarks.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from pluralign_core.ratings.bundle import DatasetBundle
from pluralign_core.ratings.embedded_items import EmbeddedItems, embedded_fingerprint, load_embedded_items
from pluralign_core.ratings.schema import (
    AGREEMENT_LABELS_DE,
    AGREEMENT_LABELS_EN,
    STUDY_ATTRIBUTES,
    STUDY_DIMENSIONS,
    DatasetInfo,
    Scale,
)
from pluralign_core.ratings.simulation_config import (  # noqa: F401 (re-exported: the public simulation API)
    AGE_BANDS,
    DEFAULT_CONFIG_PATH,
    DIMENSION_NAMES,
    GENDERS,
    RACES,
    ArmConfig,
    SimulationConfig,
    SimulationConfigError,
    load_default_config,
)
from pluralign_core.ratings.simulation_model import Population, build_model, streams

DEFAULT_DATASET_ID = "default-simulated"
DEFAULT_DATASET_NAME = "Simulated study population (default)"
PAPER = "Ali et al. (arXiv 2511.14476)"

_ATTRS = {a.name: a for a in STUDY_ATTRIBUTES}


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
    rngs = streams(config.seed)
    model = build_model(config, items, rngs)
    pop = model.population
    languages = [config.arms[c].language for c in pop.countries]
    prompt, slot = _assign(config, model.grid.shape[0], model.grid.shape[1], rngs["assignment"])
    rater_language = np.array([model.languages.index(lang) for lang in languages])[pop.country]
    response_row = model.grid[prompt, slot, rater_language[:, None]]  # (n, m)

    n, m, n_dims = config.n_raters, config.responses_per_rater, len(DIMENSION_NAMES)
    latent = model.latent_mean(np.arange(n), response_row)  # (n, m, d)
    rater_tendency = config.rater_shared_sd * rngs["rater"].standard_normal((n, 1))
    rater_tendency = rater_tendency + config.rater_dimension_sd * rngs["rater"].standard_normal((n, n_dims))
    latent += rater_tendency[:, None, :]
    latent += config.noise_sd * rngs["noise"].standard_normal((n, m, n_dims), dtype=np.float64)
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


def _rater_ids(n: int) -> np.ndarray:
    width = max(4, len(str(n - 1)))
    return np.char.add("sim-", np.char.zfill(np.arange(n).astype(str), width)).astype(object)


def _attributes(pop: Population):
    party = dataclasses.replace(_ATTRS["party"], values=tuple(pop.party_values))
    leaning = dataclasses.replace(_ATTRS["political_leaning"], values=tuple(pop.leaning_values))
    country = dataclasses.replace(_ATTRS["country"], values=tuple(pop.countries))
    replaced = {"party": party, "political_leaning": leaning, "country": country}
    return [replaced.get(a.name, a) for a in STUDY_ATTRIBUTES]


def _rater_attributes(pop: Population, rater_ids: np.ndarray, languages: list[str]) -> pd.DataFrame:
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
