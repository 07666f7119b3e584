"""A jury: raters reweighted so that groups make up chosen proportions of the feedback.

A study's sample rarely matches the population a model should answer to (e.g. 50% women / 50% men, or a
country's census marginals). Rather than dropping raters, a jury keeps everyone who fits a target group and
gives each rater a weight, found by *raking* (iterative proportional fitting): for each attribute in turn,
scale the weights so that the weighted shares of its values hit the targets, and repeat until all
attributes agree. With one attribute this is exact post-stratification.

Reweighting costs precision: a few heavily weighted raters carry as much weight as many others. Kish's
effective sample size ``(Σw)² / Σw²`` says how many equally weighted raters the jury is worth, and is
reported with every jury.

Multi-valued attributes (race): a rater listing ``k`` values counts ``1/k`` towards each, so the raked
shares are approximate for them; :attr:`JuryWeights.achieved` reports what was reached.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class JuryWeights:
    """Per-rater weights (mean 1 over raters in the jury) and how well the targets were met."""

    weights: pd.Series
    effective_sample_size: float
    achieved: dict[str, dict[str, float]] = field(default_factory=dict)
    excluded: int = 0
    iterations: int = 0

    def summary(self) -> dict:
        return {
            "n_raters": int((self.weights > 0).sum()),
            "excluded_raters": int(self.excluded),
            "effective_sample_size": round(float(self.effective_sample_size), 3),
            "achieved": self.achieved,
            "iterations": int(self.iterations),
        }


def kish_ess(weights: np.ndarray | pd.Series) -> float:
    """Kish's effective sample size ``(Σw)² / Σw²`` (0 for no weight)."""
    w = np.asarray(weights, dtype=float)
    total_sq = float((w**2).sum())
    return float(w.sum() ** 2 / total_sq) if total_sq > 0 else 0.0


def normalise_targets(targets: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Targets as shares summing to 1 per attribute; raises on negative or all-zero targets."""
    clean: dict[str, dict[str, float]] = {}
    for attribute, shares in (targets or {}).items():
        values = {str(v): float(p) for v, p in shares.items()}
        if any(p < 0 for p in values.values()):
            raise ValueError(f"jury target for {attribute!r} has a negative proportion: {values}")
        total = sum(values.values())
        if total <= 0:
            raise ValueError(f"jury target for {attribute!r} gives no group any weight: {values}")
        clean[str(attribute)] = {v: p / total for v, p in values.items() if p > 0}
    return clean


def parse_jury(text: str) -> dict[str, dict[str, float]]:
    """Parse ``gender=woman:0.5,man:0.5;country=US:0.6,DE:0.4`` into target proportions."""
    targets: dict[str, dict[str, float]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        attribute, _, values = part.partition("=")
        if not values:
            raise ValueError(f"jury {part!r}: write attribute=value:share,value:share")
        shares = {}
        for item in values.split(","):
            value, _, share = item.rpartition(":")
            if not value:
                raise ValueError(f"jury {part!r}: {item!r} needs value:share, e.g. woman:0.5")
            shares[value.strip()] = float(share)
        targets[attribute.strip()] = shares
    return targets


def _membership(
    rater_attributes: pd.DataFrame, attribute: str, ids: pd.Index, values: list[str]
) -> pd.DataFrame:
    """Each rater's share in each targeted value of ``attribute`` (rows ``ids``, columns ``values``).

    A rater listing ``k`` values (missing ones not counted) has ``1/k`` in each; raters without a value
    have a row of zeros. Counted with integer codes in numpy (a crosstab ran a Python function per
    rater). The result is laid out as the crosstab's was (row-major values): pandas sums along the
    layout, so the raking below adds in the same order and its weights stay identical to the last bit.
    """
    rows = rater_attributes[rater_attributes.attribute == attribute]
    rows = rows[rows.value.notna()]
    position = ids.get_indexer(rows.rater_id.to_numpy(dtype=object))
    known = position >= 0
    codes, listed = pd.factorize(rows.value.to_numpy(dtype=object)[known], sort=True)
    counts = np.zeros((len(ids), len(listed)))
    np.add.at(counts, (position[known], codes), 1.0)
    member = pd.DataFrame(counts, index=ids, columns=pd.Index(listed, name="value"))
    member = member.div(member.sum(axis=1).replace(0, np.nan), axis=0).fillna(0.0)
    member = member.reindex(columns=values, fill_value=0.0)
    return pd.DataFrame(np.ascontiguousarray(member.to_numpy()), member.index, member.columns, copy=False)


def rake(
    rater_attributes: pd.DataFrame,
    raters: pd.Series | list[str],
    targets: dict[str, dict[str, float]],
    *,
    max_iterations: int = 200,
    tolerance: float = 1e-8,
) -> JuryWeights:
    """Weights for ``raters`` so that weighted value shares match ``targets`` (raking).

    ``rater_attributes`` is the long table (``rater_id, attribute, value``). Raters with no value among an
    attribute's targeted values get weight 0 (they are outside the jury) and are counted in ``excluded``.
    """
    targets = normalise_targets(targets)
    ids = pd.Index(pd.unique(pd.Series(list(raters), dtype=object)), name="rater_id")
    weights = pd.Series(1.0, index=ids)
    if not targets or ids.empty:
        return JuryWeights(weights, kish_ess(weights), {}, 0, 0)
    memberships: dict[str, pd.DataFrame] = {}
    for attribute, shares in targets.items():
        member = _membership(rater_attributes, attribute, ids, list(shares))
        memberships[attribute] = member
        inside = member.sum(axis=1) > 0
        weights[~inside] = 0.0
    for value_attr, member in memberships.items():
        empty = [v for v in member.columns if float((member[v] * weights).sum()) == 0]
        if empty:
            raise ValueError(
                f"jury target {value_attr}={empty} has no selected rater to stand for it; lower its share "
                "to 0 or widen the rater selection"
            )
    iterations = 0
    for iteration in range(1, max_iterations + 1):
        iterations = iteration
        largest_change = 0.0
        for attribute, member in memberships.items():
            share = member.mul(weights, axis=0).sum() / weights.sum()
            wanted = pd.Series(targets[attribute])[member.columns]
            factor = member.mul(wanted / share, axis=1).sum(axis=1)
            # Membership fractions below 1 only arise for multi-valued attributes.
            new = weights * factor.where(member.sum(axis=1) > 0, 0.0)
            largest_change = max(largest_change, float((new - weights).abs().max()))
            weights = new
        if largest_change < tolerance:
            break
    inside = weights > 0
    weights[inside] = weights[inside] / weights[inside].mean()
    achieved = {
        attribute: {
            str(v): round(float(s), 6) for v, s in (member.mul(weights, axis=0).sum() / weights.sum()).items()
        }
        for attribute, member in memberships.items()
    }
    return JuryWeights(weights, kish_ess(weights[inside]), achieved, int((~inside).sum()), iterations)
