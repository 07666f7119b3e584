"""Group means per dimension with confidence intervals that respect rater clustering.

Every rater gives several ratings, so ratings are not independent: treating 27,375 ratings as 27,375
independent draws would make intervals far too narrow. Intervals here are *cluster-robust by rater*
(the CR1 sandwich estimator of a mean, identical to ``statsmodels`` OLS with ``cov_type="cluster"`` on an
intercept), with a t critical value on ``raters - 1`` degrees of freedom.

All heavy lifting happens in DuckDB: ratings are summed per rater (count, sum, sum of squares), joined to
the rater's group(s), and summed again per group. The variance of a group mean then needs only five
per-group totals, so 10 million ratings reduce to a handful of rows before any Python runs:

    mean  = S / N                          (S = Σ s_r, N = Σ n_r over the group's raters r)
    V     = G/(G-1) · Σ (s_r − n_r·mean)² / N²
          = G/(G-1) · (Σ s_r² − 2·mean·Σ s_r n_r + mean²·Σ n_r²) / N²

**Multi-valued attributes** (race): a rater who lists several values counts in *each* of those groups, so
group sizes can add up to more than the number of raters. Raters without a value for the attribute form
the group ``"(not given)"`` instead of being dropped silently. Groups with fewer than ``min_group_raters``
raters are flagged (``small_group``), never removed.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pandas as pd
from scipy import stats

from pluralign_core.analysis.filters import AnalysisFilter
from pluralign_core.analysis.result_cache import cached_by_dataset
from pluralign_core.store.database import Store
from pluralign_core.store.group_totals import NOT_GIVEN, TOTALS

DEFAULT_MIN_GROUP_RATERS = 30


def _group_join(dataset_id: str, attribute: str, attribute2: str | None) -> tuple[str, str, list[Any]]:
    """Columns and LEFT JOINs that attach a rater's group value(s) to ``per_rater`` rows."""
    columns = f"coalesce(a1.value, '{NOT_GIVEN}') AS grp"
    joins = (
        "LEFT JOIN rater_attributes a1 ON a1.rater_id = pr.rater_id AND a1.dataset_id = ? "
        "AND a1.attribute = ?"
    )
    params: list[Any] = [dataset_id, attribute]
    if attribute2:
        columns += f", coalesce(a2.value, '{NOT_GIVEN}') AS grp2"
        joins += (
            " LEFT JOIN rater_attributes a2 ON a2.rater_id = pr.rater_id AND a2.dataset_id = ? "
            "AND a2.attribute = ?"
        )
        params += [dataset_id, attribute2]
    return columns, joins, params


def per_rater_sql(
    dataset_id: str,
    attribute: str,
    dimensions: list[str] | None,
    filter: AnalysisFilter | None,
    attribute2: str | None = None,
) -> tuple[str, list[Any]]:
    """One row per (dimension, group[, group2], rater): ``n``, ``s`` (sum), ``ss`` (sum of squares)."""
    kept, params = (filter or AnalysisFilter()).ratings_sql(dataset_id, dimensions)
    columns, joins, join_params = _group_join(dataset_id, attribute, attribute2)
    # One dimension: group by rater alone (a third faster at 10M ratings than a two-column key).
    single = dimensions is not None and len(dimensions) == 1
    dimension, keys = ("?::VARCHAR", "rater_id") if single else ("dimension", "dimension, rater_id")
    params = [*params, dimensions[0]] if single else params
    sql = f"""
        WITH kept AS ({kept}),
        pr AS (
            SELECT {dimension} AS dimension, rater_id, count(*) AS n, sum(score)::BIGINT AS s,
                   sum(score * score)::BIGINT AS ss
            FROM kept GROUP BY {keys}
        )
        SELECT pr.dimension, {columns}, pr.rater_id, pr.n, pr.s, pr.ss FROM pr {joins}
    """
    return sql, [*params, *join_params]


def rater_sums(
    store: Store,
    dataset_id: str,
    attribute: str,
    dimensions: list[str] | None = None,
    filter: AnalysisFilter | None = None,
    attribute2: str | None = None,
) -> pd.DataFrame:
    """Per-rater aggregates by group: the input of every cluster-robust statistic in this package."""
    sql, params = per_rater_sql(dataset_id, attribute, dimensions, filter, attribute2)
    return store.query(sql, params)


Source = Store | duckdb.DuckDBPyConnection


def run_query(source: Source, sql: str, params: list[Any]) -> pd.DataFrame:
    """Query a store (own short connection) or an open connection (several queries, one connect)."""
    if isinstance(source, Store):
        return source.query(sql, params)
    return source.execute(sql, params).df()


