"""The DuckDB queries behind a preference build: ratings → rater values → histograms → judgement counts.

:mod:`pluralign_core.preferences.build` explains the method; this module only computes its inputs, in
SQL, from one read of the ratings table.

Why integer codes: the kept responses are numbered once (``rc``, in ``response_id`` order, so ``a.rc <
b.rc`` is ``a.response_id < b.response_id``) and their prompts too (``pc``); every later grouping and the
pairwise judgement join run on these integers instead of the id strings, and the ids are joined back only
onto the small results (one row per response, response pair or prompt). On 1M ratings the judgement join
on strings cost about six times its integer form. The split and language filters apply to the 10,000-odd
responses, not to the million ratings. The judgement counts themselves come from the value histograms
by binary search (:mod:`pluralign_core.preferences.pairwise`) rather than a join of every value of A
with every value of B.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pluralign_core.preferences.config import PreferenceConfig
from pluralign_core.preferences.pairwise import judgement_counts

_PROMPT_JOIN = "JOIN prompts p ON p.dataset_id = s.dataset_id AND p.prompt_id = s.prompt_id"
_RATER_JOIN = "JOIN sel_raters r ON r.rater_id = g.rater_id"


def value_sql(config: PreferenceConfig) -> str:
    """SQL for the recoded, centred value of one rating (``c`` = score - midpoint), NULL when dropped."""
    if config.scale == "5-point":
        return "c"
    if config.scale == "3-point":
        return "sign(c)"
    neutral = {"drop": "NULL", "agree": "1.0", "disagree": "-1.0"}[config.neutral_as]
    return f"CASE WHEN c > 0 THEN 1.0 WHEN c < 0 THEN -1.0 ELSE {neutral} END"


def _response_codes(con: Any, config: PreferenceConfig) -> None:
    """``resp``: the dataset's responses in the chosen split and language, numbered (``rc``, ``pc``)."""
    filters, params = ["TRUE"], [config.dataset_id]
    if config.split != "all":
        filters.append("p.split = ?")
        params.append(config.split)
    if config.language is not None:
        filters.append("p.language = ?")
        params.append(config.language)
    prompt_join = _PROMPT_JOIN if len(filters) > 1 else ""
    con.execute(
        f"""
        CREATE TEMP TABLE resp AS
        SELECT s.response_id, s.prompt_id,
               (row_number() OVER (ORDER BY s.response_id))::INTEGER AS rc,
               (dense_rank() OVER (ORDER BY s.prompt_id))::INTEGER AS pc
        FROM responses s {prompt_join}
        WHERE s.dataset_id = ? AND s.prompt_id IS NOT NULL AND {" AND ".join(filters)}
        """,
        params,
    )


def _rated(config: PreferenceConfig, midpoint: float) -> tuple[str, list[Any]]:
    """A subquery of the kept ratings with their response's codes, rater weight and dimension's weighting.

    Read where used (twice) rather than stored: writing its million rows to a temporary table cost more
    than the two reads.
    """
    # Joins that cannot drop or reweigh a rating are left out (write_dataset guarantees every rating's
    # rater is known): the rater join when everyone counts with weight 1.
    everyone = not config.jury and not config.rater_selection.filters
    weight_sql, rater_join = ("1.0::DOUBLE", "") if everyone else ("r.weight", _RATER_JOIN)
    sql = f"""
        (SELECT g.rater_id, s.rc, s.pc, g.dimension, g.score,
                CAST(g.score AS DOUBLE) - ? AS c, {weight_sql} AS weight, d.dim_weight, d.orientation
         FROM ratings g
         {rater_join}
         JOIN sel_dims d ON d.dimension = g.dimension
         JOIN resp s ON s.response_id = g.response_id
         WHERE g.dataset_id = ?)
    """
    return sql, [midpoint, config.dataset_id]


def _judgements(con: Any) -> pd.DataFrame:
    """Weighted judgement counts per response pair of one prompt, with ``n_both`` (raters of both)."""
    hist = con.execute("SELECT pc, rc, value, w FROM hist ORDER BY rc, value").fetchnumpy()
    counts = judgement_counts(*(np.asarray(hist[name]) for name in ("pc", "rc", "value", "w")))
    con.register("pair_counts", pd.DataFrame(counts))
    return con.execute(
        """
        WITH shared AS (
            SELECT a.rc AS rc_a, b.rc AS rc_b, count(*) AS n_both
            FROM rater_value a JOIN rater_value b
              ON a.pc = b.pc AND a.rater_id = b.rater_id AND a.rc < b.rc
            GROUP BY 1, 2)
        SELECT ra.prompt_id, ra.response_id AS response_a, rb.response_id AS response_b,
               c.a_over_b, c.b_over_a, c.total, coalesce(sh.n_both, 0) AS n_both
        FROM pair_counts c
        JOIN resp ra ON ra.rc = c.rc_a
        JOIN resp rb ON rb.rc = c.rc_b
        LEFT JOIN shared sh ON sh.rc_a = c.rc_a AND sh.rc_b = c.rc_b
        """
    ).df()


