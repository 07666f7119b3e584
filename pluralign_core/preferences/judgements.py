"""From a response pair's judgement counts to training rows, under one rule shared by every mode.

**Quantities.** For response pair (A, B) of one prompt, every rater of A is set against every rater of B
(:mod:`pluralign_core.preferences.build`); a judgement weighs ``w_i · w_j`` and says A ≻ B, B ≻ A or tie.

* ``d`` (``decisive_share``): the weighted share of judgements that are not ties;
* ``p`` (``p_a``): the weighted share of the decisive judgements preferring A;
* ``K = min(n_A, n_B)``: the matched judgements behind them (each rater of the smaller side used once),
  which sets how finely ``preserve`` can split a pair into rows.

**Mass.** A row (chosen C, rejected R, ``weight`` w, ``probability`` q) puts mass ``w·q`` on C ≻ R and
``w·(1 − q)`` on R ≻ C. These are exactly the coefficients of the weighted soft-label DPO loss
``w·[q·ℓ(Δ) + (1 − q)·ℓ(−Δ)]`` (:mod:`pluralign_core.training.dpo`), so two row sets with equal mass on
every ordered pair have the same summed loss, and, since that loss is divided by the summed weight, the
same training signal.

**The rule.** Every mode gives a response pair the expected mass ``d·p`` on A ≻ B and ``d·(1 − p)`` on
B ≻ A (total ``d``: ties carry no mass, they say nothing about direction):

* ``soft`` meets it exactly: one row, chosen A when ``p ≥ 0.5`` (at ``p = 0.5`` the loss is symmetric and
  the orientation immaterial), ``probability`` = the chosen side's share, ``weight = d``.
* ``preserve`` meets it in expectation over its seeded rounding: ``D`` = round(``K·d``) rows, of which
  round(``D·p``) are A ≻ B and the rest B ≻ A, each a hard label (``probability = 1``) of ``weight =
  1/K``. Rounding is unbiased (floor plus a Bernoulli draw of the fraction, from ``seed``) and exact when
  ``K·d`` and ``D·p`` are whole, so ``E[rows A ≻ B] / K = d·p``. The proportion lives in the row counts,
  the weight only undoes the ``K`` rows' multiplicity.
* ``majority`` is the hard-label limit: the rule applied to each response's aggregate value in place of its
  raters, i.e. one judgement per pair, so ``d`` and ``p`` are 0 or 1: one row of ``weight =
  probability = 1`` towards the better aggregate, none for equal aggregates.

One unit of mass per response pair, not per judgement, because the quantity DPO should fit is the
expected loss of one random judgement on a random response pair: ``K`` is the sample size behind ``p`` and
``d`` (their precision), not the pair's importance, and it keeps majority's usual unit weight. With the
weighted loss switched off, ``preserve`` falls back to counting each matched, decisive judgement once.
The rule fixes the loss per optimizer step, not the number of steps: ``preserve`` spreads a pair over about
``K·d`` rows, so an epoch of it holds more steps than one of ``soft``; compare modes at equal steps.

**Intensity.** A judgement is ordinal: a slight and a strong preference count the same. The two raters
compared rated different responses, so the size of their score difference mixes the responses' difference
with how each rater uses the scale; the order is what a cross-rater comparison supports. The 5-point
scale's intensity enters where values are averaged: the weighted mean over dimensions (a strong score on
one dimension can outweigh a mild one on another) and majority's ``aggregate='mean'``. Otherwise a finer
scale acts only by separating values that a coarser one ties.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pluralign_core.preferences.config import PreferenceConfig

TOLERANCE = 1e-9


def stochastic_round(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Round each value down or up, up with probability equal to its fraction: unbiased, ``E[out] = values``.

    A tolerance absorbs float noise (``2.9999999999`` is 3) so that whole values are never randomised.
    """
    values = np.asarray(values, dtype=float)
    base = np.floor(values + TOLERANCE)
    fraction = np.clip(values - base, 0.0, 1.0)
    fraction[fraction < TOLERANCE] = 0.0
    return (base + (rng.random(len(values)) < fraction)).astype(int)


