"""The item browser's statistics: prompts, their answers, and how much groups disagree on each prompt.

An *item* is a prompt with its answers; a text rated without a prompt (a standalone comment) is an item of
its own with one answer, so the browser works on data that has no prompts at all.

**Distributions.** For one item, every answer gets the count of each scale point per group of a chosen
attribute, and the group's mean rating with a 95% CI clustered by rater (the same estimator as
:mod:`pluralign_core.analysis.slices`; a group of one rater has a mean but no interval).

**Disagreement score.** Per item and dimension, each rater's ratings of the item's answers are averaged
into one value per rater, so raters are the independent units. For every pair of groups with at least two
raters each, the difference of the groups' means of those per-rater values gets a Welch interval
(Satterthwaite degrees of freedom). The item's score is the largest absolute difference over the pairs,
oriented so that it is positive (``group_high`` minus ``group_low``).

Picking the largest of several differences, and then the largest items out of many, would make naive
intervals far too optimistic, so two corrections apply:

* within an item, a Bonferroni factor over its ``k`` estimable pairs (the intervals of all pairs cover
  together, so the selected pair's does too);
* across the ``m`` items listed, ``correction`` = ``"bh"`` (default) gives false-coverage-rate adjusted
  intervals (Benjamini & Yekutieli 2005: level ``1 − R·α/(m·k)`` with ``R`` the items the
  Benjamini–Hochberg procedure rejects), ``"bonferroni"`` level ``1 − α/(m·k)``, ``"none"`` only the
  within-item factor.

An item is **resolved** only when its interval excludes 0; with ``"bh"`` that is exactly the set the
Benjamini–Hochberg procedure selects. Raters who list several values of a multi-select attribute (race)
count in each of their groups, as everywhere in the analysis; a rater shared by the two groups of a pair
makes their means positively correlated, so the Welch variance (which ignores that) errs on the wide side.
Raters without a value form ``(not given)``: shown in the distributions, left out of the disagreement
score (it is not a group whose view one can name).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from pluralign_core.analysis.slices import NOT_GIVEN, cluster_mean_ci, group_order
from pluralign_core.store.database import Store

CORRECTIONS = ("bh", "bonferroni", "none")
MIN_PAIR_RATERS = 2
DEFAULT_MIN_GROUP_RATERS = 5
ITEM_COLUMNS = ["item_id", "kind", "text", "language", "topic", "split", "n_answers", "n_raters"]
SCORE_COLUMNS = [
    "group_high",
    "group_low",
    "mean_high",
    "mean_low",
    "n_raters_high",
    "n_raters_low",
    "diff",
    "ci_low",
    "ci_high",
    "ci_level",
    "p_value",
    "p_adjusted",
    "pairs",
    "estimable",
    "resolved",
]


@dataclass(frozen=True)
class ItemFilter:
    """Which items to list: prompt languages, topics and splits (all when empty).

    A standalone text has no topic or split, so it is dropped as soon as either is filtered; its language
    is the text's own.
    """

    languages: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    splits: tuple[str, ...] = ()

    def where_sql(self) -> tuple[str, list[Any]]:
        clauses, params = ["TRUE"], []
        for column, values in (("language", self.languages), ("topic", self.topics), ("split", self.splits)):
            if values:
                clauses.append(f"{column} IN ({', '.join('?' for _ in values)})")
                params.extend(values)
        return " AND ".join(clauses), params


def _items_sql(dataset_id: str, item_filter: ItemFilter | None) -> tuple[str, list[Any]]:
    """One row per response with its item's id, kind, text and facets, restricted by the filter."""
    where, params = (item_filter or ItemFilter()).where_sql()
    sql = f"""
        SELECT * FROM (
            SELECT s.response_id, coalesce(s.prompt_id, s.response_id) AS item_id,
                   CASE WHEN s.prompt_id IS NULL THEN 'text' ELSE 'prompt' END AS kind,
                   coalesce(p.text, s.text) AS text, coalesce(p.language, s.language) AS language,
                   p.topic, p.split
            FROM responses s LEFT JOIN prompts p ON p.dataset_id = s.dataset_id AND p.prompt_id = s.prompt_id
            WHERE s.dataset_id = ?
        ) WHERE {where}
    """
    return sql, [dataset_id, *params]


