"""How much raters agree — overall, within each group — and how much disagreement lies between groups.

Krippendorff's alpha is computed from the coincidence matrix (Krippendorff 2011, "Computing Krippendorff's
Alpha-Reliability"): each unit (here: a response on one dimension) with ``m_u ≥ 2`` ratings contributes
``n_uc · (n_uk − [c = k]) / (m_u − 1)`` to cell ``(c, k)``; then

    alpha = 1 − (n − 1) · Σ o_ck δ²_ck / Σ n_c n_k δ²_ck

with the *ordinal* distance ``δ²_ck = (Σ_{g=c..k} n_g − (n_c + n_k)/2)²`` over the marginals ``n_g``. Only
per-unit score counts leave DuckDB.

The between/within split is a one-way ANOVA inside each unit: squared deviations of ratings from their
unit mean (``ss_total``) are split into the part explained by the rater's group (group means within the
unit, ``ss_between``) and the part left within groups. The raw ratio ``ss_between / ss_total`` is biased
upward: even with no group effect, ``k_u`` group means of a few ratings each scatter by chance, and
``E[ss_between_u] = (k_u − 1) σ²_u`` (about (k − 1)/(m − 1) of the total: 0.4 for five age bands and ten
ratings per response). ``share_between`` therefore removes that expectation, estimating ``σ²_u`` by the
unit's within-group mean square (the pooled one for units with no within-group degrees of freedom) — the
ω²-style correction of ANOVA — and truncates at 0. It is near 0 when groups do not differ and keeps the
raw value when ratings within a group agree perfectly. For a multi-valued attribute a rater counts once per
group they list, so the split is taken over those expanded rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pluralign_core.analysis.filters import AnalysisFilter
from pluralign_core.analysis.result_cache import cached_by_dataset
from pluralign_core.analysis.slices import NOT_GIVEN, group_order
from pluralign_core.store.database import Store

METRICS = ("nominal", "ordinal", "interval")
ALL_RATERS = "all raters"


def coincidence_matrix(counts: np.ndarray) -> np.ndarray:
    """Coincidence matrix from a units × values matrix of rating counts (units with < 2 ratings ignored)."""
    counts = np.asarray(counts, dtype=float)
    m = counts.sum(axis=1)
    pairable = counts[m >= 2]
    weights = 1.0 / (m[m >= 2] - 1)
    outer = np.einsum("u,uc,uk->ck", weights, pairable, pairable)
    return outer - np.diag((pairable * weights[:, None]).sum(axis=0))


def distance_matrix(marginals: np.ndarray, values: np.ndarray, metric: str) -> np.ndarray:
    """Squared distances δ²_ck for the chosen level of measurement."""
    if metric == "nominal":
        return 1.0 - np.eye(len(values))
    if metric == "interval":
        return np.subtract.outer(values, values).astype(float) ** 2
    if metric == "ordinal":
        cumulative = np.concatenate([[0.0], np.cumsum(marginals)])
        idx = np.arange(len(values))
        low, high = np.minimum.outer(idx, idx), np.maximum.outer(idx, idx)
        between = cumulative[high + 1] - cumulative[low]
        return (between - (marginals[low] + marginals[high]) / 2) ** 2
    raise ValueError(f"unknown metric {metric!r}; use one of {METRICS}")


def krippendorff_alpha(
    counts: np.ndarray, values: np.ndarray | None = None, metric: str = "ordinal"
) -> float:
    """Alpha from a units × values count matrix (``values`` are the scale points, in order)."""
    counts = np.asarray(counts, dtype=float)
    values = np.arange(counts.shape[1]) if values is None else np.asarray(values, dtype=float)
    o = coincidence_matrix(counts)
    marginals = o.sum(axis=1)
    n = marginals.sum()
    if n < 2:
        return float("nan")
    delta = distance_matrix(marginals, values, metric)
    expected = (np.outer(marginals, marginals) * delta).sum()
    if expected == 0:
        return float("nan")
    return float(1 - (n - 1) * (o * delta).sum() / expected)


def alpha_from_reliability_data(data: np.ndarray, metric: str = "ordinal") -> float:
    """Alpha from a raters × units matrix with NaN for missing ratings (the textbook layout)."""
    data = np.asarray(data, dtype=float)
    values = np.unique(data[~np.isnan(data)])
    counts = np.stack([(data == v).sum(axis=0) for v in values], axis=1)
    return krippendorff_alpha(counts, values, metric)


def _unit_counts(store, dataset_id, attribute, dimensions, filter) -> pd.DataFrame:
    kept, params = (filter or AnalysisFilter()).ratings_sql(dataset_id, dimensions)
    group_select = "NULL AS grp"
    join, join_params = "", []
    if attribute:
        group_select = f"coalesce(a1.value, '{NOT_GIVEN}') AS grp"
        join = (
            "LEFT JOIN rater_attributes a1 ON a1.rater_id = k.rater_id AND a1.dataset_id = ? "
            "AND a1.attribute = ?"
        )
        join_params = [dataset_id, attribute]
    return store.query(
        f"""
        WITH kept AS ({kept})
        SELECT k.dimension, {group_select}, k.response_id AS unit, k.score, count(*) AS n,
               count(DISTINCT k.rater_id) AS raters
        FROM kept k {join} GROUP BY ALL
        """,
        [*params, *join_params],
    )


def unit_value_counts(rows: pd.DataFrame, scale_values: np.ndarray) -> np.ndarray:
    """The units × scale-points count matrix of ``unit, score, n`` rows (scores off the scale dropped).

    Built with ``np.add.at`` rather than ``pivot_table``: Explore computes it for every group and
    dimension on each attribute change, and the pivot cost ten times as much as the statistic.
    """
    units = pd.factorize(rows.unit)[0]
    scores = rows.score.to_numpy()
    column = np.searchsorted(scale_values, scores).clip(max=len(scale_values) - 1)
    on_scale = scale_values[column] == scores
    counts = np.zeros((units.max() + 1 if len(units) else 0, len(scale_values)))
    np.add.at(counts, (units[on_scale], column[on_scale]), rows.n.to_numpy()[on_scale])
    return counts


def _alpha_of(rows: pd.DataFrame, scale_values: np.ndarray, metric: str) -> float:
    return krippendorff_alpha(unit_value_counts(rows, scale_values), scale_values, metric)


@cached_by_dataset
def alpha_by_group(
    store: Store,
    dataset_id: str,
    attribute: str | None = None,
    dimensions: list[str] | None = None,
    filter: AnalysisFilter | None = None,
    metric: str = "ordinal",
) -> pd.DataFrame:
    """Alpha per dimension for all raters and, with ``attribute``, among the raters of each group.

    Columns: ``dimension, group, n_raters, n_units, alpha`` (``n_units``: responses rated at least twice
    by that group's raters on that dimension, the units alpha can use).
    """
    scale = store.dataset_info(dataset_id).scale
    scale_values = np.arange(scale.minimum, scale.maximum + 1)
    overall = _unit_counts(store, dataset_id, None, dimensions, filter)
    rater_counts = _rater_counts(store, dataset_id, attribute, dimensions, filter)
    parts = [(ALL_RATERS, overall)]
    if attribute:
        by_group = _unit_counts(store, dataset_id, attribute, dimensions, filter)
        for group in group_order(store, dataset_id, attribute, list(by_group.grp.unique())):
            parts.append((group, by_group[by_group.grp == group]))
    rows = []
    for dimension in [d.name for d in store.dimensions(dataset_id)]:
        for group, frame in parts:
            one = frame[frame.dimension == dimension]
            if one.empty:
                continue
            per_unit = np.bincount(pd.factorize(one.unit)[0], weights=one.n.to_numpy())
            rows.append(
                {
                    "dimension": dimension,
                    "group": group,
                    "n_raters": int(rater_counts.get((dimension, group), 0)),
                    "n_units": int((per_unit >= 2).sum()),
                    "alpha": _alpha_of(one, scale_values, metric),
                }
            )
    return pd.DataFrame(rows, columns=["dimension", "group", "n_raters", "n_units", "alpha"])


def _rater_counts(store, dataset_id, attribute, dimensions, filter) -> dict[tuple[str, str], int]:
    kept, params = (filter or AnalysisFilter()).ratings_sql(dataset_id, dimensions)
    counts = store.query(
        f"WITH kept AS ({kept}) SELECT dimension, count(DISTINCT rater_id) AS n FROM kept GROUP BY 1", params
    )
    result = {(d, ALL_RATERS): n for d, n in zip(counts.dimension, counts.n, strict=True)}
    if attribute:
        by_group = store.query(
            f"""
            WITH kept AS ({kept})
            SELECT k.dimension, coalesce(a1.value, '{NOT_GIVEN}') AS grp, count(DISTINCT k.rater_id) AS n
            FROM kept k LEFT JOIN rater_attributes a1 ON a1.rater_id = k.rater_id AND a1.dataset_id = ?
                 AND a1.attribute = ?
            GROUP BY ALL
            """,
            [*params, dataset_id, attribute],
        )
        result.update(
            {(d, g): n for d, g, n in zip(by_group.dimension, by_group.grp, by_group.n, strict=True)}
        )
    return result


@cached_by_dataset
def disagreement_decomposition(
    store: Store,
    dataset_id: str,
    attribute: str,
    dimensions: list[str] | None = None,
    filter: AnalysisFilter | None = None,
) -> pd.DataFrame:
    """Per dimension: how much of the spread of ratings around each response's mean lies between groups,
    beyond what chance alone puts there (see the module docstring).

    Columns: ``dimension, ss_total, ss_between, ss_within, ss_between_null, share_between_raw,
    share_between, share_within`` (``ss_between_null``: the between-group sum of squares expected with no
    group effect; ``share_within = 1 − share_between``).
    """
    kept, params = (filter or AnalysisFilter()).ratings_sql(dataset_id, dimensions)
    cells = store.query(
        f"""
        WITH kept AS ({kept})
        SELECT k.dimension, k.response_id AS unit, coalesce(a1.value, '{NOT_GIVEN}') AS grp,
               count(*)::DOUBLE AS n, sum(k.score)::DOUBLE AS s, sum(k.score * k.score)::DOUBLE AS ss
        FROM kept k LEFT JOIN rater_attributes a1 ON a1.rater_id = k.rater_id AND a1.dataset_id = ?
             AND a1.attribute = ?
        GROUP BY ALL
        """,
        [*params, dataset_id, attribute],
    )
    columns = [
        "dimension", "ss_total", "ss_between", "ss_within", "ss_between_null",
        "share_between_raw", "share_between", "share_within",
    ]  # fmt: skip
    if cells.empty:
        return pd.DataFrame(columns=columns)
    cells["within"] = cells.ss - cells.s**2 / cells.n
    cells["cells"] = 1.0
    units = cells.groupby(["dimension", "unit"])[["n", "s", "ss", "within", "cells"]].sum()
    units["total"] = units.ss - units.s**2 / units.n
    units["df_within"] = units.n - units.cells
    pooled = units.groupby("dimension").within.sum() / units.groupby("dimension").df_within.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        own = units.within / units.df_within
    mean_square = own.where(units.df_within > 0, pooled.reindex(units.index.get_level_values(0)).to_numpy())
    units["null"] = (units.cells - 1) * mean_square.fillna(0.0)
    by_dim = units.groupby("dimension")[["total", "within", "null"]].sum()
    by_dim.columns = ["ss_total", "ss_within", "ss_between_null"]
    by_dim["ss_between"] = by_dim.ss_total - by_dim.ss_within
    with np.errstate(invalid="ignore", divide="ignore"):
        by_dim["share_between_raw"] = by_dim.ss_between / by_dim.ss_total
        excess = (by_dim.ss_between - by_dim.ss_between_null) / by_dim.ss_total
    by_dim["share_between"] = excess.clip(lower=0.0)
    by_dim["share_within"] = 1 - by_dim.share_between
    order = [d.name for d in store.dimensions(dataset_id) if d.name in by_dim.index]
    return by_dim.loc[order].reset_index(names="dimension")[columns]
