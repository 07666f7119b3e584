"""How much groups disagree in a simulated dataset *by construction*, from the model's expected ratings.

A simulated dataset is only useful for pluralistic alignment if its groups prefer different answers.
Sampled ratings cannot say whether they do: two groups' observed preferences differ by chance as well.
The rating model can: with the population, response effects and interactions fixed by the config and its
seed (:mod:`~pluralign_core.ratings.simulation_model`), the rater tendencies and per-rating noise are
normal, so a rater's expected score is exact,

    E[score] = 1 + sum_k Phi((mean - cut_k) / sd),
    sd^2 = noise_sd^2 + rater_shared_sd^2 + rater_dimension_sd^2,

and a group's expected score for an answer is the mean of its raters' (those who read that language).
For every pair of answers to the same prompt, each group's *preferred direction* is the sign of the
difference of its expected values, combined over dimensions exactly as the preference builder does
(oriented so that higher is better, weighted mean of ``score - midpoint``). The *flip share* is the share
of pairs where two groups prefer opposite answers. With additive group effects only it is 0 up to the
scale's floor and ceiling: groups then differ by a constant per dimension, which cancels within a pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr

from pluralign_core.ratings.embedded_items import EmbeddedItems, load_embedded_items
from pluralign_core.ratings.schema import STUDY_DIMENSIONS
from pluralign_core.ratings.simulation_config import DIMENSION_NAMES, SimulationConfig
from pluralign_core.ratings.simulation_model import RatingModel, build_model, streams

_MIDPOINT = 3.0
_ORIENTATION = np.array([1.0 if d.higher_is_better else -1.0 for d in STUDY_DIMENSIONS])
_RATER_BLOCK = 2048
DEFAULT_DIMENSIONS = {"toxicity": 1.0}  # the preference builder's default


@dataclass(frozen=True)
class Contrast:
    """Two rater groups compared: raters with ``attribute`` in ``group`` vs in ``reference``."""

    name: str
    attribute: str
    group: tuple[str, ...]
    reference: tuple[str, ...]


CONTRASTS: tuple[Contrast, ...] = (
    Contrast("Women vs men", "gender", ("woman",), ("man",)),
    Contrast(
        "Liberal vs conservative",
        "political_leaning",
        ("liberal", "very liberal", "left"),
        ("conservative", "very conservative", "right"),
    ),
)


def expected_scores(model: RatingModel, raters: np.ndarray, response_rows: np.ndarray) -> np.ndarray:
    """(len(raters), len(response_rows), d) expected 1..5 score of each rater for each response."""
    cuts = np.asarray(model.config.cut_points, dtype=float)
    sd = model.noise_sd
    out = np.empty((len(raters), len(response_rows), len(DIMENSION_NAMES)))
    for start in range(0, len(raters), _RATER_BLOCK):
        block = raters[start : start + _RATER_BLOCK]
        mean = model.latent_mean(block, np.broadcast_to(response_rows, (len(block), len(response_rows))))
        if sd > 0:
            out[start : start + len(block)] = 1 + ndtr((mean[..., None] - cuts) / sd).sum(-1)
        else:
            out[start : start + len(block)] = 1 + (mean[..., None] > cuts).sum(-1)
    return out


def _members(model: RatingModel, attribute: str, values: tuple[str, ...]) -> np.ndarray:
    table = np.array([1.0 if v in values else 0.0 for v in model.population.values_of(attribute)])
    return model.population.per_rater(attribute, table) > 0


def _weights(dimensions: dict[str, float]) -> np.ndarray:
    unknown = sorted(set(dimensions) - set(DIMENSION_NAMES))
    if unknown:
        raise ValueError(f"unknown dimension(s) {unknown}; choose from {list(DIMENSION_NAMES)}")
    weights = np.array([float(dimensions.get(d, 0.0)) for d in DIMENSION_NAMES])
    if (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(f"dimension weights must be >= 0 with a positive sum, got {dimensions}")
    return weights * _ORIENTATION / weights.sum()


def expected_flip_shares(
    config: SimulationConfig,
    items: EmbeddedItems | None = None,
    *,
    dimensions: dict[str, float] | None = None,
    contrasts: tuple[Contrast, ...] = CONTRASTS,
) -> pd.DataFrame:
    """Per contrast, the share of same-prompt response pairs whose two groups prefer opposite answers.

    ``dimensions`` weighs the dimensions as :class:`~pluralign_core.preferences.config.PreferenceConfig`
    does (default: toxicity alone, its default). Pairs are counted per prompt and language, within the
    raters of that language (as the preference builder pairs them); a pair on which either group is
    exactly indifferent is not a flip. Columns: contrast, attribute, group, reference, dimensions,
    response_pairs, flipped, flip_share, group_raters, reference_raters.
    """
    items = items if items is not None else load_embedded_items()
    weights = _weights(dimensions or DEFAULT_DIMENSIONS)
    model = build_model(config, items, streams(config.seed))
    rater_language = model.population.language_of_raters(config)
    members = {
        c.name: (_members(model, c.attribute, c.group), _members(model, c.attribute, c.reference))
        for c in contrasts
    }
    n_keys, k, _ = model.grid.shape
    first, second = np.triu_indices(k, 1)
    counts = {c.name: np.zeros(4, dtype=np.int64) for c in contrasts}  # pairs, flipped, n_group, n_reference
    for li, language in enumerate(model.languages):
        raters = np.flatnonzero(rater_language == language)
        rows = model.grid[:, :, li].ravel()
        value = (expected_scores(model, raters, rows) - _MIDPOINT) @ weights  # (raters, responses)
        for contrast in contrasts:
            in_group, in_reference = (m[raters] for m in members[contrast.name])
            if not in_group.any() or not in_reference.any():
                continue
            direction = []
            for mask in (in_group, in_reference):
                per_answer = value[mask].mean(0).reshape(n_keys, k)
                direction.append(np.sign(per_answer[:, first] - per_answer[:, second]))
            flipped = int((direction[0] * direction[1] < 0).sum())
            counts[contrast.name] += [direction[0].size, flipped, in_group.sum(), in_reference.sum()]
    label = ", ".join(f"{d} x{w:g}" for d, w in (dimensions or DEFAULT_DIMENSIONS).items() if w)
    rows = []
    for contrast in contrasts:
        pairs, flipped, n_group, n_reference = counts[contrast.name].tolist()
        rows.append(
            {
                "contrast": contrast.name,
                "attribute": contrast.attribute,
                "group": ", ".join(contrast.group),
                "reference": ", ".join(contrast.reference),
                "dimensions": label,
                "response_pairs": pairs,
                "flipped": flipped,
                "flip_share": flipped / pairs if pairs else float("nan"),
                "group_raters": n_group,
                "reference_raters": n_reference,
            }
        )
    return pd.DataFrame(rows)