def list_items(store: Store, dataset_id: str, item_filter: ItemFilter | None = None) -> pd.DataFrame:
    """``item_id, kind, text, language, topic, split, n_answers, n_raters`` for every item kept."""
    items, params = _items_sql(dataset_id, item_filter)
    table = store.query(
        f"""
        WITH items AS ({items})
        SELECT i.item_id, any_value(i.kind) AS kind, any_value(i.text) AS text,
               any_value(i.language) AS language, any_value(i.topic) AS topic, any_value(i.split) AS split,
               count(DISTINCT i.response_id) AS n_answers, count(DISTINCT g.rater_id) AS n_raters
        FROM items i LEFT JOIN ratings g ON g.dataset_id = ? AND g.response_id = i.response_id
        GROUP BY i.item_id ORDER BY i.item_id
        """,
        [*params, dataset_id],
    )
    if table.empty:
        return pd.DataFrame(columns=ITEM_COLUMNS)
    table[["n_answers", "n_raters"]] = table[["n_answers", "n_raters"]].astype(int)
    return table[ITEM_COLUMNS]


def _group_join(dataset_id: str, attribute: str) -> tuple[str, list[Any]]:
    join = "LEFT JOIN rater_attributes a ON a.dataset_id = ? AND a.rater_id = pr.rater_id AND a.attribute = ?"
    return join, [dataset_id, attribute]


def group_rater_means(
    store: Store, dataset_id: str, attribute: str, dimension: str, item_filter: ItemFilter | None = None
) -> pd.DataFrame:
    """Per item and group: ``n_raters``, the mean and sample variance of the raters' own mean ratings."""
    items, params = _items_sql(dataset_id, item_filter)
    join, join_params = _group_join(dataset_id, attribute)
    table = store.query(
        f"""
        WITH items AS ({items}),
        pr AS (
            SELECT i.item_id, g.rater_id, avg(g.score) AS m
            FROM ratings g JOIN items i ON i.response_id = g.response_id
            WHERE g.dataset_id = ? AND g.dimension = ?
            GROUP BY i.item_id, g.rater_id
        )
        SELECT pr.item_id, coalesce(a.value, '{NOT_GIVEN}') AS "group", count(*) AS n_raters,
               avg(pr.m) AS mean, var_samp(pr.m) AS var
        FROM pr {join} GROUP BY ALL
        """,
        [*params, dataset_id, dimension, *join_params],
    )
    table["n_raters"] = table.n_raters.astype(int)
    return table


def welch(mean_a, var_a, n_a, mean_b, var_b, n_b) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Difference ``a − b``, its standard error and Welch–Satterthwaite degrees of freedom (arrays)."""
    mean_a, var_a, n_a, mean_b, var_b, n_b = (
        np.asarray(x, dtype=float) for x in (mean_a, var_a, n_a, mean_b, var_b, n_b)
    )
    va, vb = var_a / n_a, var_b / n_b
    se = np.sqrt(va + vb)
    with np.errstate(invalid="ignore", divide="ignore"):
        df = (va + vb) ** 2 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1))
    df = np.where(se > 0, df, n_a + n_b - 2)  # no spread at all: df of the pooled test
    return mean_a - mean_b, se, df


def _pairs(groups: pd.DataFrame, min_group_raters: int) -> pd.DataFrame:
    """Every unordered pair of estimable groups within each item, with the Welch difference."""
    enough = groups.n_raters >= max(min_group_raters, MIN_PAIR_RATERS)
    usable = groups[enough & (groups.group != NOT_GIVEN)]
    pairs = usable.merge(usable, on="item_id", suffixes=("_a", "_b"))
    pairs = pairs[pairs.group_a < pairs.group_b]
    if pairs.empty:
        return pairs.assign(diff=[], se=[], df=[])
    diff, se, df = welch(
        pairs.mean_a, pairs.var_a, pairs.n_raters_a, pairs.mean_b, pairs.var_b, pairs.n_raters_b
    )
    return pairs.assign(diff=diff, se=se, df=df)


def _p_value(diff: np.ndarray, se: np.ndarray, df: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(se > 0, np.abs(diff) / se, np.where(diff == 0, 0.0, np.inf))
    return 2 * stats.t.sf(t, df)


def _largest_pair(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per item: the pair with the largest absolute difference, oriented high minus low, and ``pairs``."""
    pairs = pairs.assign(abs_diff=pairs["diff"].abs())
    counts = pairs.groupby("item_id").size().rename("pairs")
    best = pairs.sort_values(["abs_diff", "group_a", "group_b"], ascending=[False, True, True])
    best = best.drop_duplicates("item_id").set_index("item_id").join(counts)
    flip = best["diff"] < 0
    out = pd.DataFrame(index=best.index)
    for side, (a, b) in (("high", ("a", "b")), ("low", ("b", "a"))):
        for column in ("group", "mean", "n_raters"):
            out[f"{column}_{side}"] = best[f"{column}_{a}"].where(~flip, best[f"{column}_{b}"])
    out["diff"], out["se"], out["df"], out["pairs"] = best.abs_diff, best.se, best.df, best.pairs
    return out.reset_index()


