"""Group differences adjusted for who rated what: a linear mixed model with response fixed effects and
rater random intercepts, fitted by REML.

Model, per dimension (``METHOD``)::

    score = group indicators · β + α_response + u_rater + ε,   u_rater ~ N(0, τ²),  ε ~ N(0, σ²)

The response fixed effects ``α`` absorb how toxic/helpful each response really is, so a coefficient in ``β``
compares raters *on the same responses*; the rater random intercept absorbs each rater's overall leniency
(a rater's ratings are not independent). Group indicators are 0/1 per non-reference group, so a
multi-valued attribute (race) is handled the same way: a rater who lists two races has two indicators set.

Why this fit and not statsmodels MixedLM with one dummy per response: MixedLM takes ~24 s for the 264
responses of the default dataset, and the shortcut it forced (centring only the score within response)
shrank every coefficient by about 1/m (m ≈ ratings per response) and silently set attributes that do not
vary within a response to 0 with p = 1. Here the same model is fitted exactly and fast: with
``V = σ²(I + λ ZZ')`` (``Z`` the rater indicators, λ = τ²/σ²) Woodbury gives
``V⁻¹ = σ⁻²(I − Z diag(λ/(1 + λ n_r)) Z')``, so every quantity REML needs — ``W'V⁻¹W``, ``W'V⁻¹y`` for
``W = [groups | response dummies]`` — comes from per-rater and per-response sums, never an n × responses
matrix. The profiled REML criterion is minimised over ``log λ`` alone; coefficients and standard errors
agree with MixedLM with response dummies to about 1e-5 (the tests hold them to 1%), in 0.7 s for a
dimension five times study size (1,095 raters, 27,375 ratings, 264 responses). Why response *fixed*
effects rather than crossed random effects: the group coefficient must not borrow from responses
(languages, prompt sets) that only some groups rated, and crossed effects in statsmodels (variance
components in one all-encompassing group) took ~40 s per dimension.

**Not identified**: a group indicator is identified only if it varies *within* responses after the other
indicators are accounted for (the within-response centred indicator is not a combination of the others).
When every response was rated by one group only (country, when each country's raters saw answers in
their own language), the response effects absorb the whole group difference, and the row says so with
NaN estimates instead of a coefficient 0 with p = 1. Above ``max_raters`` raters a random sample of raters
(all of their ratings) is fitted; the ``note`` column says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import linalg, optimize, stats
from threadpoolctl import threadpool_limits

from pluralign_core.analysis.filters import AnalysisFilter
from pluralign_core.analysis.result_cache import cached_by_dataset
from pluralign_core.analysis.slices import NOT_GIVEN, group_order, largest_group
from pluralign_core.store.database import Store

METHOD = "linear mixed model: score ~ group + response fixed effects + (1 | rater), REML"
COLUMNS = [
    "dimension", "group", "reference", "coef", "se", "ci_low", "ci_high", "p_value",
    "identified", "n_raters", "n_ratings", "note",
]  # fmt: skip
NOT_WITHIN = (
    "not identified: no response was rated by both this group and the others, so the response effects "
    "absorb the whole difference (compare the % difference, which does not adjust for responses)"
)
COLLINEAR = (
    "not identified: after response effects, this group's indicator is a combination of the other "
    "groups' indicators (choose another reference group)"
)


def _rows(store: Store, dataset_id: str, attribute: str, dimension: str, filter: AnalysisFilter | None):
    kept, params = (filter or AnalysisFilter()).ratings_sql(dataset_id, [dimension])
    ratings = store.query(f"SELECT rater_id, response_id, score::DOUBLE AS score FROM ({kept})", params)
    groups = store.query(
        f"""
        SELECT r.rater_id, coalesce(a.value, '{NOT_GIVEN}') AS grp FROM raters r
        LEFT JOIN rater_attributes a ON a.rater_id = r.rater_id AND a.dataset_id = ? AND a.attribute = ?
        WHERE r.dataset_id = ?
        """,
        [dataset_id, attribute, dataset_id],
    )
    return ratings, groups


@cached_by_dataset
def mixed_model(
    store: Store,
    dataset_id: str,
    attribute: str,
    reference: str | None = None,
    dimensions: list[str] | None = None,
    filter: AnalysisFilter | None = None,
    *,
    max_raters: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Per dimension and non-reference group: the difference from ``reference`` in scale points from the
    linear mixed model ``score ~ group + response fixed effects + (1 | rater)`` (REML), with a Wald CI.

    ``reference`` defaults to the group with the most raters. Groups the model cannot separate from the
    response effects get ``identified = False``, NaN estimates and the reason in ``note``.
    """
    dims = dimensions or [d.name for d in store.dimensions(dataset_id)]
    results = []
    for dimension in dims:
        ratings, groups = _rows(store, dataset_id, attribute, dimension, filter)
        if ratings.empty:
            continue
        notes = []
        raters = ratings.rater_id.unique()
        if len(raters) > max_raters:
            keep = np.random.default_rng(seed).choice(raters, max_raters, replace=False)
            ratings = ratings[ratings.rater_id.isin(keep)]
            notes.append(f"fitted on a random sample of {max_raters:,} of {len(raters):,} raters")
        groups = groups[groups.rater_id.isin(ratings.rater_id.unique())]
        order = group_order(store, dataset_id, attribute, list(groups.grp.unique()))
        chosen = reference or largest_group(groups.rater_id, groups.grp, order)
        if chosen not in order:
            raise ValueError(f"reference group {chosen!r} has no raters here; choose one of {order}")
        results.append(_fit_one(dimension, ratings, groups, order, chosen, notes, level))
    return pd.concat(results, ignore_index=True) if results else pd.DataFrame(columns=COLUMNS)