def dimension_names(source: Source, dataset_id: str) -> list[str]:
    rows = run_query(
        source, "SELECT name FROM dimensions WHERE dataset_id = ? ORDER BY position", [dataset_id]
    )
    return list(rows.name)


def group_order(source: Source, dataset_id: str, attribute: str, present: list[str]) -> list[str]:
    """Groups in the attribute's declared order, then any others alphabetically, ``(not given)`` last."""
    rows = run_query(
        source,
        "SELECT value_order FROM attributes WHERE dataset_id = ? AND name = ?",
        [dataset_id, attribute],
    )
    declared = [] if rows.empty or rows.value_order.iloc[0] is None else list(rows.value_order.iloc[0])
    known = [v for v in declared if v in present]
    rest = sorted(v for v in present if v not in declared and v != NOT_GIVEN)
    return known + rest + ([NOT_GIVEN] if NOT_GIVEN in present else [])


def largest_group(rater_ids: pd.Series, group_labels: pd.Series, order: list[str]) -> str:
    """The group with the most distinct raters (ties: the first in display order) — a stable reference,
    unlike the alphabetically first group, which on real data can be a group of one."""
    sizes = pd.Series(rater_ids.to_numpy()).groupby(group_labels.to_numpy()).nunique()
    return max(order, key=lambda g: (sizes.get(g, 0), -order.index(g)))


def _sort(
    store: Source, dataset_id: str, table: pd.DataFrame, attribute: str, attribute2: str | None, extra=()
) -> pd.DataFrame:
    dims = dimension_names(store, dataset_id)
    keys = {"dimension": dims, "group": group_order(store, dataset_id, attribute, list(table.group.unique()))}
    if attribute2:
        keys["group2"] = group_order(store, dataset_id, attribute2, list(table.group2.unique()))
    for column, order in keys.items():
        order = order + sorted(set(table[column]) - set(order))
        table[column] = pd.Categorical(table[column], categories=order, ordered=True)
    table = table.sort_values([*keys, *extra]).reset_index(drop=True)
    for column in keys:
        table[column] = table[column].astype(str)
    return table