def _corrected(best: pd.DataFrame, correction: str, alpha: float) -> pd.DataFrame:
    """Intervals, p-values adjusted within and across items, and ``resolved`` (interval excludes 0)."""
    m = len(best)
    p_pair = _p_value(best["diff"].to_numpy(), best.se.to_numpy(), best.df.to_numpy())
    p_item = np.minimum(1.0, p_pair * best.pairs.to_numpy())
    if correction == "none":
        share, p_adjusted = np.ones(m), p_item
    elif correction == "bonferroni":
        share, p_adjusted = np.full(m, 1 / m), np.minimum(1.0, p_item * m)
    else:
        ranked = np.sort(p_item)
        passed = np.nonzero(ranked <= alpha * np.arange(1, m + 1) / m)[0]
        rejected = int(passed[-1]) + 1 if passed.size else 0
        share = np.full(m, max(rejected, 1) / m)
        order = np.argsort(p_item)
        stepped = np.minimum.accumulate((p_item[order] * m / np.arange(1, m + 1))[::-1])[::-1]
        p_adjusted = np.empty(m)
        p_adjusted[order] = np.minimum(1.0, stepped)
    tail = alpha * share / best.pairs.to_numpy()
    level = 1 - tail
    half = stats.t.ppf(1 - tail / 2, best.df.to_numpy()) * best.se.to_numpy()
    low, high = best["diff"].to_numpy() - half, best["diff"].to_numpy() + half
    return best.assign(
        ci_low=low, ci_high=high, ci_level=level, p_value=p_pair, p_adjusted=p_adjusted, resolved=low > 0
    )


def item_disagreement(
    store: Store,
    dataset_id: str,
    attribute: str,
    dimension: str,
    item_filter: ItemFilter | None = None,
    *,
    correction: str = "bh",
    alpha: float = 0.05,
    min_group_raters: int = DEFAULT_MIN_GROUP_RATERS,
) -> pd.DataFrame:
    """Every listed item with its disagreement score on ``dimension`` between groups of ``attribute``.

        Columns: the :func:`list_items` columns, then ``group_high, group_low, mean_high, mean_low,
        n_raters_high, n_raters_low, diff, ci_low, ci_high, ci_level, p_value, p_adjusted, pairs, estimable,
        resolved``; sorted by ``diff``, largest first; items without two groups of ``min_group_raters`` raters
    last (NaN).
    """
    if correction not in CORRECTIONS:
        raise ValueError(f"unknown correction {correction!r}; use one of {list(CORRECTIONS)}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie between 0 and 1, got {alpha}")
    items = list_items(store, dataset_id, item_filter)
    groups = group_rater_means(store, dataset_id, attribute, dimension, item_filter)
    pairs = _pairs(groups, min_group_raters)
    if pairs.empty:
        scored = pd.DataFrame(columns=["item_id", *SCORE_COLUMNS])
    else:
        scored = _corrected(_largest_pair(pairs), correction, alpha)
        scored["estimable"] = True
    table = items.merge(scored.drop(columns=["se", "df"], errors="ignore"), on="item_id", how="left")
    table["estimable"] = table.estimable.eq(True)
    table["resolved"] = table.resolved.eq(True)
    table = table.sort_values(["diff", "item_id"], ascending=[False, True], na_position="last")
    return table[[*ITEM_COLUMNS, *SCORE_COLUMNS]].reset_index(drop=True)


def item_answers(store: Store, dataset_id: str, item_id: str) -> pd.DataFrame:
    """``response_id, text, n_raters``: the answers of one item (a standalone text is its own answer)."""
    return store.query(
        """
        SELECT s.response_id, s.text, count(DISTINCT g.rater_id) AS n_raters
        FROM responses s LEFT JOIN ratings g ON g.dataset_id = s.dataset_id AND g.response_id = s.response_id
        WHERE s.dataset_id = ? AND coalesce(s.prompt_id, s.response_id) = ?
        GROUP BY s.response_id, s.text ORDER BY s.response_id
        """,
        [dataset_id, item_id],
    )