def preserve_counts(
    matched: np.ndarray, p_a: np.ndarray, decisive_share: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Rows A ≻ B and B ≻ A per response pair: round(``K·d``) decisive rows split round(``D·p``) to A.

    Two unbiased roundings in turn give ``E[k_a] = K·d·p`` and ``E[k_b] = K·d·(1 − p)``, and ``k_a ≤ D``.
    """
    decisive = stochastic_round(np.asarray(matched) * np.asarray(decisive_share), rng)
    k_a = np.minimum(stochastic_round(decisive * np.asarray(p_a), rng), decisive)
    return k_a, decisive - k_a


def judgement_shares(config: PreferenceConfig, pairs: pd.DataFrame) -> pd.DataFrame:
    """Add ``p_a``, ``decisive_share``, ``lean`` and ``direction`` to per-pair judgement counts.

    ``pairs`` holds the weighted counts ``a_over_b``, ``b_over_a`` and ``total`` (ties included) and the
    aggregates ``value_a``, ``value_b``. ``direction`` orients the pair's rows (+1: A chosen, -1: B chosen;
    ``preserve`` yields both ways and says +1) and is 0 for a tie, which yields no row: all judgements tied
    in ``soft`` and ``preserve``, equal aggregates in ``majority``. ``lean`` is the sign of ``p_a - 0.5``
    (the majority direction under ``majority``): what ``build.compare_results`` compares between groups.
    """
    pairs = pairs.copy()
    decisive = pairs.a_over_b + pairs.b_over_a
    pairs["p_a"] = np.where(decisive > 0, pairs.a_over_b / decisive.where(decisive > 0, 1.0), 0.5)
    pairs["decisive_share"] = np.where(pairs.total > 0, decisive / pairs.total.where(pairs.total > 0, 1.0), 0)
    lean = pairs.p_a - 0.5
    pairs["lean"] = np.sign(np.where(np.abs(lean) < 1e-12, 0.0, lean)).astype(int)
    has_decisive = decisive.to_numpy() > 1e-12
    if config.disagreement == "majority":
        diff = pairs.value_a - pairs.value_b
        pairs["direction"] = np.sign(np.where(np.abs(diff) < TOLERANCE, 0.0, diff)).astype(int)
        pairs["lean"] = pairs["direction"]
    elif config.disagreement == "soft":
        pairs["direction"] = np.where(has_decisive, np.where(pairs["lean"] < 0, -1, 1), 0)
    else:
        pairs["direction"] = np.where(has_decisive, 1, 0)
    return pairs


def preference_mass(rows: pd.DataFrame) -> pd.Series:
    """Mass per ordered pair ``(winner_id, loser_id)``: ``weight·probability`` forward, the rest reversed."""
    forward = rows.weight * rows.probability
    reverse = rows.weight * (1.0 - rows.probability)
    both = pd.DataFrame(
        {
            "winner_id": np.concatenate([rows.chosen_id, rows.rejected_id]),
            "loser_id": np.concatenate([rows.rejected_id, rows.chosen_id]),
            "mass": np.concatenate([forward, reverse]),
        }
    )
    return both.groupby(["winner_id", "loser_id"]).mass.sum()


def _oriented(
    config: PreferenceConfig, summary: pd.DataFrame
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """The kept pairs, and per training row: its pair's position among them, whether A is chosen, weight.

    ``preserve`` repeats a pair's A ≻ B row ``k_a`` times and its B ≻ A row ``k_b`` times, in the order of
    ``(prompt_id, chosen_id, rejected_id)``. The blocks are sorted rather than the rows: every block has
    its own key (one pair, one direction), so the stable row sort this replaces gave the same order.
    """
    s = summary[summary.direction != 0].reset_index(drop=True)
    if config.disagreement == "preserve":
        matched = np.minimum(s.n_a, s.n_b).to_numpy().astype(int)
        rng = np.random.default_rng(config.seed)
        k_a, k_b = preserve_counts(matched, s.p_a.to_numpy(), s.decisive_share.to_numpy(), rng)
        n = len(s)
        blocks = pd.DataFrame(
            {
                "prompt_id": pd.concat([s.prompt_id, s.prompt_id], ignore_index=True),
                "chosen_id": pd.concat([s.response_a, s.response_b], ignore_index=True),
                "rejected_id": pd.concat([s.response_b, s.response_a], ignore_index=True),
                "pair": np.concatenate([np.arange(n), np.arange(n)]),
                "a_first": np.repeat([True, False], n),
                "count": np.concatenate([k_a, k_b]),
            }
        )
        blocks = blocks[blocks["count"] > 0].sort_values(
            ["prompt_id", "chosen_id", "rejected_id"], kind="stable"
        )
        count = blocks["count"].to_numpy()
        pair = np.repeat(blocks.pair.to_numpy(), count)
        return s, pair, np.repeat(blocks.a_first.to_numpy(), count), 1.0 / matched[pair]
    pair = np.arange(len(s))
    a_first = s.direction.to_numpy() > 0
    if config.disagreement == "majority":
        return s, pair, a_first, np.ones(len(s))
    return s, pair, a_first, s.decisive_share.to_numpy().astype(float)


def _either(first: pd.Series, second: pd.Series, pair: np.ndarray, take_first: np.ndarray) -> pd.Series:
    """Per row, ``first[pair]`` where ``take_first`` else ``second[pair]``, kept in the column's dtype
    (one vectorised take; the string columns never pass through Python objects)."""
    both = pd.concat([first, second], ignore_index=True)
    return both.take(np.where(take_first, pair, pair + len(first))).reset_index(drop=True)


def training_rows(config: PreferenceConfig, summary: pd.DataFrame) -> pd.DataFrame:
    """Training rows (chosen/rejected ids, weight, probability, …) from the pair summary, under the rule."""
    s, pair, a_first, weight = _oriented(config, summary)
    p_a = s.p_a.to_numpy()[pair]
    share = np.where(a_first, p_a, 1 - p_a).astype(float)
    value_a, value_b = s.value_a.to_numpy()[pair], s.value_b.to_numpy()[pair]
    out = pd.DataFrame(
        {
            "prompt_id": s.prompt_id.take(pair).reset_index(drop=True),
            "chosen_id": _either(s.response_a, s.response_b, pair, a_first),
            "rejected_id": _either(s.response_b, s.response_a, pair, a_first),
            "weight": np.asarray(weight, dtype=float),
            "probability": share if config.disagreement == "soft" else np.ones(len(pair)),
            "judgement_share": share,
            "agreement": np.maximum(p_a, 1 - p_a).astype(float),
            "n_raters": s.n_raters.to_numpy().astype(int)[pair],
            "chosen_value": np.where(a_first, value_a, value_b).astype(float),
            "rejected_value": np.where(a_first, value_b, value_a).astype(float),
        }
    )
    if config.max_pairs_per_prompt:
        rng = np.random.default_rng(config.seed + 1)
        shuffled = out.iloc[rng.permutation(len(out))]
        keep = shuffled.groupby("prompt_id", sort=False).cumcount() < int(config.max_pairs_per_prompt)
        out = shuffled[keep.to_numpy()].sort_index().reset_index(drop=True)
    return out
