"""Percent differences between groups — the study's metric — with rater-clustered intervals and
corrected significance.

**Definition.** "Men rated responses 18% less toxic than women" is ``100 · (mean_men / mean_women − 1)``:
the ratio of mean ratings on the study's 1–5 agreement scale, in the scale's own coding (1 = strongly
disagree … 5 = strongly agree). A ratio depends on where the scale starts (coded 0–4 the same data give a
larger percentage), so every row also carries the *absolute* difference ``mean_g − mean_ref`` in scale
points with its own CI (``diff``, ``diff_ci_low``, ``diff_ci_high``), which does not.

The default reference is the group with the most raters. A comparison of or against a group with fewer
than two raters is *not estimable* (``estimable = False``): a cluster-robust variance from one rater is
not a variance, so estimates, CIs and p-values are NaN rather than a finite interval with p ≈ 0.

Its standard
error comes from the delta method applied to *per-rater* influence values, which makes it cluster-robust
by rater and also correct when the two groups share raters (a multi-valued attribute such as race, where a
rater who lists two races counts in both groups):

    e_r(g) = (s_r − n_r · mean_g) / N_g                    (0 when rater r is not in group g)
    pct influence_r = 100 · (e_r(g) / mean_ref − mean_g · e_r(ref) / mean_ref²)
    Var = c · Σ_r influence_r²,   c = G/(G−1) · (N−1)/(N−2)  (CR1, as Stata and statsmodels use)

with G the raters in either group and N their ratings. The p-value tests the mean difference
(``mean_g − mean_ref``, same machinery) with a t distribution on G−1 degrees of freedom; p-values across
every group and dimension of one table are then adjusted with Holm (family-wise error) or
Benjamini–Hochberg (false discovery rate).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from pluralign_core.analysis.filters import AnalysisFilter
from pluralign_core.analysis.result_cache import cached_by_dataset
from pluralign_core.analysis.slices import DEFAULT_MIN_GROUP_RATERS, group_order, largest_group, rater_sums
from pluralign_core.store.database import Store

CORRECTIONS = {"holm": "holm", "bh": "fdr_bh", "none": None}
CROSS_SEPARATOR = " × "
MIN_ESTIMABLE_RATERS = 2
DEFINITION = (
    "% difference = 100 × (group mean / reference mean − 1), means of the 1–5 agreement scale in its own "
    "coding (1 = strongly disagree … 5 = strongly agree); it depends on where the scale starts, so the "
    "absolute difference in scale points (group mean − reference mean) is given next to it"
)


def compare_groups(per_rater: pd.DataFrame, group: str, reference: str, level: float = 0.95) -> dict:
    """Difference and percent difference of ``group`` against ``reference`` from per-rater sums of one
    dimension (columns ``group, rater_id, n, s``)."""
    parts = {}
    for name in (group, reference):
        rows = per_rater[per_rater.group == name]
        n_total = float(rows.n.sum())
        mean = float(rows.s.sum()) / n_total if n_total else np.nan
        resid = (rows.s - rows.n * mean) / n_total if n_total else rows.s * np.nan
        parts[name] = (
            mean,
            n_total,
            len(rows),
            pd.Series(resid.to_numpy(float), index=rows.rater_id.to_numpy()),
        )
    (m_g, n_g, raters_g, e_g), (m_r, n_r, raters_r, e_r) = parts[group], parts[reference]
    union = e_g.index.union(e_r.index)
    e_g, e_r = e_g.reindex(union, fill_value=0.0), e_r.reindex(union, fill_value=0.0)
    n_clusters = len(union)
    n_rows = n_g + n_r
    factor = n_clusters / (n_clusters - 1) * (n_rows - 1) / (n_rows - 2) if n_clusters > 1 else np.nan
    diff = m_g - m_r
    se_diff = float(np.sqrt(factor * np.sum((e_g - e_r) ** 2)))
    pct = 100 * (m_g / m_r - 1) if m_r else np.nan
    influence = 100 * (e_g / m_r - m_g * e_r / m_r**2) if m_r else e_g * np.nan
    se_pct = float(np.sqrt(factor * np.sum(influence**2)))
    df = max(n_clusters - 1, 1)
    t_crit = stats.t.ppf(0.5 + level / 2, df)
    t_stat = diff / se_diff if se_diff > 0 else np.nan
    p_value = float(2 * stats.t.sf(abs(t_stat), df)) if np.isfinite(t_stat) else np.nan
    if min(raters_g, raters_r) < MIN_ESTIMABLE_RATERS:
        diff = pct = se_diff = se_pct = p_value = np.nan
    return {
        "group": group,
        "reference": reference,
        "n_raters": raters_g,
        "n_raters_reference": raters_r,
        "mean": m_g,
        "mean_reference": m_r,
        "diff": diff,
        "diff_se": se_diff,
        "diff_ci_low": diff - t_crit * se_diff,
        "diff_ci_high": diff + t_crit * se_diff,
        "pct_diff": pct,
        "pct_se": se_pct,
        "pct_ci_low": pct - t_crit * se_pct,
        "pct_ci_high": pct + t_crit * se_pct,
        "p_value": p_value,
        "estimable": min(raters_g, raters_r) >= MIN_ESTIMABLE_RATERS,
    }


def adjust_p_values(p_values: pd.Series, correction: str = "holm", alpha: float = 0.05) -> pd.Series:
    """Holm, Benjamini–Hochberg (``"bh"``) or no (``"none"``) adjustment; NaN p-values stay NaN."""
    if correction not in CORRECTIONS:
        raise ValueError(f"unknown correction {correction!r}; use one of {sorted(CORRECTIONS)}")
    adjusted = pd.Series(np.nan, index=p_values.index)
    finite = p_values.notna()
    if CORRECTIONS[correction] is None:
        adjusted[finite] = p_values[finite]
    elif finite.any():
        adjusted[finite] = multipletests(
            p_values[finite].to_numpy(), alpha=alpha, method=CORRECTIONS[correction]
        )[1]
    return adjusted


@cached_by_dataset
def percent_differences(
    store: Store,
    dataset_id: str,
    attribute: str,
    reference: str | None = None,
    dimensions: list[str] | None = None,
    filter: AnalysisFilter | None = None,
    *,
    attribute2: str | None = None,
    correction: str = "holm",
    alpha: float = 0.05,
    level: float = 0.95,
    min_group_raters: int = DEFAULT_MIN_GROUP_RATERS,
) -> pd.DataFrame:
    """Every group against ``reference`` (default: the group with the most raters), per dimension.

    With ``attribute2`` the groups are crossed (``"woman × US"``) and ``reference`` names a crossed group.
    Columns: ``dimension, group, reference, n_raters, n_raters_reference, mean, mean_reference, diff,
    diff_se, diff_ci_low, diff_ci_high, pct_diff, pct_se, pct_ci_low, pct_ci_high, p_value, estimable,
    p_adjusted, significant, small_group``; rows that are not estimable have NaN estimates and p-values.
    """
    per_rater = rater_sums(store, dataset_id, attribute, dimensions, filter, attribute2)
    per_rater = per_rater.rename(columns={"grp": "group"})
    if attribute2:
        per_rater["group"] = per_rater.group + CROSS_SEPARATOR + per_rater.pop("grp2")
    groups = crossed_order(store, dataset_id, attribute, attribute2, list(per_rater.group.unique()))
    if not groups:
        return pd.DataFrame()
    reference = reference or largest_group(per_rater.rater_id, per_rater.group, groups)
    if reference not in groups:
        raise ValueError(f"reference group {reference!r} has no ratings here; choose one of {groups}")
    dim_order = [d.name for d in store.dimensions(dataset_id)]
    rows = []
    for dimension in [d for d in dim_order if d in set(per_rater.dimension)]:
        one = per_rater[per_rater.dimension == dimension]
        present = set(one.group)
        for group in groups:
            if group == reference or group not in present or reference not in present:
                continue
            rows.append({"dimension": dimension, **compare_groups(one, group, reference, level)})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["p_adjusted"] = adjust_p_values(table.p_value, correction, alpha)
    table["significant"] = table.p_adjusted < alpha
    table["small_group"] = (table[["n_raters", "n_raters_reference"]].min(axis=1)) < min_group_raters
    return table


def crossed_order(
    store: Store, dataset_id: str, attribute: str, attribute2: str | None, present: list[str]
) -> list[str]:
    """Display order of (possibly crossed) group labels."""
    if not attribute2:
        return group_order(store, dataset_id, attribute, present)
    firsts = group_order(store, dataset_id, attribute, list({p.split(CROSS_SEPARATOR)[0] for p in present}))
    seconds = group_order(store, dataset_id, attribute2, list({p.split(CROSS_SEPARATOR)[1] for p in present}))
    combos = [f"{a}{CROSS_SEPARATOR}{b}" for a in firsts for b in seconds]
    return [c for c in combos if c in present]


def pooled_difference(
    store: Store,
    dataset_id: str,
    attribute: str,
    dimension: str,
    group: tuple[str, ...],
    reference: tuple[str, ...],
    filter: AnalysisFilter | None = None,
    level: float = 0.95,
) -> dict:
    """Percent difference between two *pooled* sets of values (e.g. conservative + very conservative vs
    liberal + very liberal), with the same rater-clustered delta-method CI as :func:`percent_differences`.

    A rater belongs to a pooled group when any of their values is in it (and counts once there).
    """
    if set(group) & set(reference):
        raise ValueError(
            f"values {sorted(set(group) & set(reference))} are in both the group and the reference"
        )
    per_rater = rater_sums(store, dataset_id, attribute, [dimension], filter).rename(columns={"grp": "group"})
    label = {**{v: "group" for v in group}, **{v: "reference" for v in reference}}
    members = per_rater[per_rater.group.isin(list(label))].assign(group=lambda f: f.group.map(label))
    members = members.drop_duplicates(["rater_id", "group"])
    if set(members.group) != {"group", "reference"}:
        return {}
    return compare_groups(members, "group", "reference", level)