def _fit_one(dimension, ratings, groups, order, reference, notes, level) -> pd.DataFrame:
    others = [g for g in order if g != reference]
    indicator = pd.crosstab(groups.rater_id, groups.grp).clip(upper=1).reindex(columns=others, fill_value=0)
    x = indicator.reindex(ratings.rater_id).fillna(0).to_numpy(float)
    items = pd.factorize(ratings.response_id)[0]
    raters = pd.factorize(ratings.rater_id)[0]
    reasons = identification(x, items)
    kept = [j for j, reason in enumerate(reasons) if reason is None]
    fit = reml_fit(ratings.score.to_numpy(float), x[:, kept], items, raters) if kept else None
    z = stats.norm.ppf(0.5 + level / 2)
    rows = []
    for j, group in enumerate(others):
        coef = se = p = np.nan
        if fit is not None and j in kept:
            coef, se = fit["beta"][kept.index(j)], fit["se"][kept.index(j)]
            p = float(2 * stats.norm.sf(abs(coef / se))) if se > 0 else np.nan
        rows.append(
            {
                "dimension": dimension,
                "group": group,
                "reference": reference,
                "coef": coef,
                "se": se,
                "ci_low": coef - z * se,
                "ci_high": coef + z * se,
                "p_value": p,
                "identified": reasons[j] is None,
                "n_raters": int(indicator[group].sum()),
                "n_ratings": int(x[:, j].sum()),  # this group's ratings, not the dataset total
                "note": "; ".join(notes + ([reasons[j]] if reasons[j] else [])),
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def identification(x: np.ndarray, items: np.ndarray, tol: float = 1e-9) -> list[str | None]:
    """Per indicator column: None if the model can estimate it next to response effects and the columns
    before it, else the reason. Works on within-response centred columns: a column lies in the span of
    the response dummies and the other columns exactly when its centred version lies in theirs."""
    counts = np.bincount(items)
    centred = x - (np.stack([np.bincount(items, col) for col in x.T], axis=1) / counts[:, None])[items]
    reasons: list[str | None] = []
    basis = np.empty((len(x), 0))
    for column in centred.T:
        scale = np.linalg.norm(column)
        if scale <= tol * max(np.sqrt(len(column)), 1.0):
            reasons.append(NOT_WITHIN)
            continue
        trial = np.column_stack([basis, column / scale])
        if np.linalg.matrix_rank(trial, tol=1e-7) > basis.shape[1]:
            basis = trial
            reasons.append(None)
        else:
            reasons.append(COLLINEAR)
    return reasons


def reml_fit(y: np.ndarray, x: np.ndarray, items: np.ndarray, raters: np.ndarray) -> dict[str, np.ndarray]:
    """REML fit of ``y ~ x + item dummies + (1 | rater)`` from sums per rater and per item (see module
    docstring); returns ``beta``, ``se`` for the columns of ``x`` and the variance components."""
    n, p = x.shape
    n_items, n_raters = items.max() + 1, raters.max() + 1
    w_tw = np.zeros((p + n_items, p + n_items))
    w_tw[:p, :p] = x.T @ x
    x_td = np.stack([np.bincount(items, col, n_items) for col in x.T]) if p else np.zeros((0, n_items))
    w_tw[:p, p:], w_tw[p:, :p] = x_td, x_td.T
    w_tw[p:, p:] = np.diag(np.bincount(items, minlength=n_items).astype(float))
    w_ty = np.concatenate([x.T @ y, np.bincount(items, y, n_items)])
    z_tw = np.zeros((n_raters, p + n_items))
    for j in range(p):
        z_tw[:, j] = np.bincount(raters, x[:, j], n_raters)
    np.add.at(z_tw, (raters, p + items), 1.0)
    z_ty = np.bincount(raters, y, n_raters)
    n_r = np.bincount(raters, minlength=n_raters).astype(float)
    dof = n - (p + n_items)
    if dof <= 0:
        raise ValueError("too few ratings for the mixed model: need more ratings than groups + responses")

    def solve(log_lambda: float):
        lam = np.exp(log_lambda)
        a = lam / (1 + lam * n_r)
        factor = linalg.cho_factor(w_tw - z_tw.T @ (a[:, None] * z_tw))
        rhs = w_ty - z_tw.T @ (a * z_ty)
        beta = linalg.cho_solve(factor, rhs)
        rss = float(y @ y - np.sum(a * z_ty**2) - rhs @ beta)
        return factor, beta, max(rss, 1e-300), lam

    def criterion(log_lambda: float) -> float:
        factor, _, rss, lam = solve(log_lambda)
        logdet = 2 * np.sum(np.log(np.diag(factor[0])))
        return dof * np.log(rss / dof) + np.sum(np.log1p(lam * n_r)) + logdet

    # A few-hundred-square factorisation gains nothing from BLAS threads, and on a busy machine their
    # spinning made each one take 0.3 s instead of 2 ms.
    with threadpool_limits(limits=1, user_api="blas"):
        best = optimize.minimize_scalar(
            criterion, bounds=(-15.0, 8.0), method="bounded", options={"xatol": 1e-6}
        )
        factor, beta, rss, lam = solve(best.x)
    sigma2 = rss / dof
    unit = np.zeros((p + n_items, p))
    unit[:p, :p] = np.eye(p)
    covariance = sigma2 * linalg.cho_solve(factor, unit)[:p, :p]
    return {
        "beta": beta[:p],
        "se": np.sqrt(np.diag(covariance)),
        "sigma2": np.array(sigma2),
        "tau2": np.array(lam * sigma2),
    }