@dataclass(frozen=True)
class AnswerDistributions:
    """How each group rated each answer of one item on one dimension.

    ``counts``: ``response_id, group, score, n_ratings, share`` (every scale point present, zeros included);
    ``means``: ``response_id, group, n_raters, n_ratings, mean, ci_low, ci_high`` (95% CI clustered by
    rater; NaN for a group of one rater). Groups in the attribute's display order.
    """

    counts: pd.DataFrame
    means: pd.DataFrame
    groups: list[str]


def answer_distributions(
    store: Store,
    dataset_id: str,
    item_id: str,
    attribute: str,
    dimension: str,
    *,
    level: float = 0.95,
) -> AnswerDistributions:
    """Counts per scale point and mean with CI, per answer of ``item_id`` and group of ``attribute``."""
    join, join_params = _group_join(dataset_id, attribute)
    per_rater = store.query(
        f"""
        WITH pr AS (
            SELECT g.response_id, g.rater_id, g.score, count(*) AS n
            FROM ratings g JOIN responses s ON s.dataset_id = g.dataset_id AND s.response_id = g.response_id
            WHERE g.dataset_id = ? AND g.dimension = ? AND coalesce(s.prompt_id, s.response_id) = ?
            GROUP BY ALL
        )
        SELECT pr.response_id, coalesce(a.value, '{NOT_GIVEN}') AS "group", pr.rater_id, pr.score, pr.n
        FROM pr {join}
        """,
        [dataset_id, dimension, item_id, *join_params],
    )
    info = store.dataset_info(dataset_id)
    groups = group_order(store, dataset_id, attribute, sorted(set(per_rater["group"])))
    if per_rater.empty:
        empty_counts = pd.DataFrame(columns=["response_id", "group", "score", "n_ratings", "share"])
        empty_means = pd.DataFrame(
            columns=["response_id", "group", "n_raters", "n_ratings", "mean", "ci_low", "ci_high"]
        )
        return AnswerDistributions(empty_counts, empty_means, groups)
    per_rater["score"] = per_rater.score.astype(int)
    scores = range(info.scale.minimum, info.scale.maximum + 1)
    counts = per_rater.groupby(["response_id", "group", "score"]).n.sum()
    cells = counts.reset_index()[["response_id", "group"]].drop_duplicates()
    full = pd.MultiIndex.from_tuples(
        [(r, g, s) for r, g in cells.itertuples(index=False) for s in scores],
        names=["response_id", "group", "score"],
    )
    counts = counts.reindex(full, fill_value=0).rename("n_ratings").reset_index()
    counts["n_ratings"] = counts.n_ratings.astype(int)
    totals = counts.groupby(["response_id", "group"]).n_ratings.transform("sum")
    counts["share"] = counts.n_ratings / totals
    means = _means(per_rater, level)
    rank = {g: i for i, g in enumerate(groups)}
    counts = counts.sort_values(["response_id", "group", "score"], key=_by_rank(rank)).reset_index(drop=True)
    means = means.sort_values(["response_id", "group"], key=_by_rank(rank)).reset_index(drop=True)
    return AnswerDistributions(counts, means, groups)


def _by_rank(rank: dict[str, int]):
    return lambda column: column.map(rank) if column.name == "group" else column


def _means(per_rater: pd.DataFrame, level: float) -> pd.DataFrame:
    """Rater-clustered mean and CI per answer and group from one row per (answer, group, rater, score)."""
    rows = per_rater.assign(s=per_rater.score * per_rater.n)
    rater = rows.groupby(["response_id", "group", "rater_id"], as_index=False)[["n", "s"]].sum()
    rater = rater.assign(s2=rater.s**2, sn=rater.s * rater.n, n2=rater.n**2)
    totals = rater.groupby(["response_id", "group"], as_index=False).agg(
        n_raters=("rater_id", "size"),
        n_ratings=("n", "sum"),
        total=("s", "sum"),
        sum_s2=("s2", "sum"),
        sum_sn=("sn", "sum"),
        sum_n2=("n2", "sum"),
    )
    mean, _se, low, high = cluster_mean_ci(
        totals.n_raters, totals.n_ratings, totals.total, totals.sum_s2, totals.sum_sn, totals.sum_n2, level
    )
    return totals[["response_id", "group", "n_raters", "n_ratings"]].assign(
        mean=mean, ci_low=low, ci_high=high
    )
