"""The simulated rating model's mean: who the raters are and what latent value each rating centres on.

Shared by :func:`~pluralign_core.ratings.simulate.simulate`, which adds the rater and rating noise and
cuts the latent value into scores, and by
:mod:`~pluralign_core.ratings.simulation_expectations`, which integrates that noise out analytically: both
must see the same population, response effects and interactions, or the reported expected disagreement
would describe a different dataset than the one simulated.

For a rating of response ``i`` by rater ``r`` on dimension ``d`` the mean is

    level[i, d] + response_sd * z[i, d]                       (shared by the EN and DE versions)
    + sum of additive group effects of r on d
    + sum over interaction rules matching i of the shift for r's value
    + sum over contested axes of position(r) * polarisation[i, axis, d]   (contested prompts only)

The polarisation is centred within each prompt: it changes which answer a group prefers, not how a group
rates the prompt on average, so it adds disagreement without adding seed-to-seed scatter to group means.

Random draws come from independent child streams of one seed, so that changing an effect size leaves the
population, the response effects and the noise untouched; the calibration relies on that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pluralign_core.ratings.embedded_items import STYLES, EmbeddedItems
from pluralign_core.ratings.simulation_config import (
    AGE_BANDS,
    DIMENSION_NAMES,
    GENDERS,
    LEANINGS,
    RACES,
    SimulationConfig,
)

STREAMS = ("population", "assignment", "rater", "response", "noise", "contested")


def streams(seed: int) -> dict[str, np.random.Generator]:
    """One independent generator per part of the model (see the module docstring)."""
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {name: np.random.default_rng(child) for name, child in zip(STREAMS, children, strict=True)}


@dataclass
class Population:
    """Raters as integer codes (one array per attribute) — strings are made only at the end."""

    country: np.ndarray  # index into countries
    gender: np.ndarray
    age_band: np.ndarray
    leaning: np.ndarray  # index into leaning_values
    party: np.ndarray  # index into party_values
    race: np.ndarray  # (n, len(RACES)) bool multi-hot
    countries: list[str]
    leaning_values: list[str]
    party_values: list[str]

    def values_of(self, attribute: str) -> list[str]:
        return {
            "gender": list(GENDERS),
            "age_band": list(AGE_BANDS),
            "race": list(RACES),
            "political_leaning": self.leaning_values,
            "party": self.party_values,
            "country": self.countries,
        }[attribute]

    def per_rater(self, attribute: str, table: np.ndarray) -> np.ndarray:
        """Rows of ``table`` (one per value of ``attribute``) for each rater; summed over selected races."""
        if attribute == "race":
            return self.race @ table
        codes = {
            "gender": self.gender,
            "age_band": self.age_band,
            "political_leaning": self.leaning,
            "party": self.party,
            "country": self.country,
        }[attribute]
        return table[codes]

    def language_of_raters(self, config: SimulationConfig) -> np.ndarray:
        return np.array([config.arms[c].language for c in self.countries])[self.country]


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


def draw_population(config: SimulationConfig, rng: np.random.Generator) -> Population:
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
    return Population(country, gender, age, leaning, party, race, countries, leaning_values, party_values)


def _value_table(values: list[str], by_value: dict[str, float]) -> np.ndarray:
    return np.array([float(by_value.get(v, 0.0)) for v in values])


def group_shift(config: SimulationConfig, pop: Population) -> np.ndarray:
    """(n_raters, n_dimensions): the sum of every additive group effect for each rater.

    Race effects add up over the races a rater selected, so a rater who selected Black and White carries
    the full Black effect (White being the reference, with no effect of its own).
    """
    shift = np.zeros((len(pop.country), len(DIMENSION_NAMES)))
    for attribute, by_dimension in config.effects.items():
        values = pop.values_of(attribute)
        table = np.zeros((len(values), len(DIMENSION_NAMES)))
        for dimension, by_value in (by_dimension or {}).items():
            table[:, DIMENSION_NAMES.index(dimension)] = _value_table(values, by_value or {})
        shift += pop.per_rater(attribute, table)
    return shift


def response_grid(items: EmbeddedItems, languages: list[str]) -> tuple[np.ndarray, list[str], int]:
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


def level_matrix(items: EmbeddedItems) -> np.ndarray:
    levels = items.response_levels.pivot(index="response_id", columns="dimension", values="level")
    levels = levels.reindex(index=items.responses["response_id"], columns=list(DIMENSION_NAMES))
    if levels.isna().to_numpy().any():
        raise ValueError("every response needs a level on every study dimension")
    return levels.to_numpy(dtype=float)


def _shared_across_languages(grid: np.ndarray, per_answer: np.ndarray, n_responses: int) -> np.ndarray:
    """Spread one value per answer (prompt key x slot) to every language version of that answer."""
    out = np.zeros((n_responses, *per_answer.shape[1:]))
    for li in range(grid.shape[2]):
        out[grid[:, :, li].ravel()] = per_answer
    return out


@dataclass
class RatingModel:
    """Everything that fixes the mean latent value of a rating, for one config, seed and item set."""

    config: SimulationConfig
    population: Population
    grid: np.ndarray  # (n_prompt_keys, responses_per_prompt, n_languages)
    languages: list[str]  # the grid's language order
    response_mean: np.ndarray  # (n_responses, d): level + shared response deviation
    rater_mean: np.ndarray  # (n_raters, d): additive group effects
    interaction_shift: list[tuple[int, np.ndarray, np.ndarray]]  # (dimension, per rater, response mask)
    positions: np.ndarray  # (n_raters, n_axes) position on each contested axis
    polarisation: np.ndarray  # (n_responses, n_axes, d); zero outside contested prompts

    @property
    def noise_sd(self) -> float:
        """SD of everything around the mean: rater tendencies and per-rating noise, all normal."""
        c = self.config
        return float(np.sqrt(c.noise_sd**2 + c.rater_shared_sd**2 + c.rater_dimension_sd**2))

    def latent_mean(self, raters: np.ndarray, response_rows: np.ndarray) -> np.ndarray:
        """(len(raters), m, d) mean latent value of each rater's rating of ``response_rows[r, j]``."""
        latent = self.response_mean[response_rows] + self.rater_mean[raters][:, None, :]
        for dimension, per_rater, mask in self.interaction_shift:
            latent[:, :, dimension] += per_rater[raters][:, None] * mask[response_rows]
        for axis in range(self.positions.shape[1]):  # one axis at a time: no (n, m, axes, d) temporary
            latent += self.positions[raters, axis][:, None, None] * self.polarisation[response_rows, axis]
        return latent