def cluster_mean_ci(
    n_raters: np.ndarray,
    n_ratings: np.ndarray,
    total: np.ndarray,
    sum_s2: np.ndarray,
    sum_sn: np.ndarray,
    sum_n2: np.ndarray,
    level: float = 0.95,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean, cluster-robust standard error and CI from per-group totals of per-rater aggregates."""
    g = np.asarray(n_raters, dtype=float)
    n = np.asarray(n_ratings, dtype=float)
    mean = np.asarray(total, dtype=float) / n
    resid = (
        np.asarray(sum_s2, float) - 2 * mean * np.asarray(sum_sn, float) + mean**2 * np.asarray(sum_n2, float)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.where(g > 1, g / (g - 1) * np.maximum(resid, 0.0) / n**2, np.nan)
        se = np.sqrt(var)
        t = stats.t.ppf(0.5 + level / 2, np.maximum(g - 1, 1))
    return mean, se, mean - t * se, mean + t * se


@cached_by_dataset
def group_means(
    store: Store,
    dataset_id: str,
    attribute: str,
    dimensions: list[str] | None = None,
    filter: AnalysisFilter | None = None,
    *,
    attribute2: str | None = None,
    min_group_raters: int = DEFAULT_MIN_GROUP_RATERS,
    level: float = 0.95,
    stored_totals: bool = True,
) -> pd.DataFrame:
    """Mean rating per dimension and group, with a rater-clustered ``level`` confidence interval.

    Returns columns ``dimension, group[, group2], n_raters, n_ratings, mean, sd, se, ci_low, ci_high,
    small_group`` (``small_group``: fewer than ``min_group_raters`` raters — shown, but read with care).
    Without filters and a second attribute, the totals stored with the dataset are read
    (:mod:`pluralign_core.store.group_totals`); ``stored_totals=False`` aggregates the rows regardless
    (same table, to the last bit).
    """
    if not 0 < level < 1:
        raise ValueError(f"confidence level must lie between 0 and 1, got {level}")
    order = [_order_sql("t.grp")] + ([_order_sql("t.grp2")] if attribute2 else [])
    order_params = [dataset_id, attribute] + ([dataset_id, attribute2] if attribute2 else [])
    ordered = f"""
        SELECT t.* FROM totals t LEFT JOIN dimensions d ON d.dataset_id = ? AND d.name = t.dimension
        ORDER BY d.position NULLS LAST, t.dimension, {", ".join(order)}
    """
    # Display order is done in SQL too, so one connection and one query serve the whole call.
    unfiltered = filter is None or filter == AnalysisFilter()
    if stored_totals and unfiltered and not attribute2:
        totals = store.query(*_stored_totals_sql(dataset_id, attribute, dimensions, ordered, order_params))
        if not totals.empty:
            return _finish(totals, attribute2, min_group_raters, level)
        # none stored (a dataset written by other means, or no ratings): aggregate the rows below
    per_rater, params = per_rater_sql(dataset_id, attribute, dimensions, filter, attribute2)
    keys = "dimension, grp" + (", grp2" if attribute2 else "")
    sql = f"""
        WITH totals AS (SELECT {keys}, {TOTALS} FROM ({per_rater}) GROUP BY {keys})
        {ordered}
    """
    totals = store.query(sql, [*params, dataset_id, *order_params])
    return _finish(totals, attribute2, min_group_raters, level)


def _stored_totals_sql(
    dataset_id: str, attribute: str, dimensions: list[str] | None, ordered: str, order_params: list[Any]
) -> tuple[str, list[Any]]:
    """Read the totals that ``write_dataset`` stored (:mod:`~pluralign_core.store.group_totals`)."""
    params: list[Any] = [dataset_id, attribute]
    dimension_sql = ""
    if dimensions:
        dimension_sql = f"AND dimension IN ({', '.join('?' for _ in dimensions)})"
        params += dimensions
    sql = f"""
        WITH totals AS (
            SELECT dimension, grp, n_raters, n_ratings, total, total_sq, sum_s2, sum_sn, sum_n2
            FROM group_totals WHERE dataset_id = ? AND attribute = ? {dimension_sql}
        )
        {ordered}
    """
    return sql, [*params, dataset_id, *order_params]


def _order_sql(column: str) -> str:
    """ORDER BY terms: declared value order first, then other values alphabetically, ``(not given)`` last."""
    declared = "(SELECT any_value(value_order) FROM attributes WHERE dataset_id = ? AND name = ?)"
    return (
        f"coalesce(nullif(list_position({declared}, {column}), 0), "
        f"1000000 + ({column} = '{NOT_GIVEN}')::INTEGER), {column}"
    )


def _finish(totals: pd.DataFrame, attribute2, min_group_raters, level) -> pd.DataFrame:
    totals = totals.rename(columns={"grp": "group", "grp2": "group2"})
    columns = ["dimension", "group", *(["group2"] if attribute2 else [])]
    out_columns = [*columns, "n_raters", "n_ratings", "mean", "sd", "se", "ci_low", "ci_high", "small_group"]
    if totals.empty:
        return pd.DataFrame(columns=out_columns)
    mean, se, low, high = cluster_mean_ci(
        totals.n_raters, totals.n_ratings, totals.total, totals.sum_s2, totals.sum_sn, totals.sum_n2, level
    )
    n = totals.n_ratings.to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(np.maximum(totals.total_sq.to_numpy(float) - n * mean**2, 0) / (n - 1))
    table = totals[columns].copy()
    table["n_raters"] = totals.n_raters.astype(int)
    table["n_ratings"] = totals.n_ratings.astype(int)
    table["mean"], table["sd"], table["se"], table["ci_low"], table["ci_high"] = mean, sd, se, low, high
    table["small_group"] = table.n_raters < min_group_raters
    return table[out_columns]


@cached_by_dataset
def score_distribution(
    store: Store,
    dataset_id: str,
    attribute: str,
    dimensions: list[str] | None = None,
    filter: AnalysisFilter | None = None,
) -> pd.DataFrame:
    """Share of each score per dimension and group (for stacked Likert bars): ``dimension, group, score,
    n_ratings, share``."""
    kept, params = (filter or AnalysisFilter()).ratings_sql(dataset_id, dimensions)
    table = store.query(
        f"""
        WITH kept AS ({kept}),
        pr AS (SELECT dimension, rater_id, score, count(*) AS n FROM kept GROUP BY ALL)
        SELECT pr.dimension, coalesce(a1.value, '{NOT_GIVEN}') AS "group", pr.score,
               sum(pr.n)::BIGINT AS n_ratings
        FROM pr LEFT JOIN rater_attributes a1 ON a1.rater_id = pr.rater_id AND a1.dataset_id = ?
             AND a1.attribute = ?
        GROUP BY ALL
        """,
        [*params, dataset_id, attribute],
    )
    if table.empty:
        return pd.DataFrame(columns=["dimension", "group", "score", "n_ratings", "share"])
    table["score"] = table.score.astype(int)
    table["share"] = table.n_ratings / table.groupby(["dimension", "group"]).n_ratings.transform("sum")
    return _sort(store, dataset_id, table, attribute, None, extra=("score",))