def query_frames(
    con: Any, config: PreferenceConfig, raters: pd.DataFrame, dims: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """The per-response, per-pair and per-prompt tables a build assembles its rows from."""
    low, high = con.execute(
        "SELECT scale_min, scale_max FROM datasets WHERE dataset_id = ?", [config.dataset_id]
    ).fetchall()[0]
    midpoint = (low + high) / 2
    # The store holds one rating per (rater, response, dimension) (write_dataset refuses repeats), so a
    # plain count(*) says whether a rater rated every chosen dimension: count(DISTINCT) took 4x longer.
    n_dims = len(dims)
    con.register("sel_raters", raters)
    con.register("sel_dims", dims)
    _response_codes(con, config)
    rated, rated_params = _rated(config, midpoint)
    con.execute(
        f"""
        CREATE TEMP TABLE rater_value AS
        SELECT rater_id, rc, any_value(pc) AS pc, any_value(weight) AS weight,
               round(sum(dim_weight * orientation * v) / sum(dim_weight), 9) AS value
        FROM (SELECT *, {value_sql(config)} AS v FROM {rated})
        WHERE v IS NOT NULL
        GROUP BY rater_id, rc
        HAVING count(*) = {n_dims}
        """,
        rated_params,
    )
    con.execute(
        """
        CREATE TEMP TABLE hist AS
        SELECT pc, rc, value, sum(weight) AS w, count(*) AS n
        FROM rater_value GROUP BY pc, rc, value
        """
    )
    responses = con.execute(
        """
        WITH cum AS (
            SELECT *, sum(w) OVER (PARTITION BY rc ORDER BY value
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cw,
                   sum(w) OVER (PARTITION BY rc) AS tw
            FROM hist),
        per_response AS (
            SELECT rc, min(value) FILTER (WHERE cw >= tw * 0.5 - 1e-9 * tw) AS median,
                   round(sum(w * value) / sum(w), 9) AS mean,
                   sum(n)::BIGINT AS n_raters, sum(w) AS weight
            FROM cum GROUP BY rc)
        SELECT s.prompt_id, s.response_id, x.median, x.mean, x.n_raters, x.weight
        FROM per_response x JOIN resp s ON s.rc = x.rc
        """
    ).df()
    judgements = _judgements(con)
    # Mean scores per response and per prompt from one pass over the ratings (the prompt's from its
    # responses' sums: the same whole numbers without a jury, equal to rounding with one).
    con.execute(
        f"""
        CREATE TEMP TABLE response_scores AS
        SELECT rc, any_value(pc) AS pc, dimension, sum(weight * score) AS ws, sum(weight) AS w, count(*) AS n
        FROM {rated} GROUP BY rc, dimension
        """,
        rated_params,
    )
    scores = con.execute(
        """
        SELECT s.response_id, x.dimension, x.ws / x.w AS score
        FROM response_scores x JOIN resp s ON s.rc = x.rc
        """
    ).df()
    prompt_targets = con.execute(
        """
        SELECT p.prompt_id, x.dimension, x.score, x.n
        FROM (SELECT pc, dimension, sum(ws) / sum(w) AS score, sum(n)::BIGINT AS n
              FROM response_scores GROUP BY pc, dimension) x
        JOIN (SELECT DISTINCT pc, prompt_id FROM resp) p ON p.pc = x.pc
        """
    ).df()
    n_ratings = int(con.execute("SELECT sum(n) FROM response_scores").fetchall()[0][0] or 0)
    n_raters_used, used_weight, used_weight_sq = con.execute(
        """
        SELECT count(*), sum(w), sum(w * w)
        FROM (SELECT any_value(weight) AS w FROM rater_value GROUP BY rater_id)
        """
    ).fetchall()[0]
    # Kish's effective sample size over the raters whose ratings enter the pairs, so that it can never
    # exceed the rater count shown beside it (raters selected but without usable ratings count for nothing).
    ess = float(used_weight) ** 2 / float(used_weight_sq) if used_weight_sq else 0.0
    prompt_ids = sorted(set(responses.prompt_id))
    texts = con.execute(
        """
        SELECT s.response_id, s.text AS response_text, p.prompt_id, p.text AS prompt_text
        FROM responses s JOIN prompts p ON p.dataset_id = s.dataset_id AND p.prompt_id = s.prompt_id
        WHERE s.dataset_id = ?
        """,
        [config.dataset_id],
    ).df()
    split_sql = "TRUE" if config.split == "all" else "p.split = ?"
    params = [config.dataset_id, *([] if config.split == "all" else [config.split])]
    prompt_rows = con.execute(
        f"""
        SELECT p.prompt_id, p.text AS prompt_text, p.language, p.topic FROM prompts p
        WHERE p.dataset_id = ? AND {split_sql} AND (? IS NULL OR p.language = ?) ORDER BY p.prompt_id
        """,
        [*params, config.language, config.language],
    ).df()
    return {
        "responses": responses,
        "judgements": judgements,
        "scores": scores,
        "prompt_targets": prompt_targets,
        "texts": texts,
        "prompt_rows": prompt_rows,
        "n_ratings": pd.DataFrame(
            {"n": [n_ratings], "raters": [int(n_raters_used)], "prompts": [len(prompt_ids)], "ess": [ess]}
        ),
    }