def response_table(items: EmbeddedItems) -> pd.DataFrame:
    """Style and topic of each response row (in ``items.responses`` order)."""
    topic = items.prompts.set_index("prompt_id")["topic"]
    responses = items.responses.reset_index(drop=True)
    return pd.DataFrame(
        {"style": responses["style"].to_numpy(), "topic": topic.reindex(responses["prompt_id"]).to_numpy()}
    )


def build_model(
    config: SimulationConfig, items: EmbeddedItems, rngs: dict[str, np.random.Generator]
) -> RatingModel:
    """Draw the population and the response-level randomness; fix every mean of the rating model."""
    pop = draw_population(config, rngs["population"])
    languages = list(dict.fromkeys(config.arms[c].language for c in pop.countries))
    grid, keys, k = response_grid(items, languages)
    n_responses, n_dims = len(items.responses), len(DIMENSION_NAMES)
    shared = config.response_sd * rngs["response"].standard_normal((len(keys) * k, n_dims))
    response_mean = level_matrix(items) + _shared_across_languages(grid, shared, n_responses)
    kinds = response_table(items)
    interaction_shift = []
    for rule in config.interactions:
        mask = np.ones(n_responses, bool)
        if rule.styles:
            mask &= kinds["style"].isin(rule.styles).to_numpy()
        if rule.topics:
            mask &= kinds["topic"].isin(rule.topics).to_numpy()
        per_rater = pop.per_rater(rule.attribute, _value_table(pop.values_of(rule.attribute), rule.shift))
        interaction_shift.append((DIMENSION_NAMES.index(rule.dimension), per_rater, mask.astype(float)))
    contested = config.contested
    axes = list(contested.axes)
    positions = np.zeros((config.n_raters, len(axes)))
    for a, attribute in enumerate(axes):
        positions[:, a] = pop.per_rater(
            attribute, _value_table(pop.values_of(attribute), contested.axes[attribute])
        )
    rng = rngs["contested"]
    is_contested = rng.random(len(keys)) < contested.prompt_share
    polarisation = contested.sd * rng.standard_normal((len(keys), k, len(axes), n_dims))
    polarisation -= polarisation.mean(axis=1, keepdims=True)  # reorders a prompt's answers, keeps its level
    polarisation *= is_contested[:, None, None, None]
    polarisation = _shared_across_languages(
        grid, polarisation.reshape(len(keys) * k, len(axes), n_dims), n_responses
    )
    return RatingModel(
        config=config,
        population=pop,
        grid=grid,
        languages=languages,
        response_mean=response_mean,
        rater_mean=group_shift(config, pop),
        interaction_shift=interaction_shift,
        positions=positions,
        polarisation=polarisation,
    )
