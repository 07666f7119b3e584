"""Design-choice comparisons with honest uncertainty: paired differences, bootstrap CIs, Holm, the study.

The study reports comparisons ("preserving disagreement gave ~53 % more toxicity reduction than majority
voting"). A grid measures each cell's *reduction* per held-out prompt and training seed: the start model's
score on a prompt minus the tuned model's score on it, in the scorer's own points (scale points for a reward
model, probability for the classifier). Positive = less toxic than the start.

Rules, and why:

* **Paired.** Two cells compared are evaluated on the same prompts with the same seeds, so the comparison is
  made on the per-prompt, per-seed differences (prompt difficulty and seed luck cancel) rather than on two
  independent means.
* **Two-stage bootstrap** for the 95 % CI: resample prompts, then seeds (the seed index is shared by both
  arms); the point estimate is the mean over prompts and seeds.
* **Holm** across the comparisons of one report (``statsmodels``' ``multipletests``), on two-sided
  bootstrap p-values; a comparison is *resolved* when its Holm-adjusted p is below 0.05 and its CI excludes 0.
* **A ratio only where it means something**: ``(A − B) / |B|`` is given only when B's own reduction CI
  excludes 0 (otherwise the ratio explodes: 3,686 % was once shown).
* **Agrees with the study** only when the difference is resolved, its sign is the study's, *and both arms
  actually reduced toxicity* (each arm's reduction CI lies above 0): two arms that both made the model more
  toxic do not "agree" with a finding about reductions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

DEFAULT_BOOTSTRAP = 2000
ALPHA = 0.05
COMPARISON_COLUMNS = [
    "name",
    "a_reduction",
    "a_ci_low",
    "a_ci_high",
    "b_reduction",
    "b_ci_low",
    "b_ci_high",
    "difference",
    "ci_low",
    "ci_high",
    "p_value",
    "p_holm",
    "resolved",
    "relative_pct",
    "study_sign",
    "matches_study",
    "n_prompts",
    "n_seeds",
]


@dataclass(frozen=True)
class Comparison:
    """Arm A against arm B; ``study_sign`` is +1 when the study found A > B, −1 for A < B, 0 for no claim."""

    name: str
    a: pd.DataFrame
    b: pd.DataFrame
    study_sign: int = 1


def reduction_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    """Prompts × seeds table of reductions from long rows ``prompt_id, seed, reduction`` (seeds averaged
    over duplicate prompt rows, e.g. several generations of one prompt)."""
    missing = {"prompt_id", "seed", "reduction"} - set(frame.columns)
    if missing:
        raise ValueError(f"reduction rows need the columns {sorted(missing)}")
    return frame.pivot_table(index="prompt_id", columns="seed", values="reduction", aggfunc="mean")


def _aligned(a: pd.DataFrame, b: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Both arms on their shared prompts and seeds (a paired design needs both), as prompt × seed arrays."""
    ma, mb = reduction_matrix(a), reduction_matrix(b)
    prompts = ma.index.intersection(mb.index)
    seeds = ma.columns.intersection(mb.columns)
    if not len(prompts) or not len(seeds):
        raise ValueError("the two arms share no prompt and seed, so they cannot be compared pairwise")
    va = ma.loc[prompts, seeds].to_numpy(float)
    vb = mb.loc[prompts, seeds].to_numpy(float)
    keep = ~(np.isnan(va).any(axis=1) | np.isnan(vb).any(axis=1))
    if not keep.any():
        raise ValueError("no prompt has a reduction for every shared seed in both arms")
    return va[keep], vb[keep]


def two_stage_draws(values: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Bootstrap means of a prompt × seed array: resample prompts, then seeds (``n_boot`` draws)."""
    rng = np.random.default_rng(seed)
    n_prompts, n_seeds = values.shape
    prompt_idx = rng.integers(0, n_prompts, size=(n_boot, n_prompts))
    seed_idx = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
    per_prompt = values[prompt_idx]  # draws × prompts × seeds
    chosen = np.take_along_axis(per_prompt, seed_idx[:, None, :].repeat(n_prompts, axis=1), axis=2)
    return chosen.mean(axis=(1, 2))


def _interval(draws: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(low), float(high)


def _two_sided_p(draws: np.ndarray) -> float:
    below = (np.sum(draws <= 0) + 1) / (len(draws) + 1)
    above = (np.sum(draws >= 0) + 1) / (len(draws) + 1)
    return float(min(1.0, 2 * min(below, above)))


def compare(comparison: Comparison, *, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> dict[str, Any]:
    """One paired comparison (before Holm): each arm's reduction and A − B, with 95 % CIs and a p-value."""
    va, vb = _aligned(comparison.a, comparison.b)
    draws_a = two_stage_draws(va, n_boot, seed)
    draws_b = two_stage_draws(vb, n_boot, seed)  # same seed: the same prompts and seeds for both arms
    diff = draws_a - draws_b
    a_low, a_high = _interval(draws_a)
    b_low, b_high = _interval(draws_b)
    low, high = _interval(diff)
    b_point = float(vb.mean())
    relative = (float(va.mean()) - b_point) / abs(b_point) * 100 if (b_low > 0 or b_high < 0) else np.nan
    return {
        "name": comparison.name,
        "a_reduction": float(va.mean()),
        "a_ci_low": a_low,
        "a_ci_high": a_high,
        "b_reduction": b_point,
        "b_ci_low": b_low,
        "b_ci_high": b_high,
        "difference": float(va.mean() - vb.mean()),
        "ci_low": low,
        "ci_high": high,
        "p_value": _two_sided_p(diff),
        "relative_pct": relative,
        "study_sign": int(comparison.study_sign),
        "n_prompts": int(va.shape[0]),
        "n_seeds": int(va.shape[1]),
    }


def compare_all(
    comparisons: Sequence[Comparison], *, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0
) -> pd.DataFrame:
    """Every comparison with Holm-adjusted p-values, ``resolved`` and ``matches_study`` (rules above)."""
    from statsmodels.stats.multitest import multipletests

    rows = [compare(c, n_boot=n_boot, seed=seed) for c in comparisons]
    if not rows:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    table = pd.DataFrame(rows)
    table["p_holm"] = multipletests(table.p_value.to_numpy(), method="holm")[1]
    excludes_zero = (table.ci_low > 0) | (table.ci_high < 0)
    table["resolved"] = excludes_zero & (table.p_holm < ALPHA)
    both_reduced = (table.a_ci_low > 0) & (table.b_ci_low > 0)
    sign_matches = np.sign(table.difference) == table.study_sign
    table["matches_study"] = table.resolved & sign_matches & both_reduced & (table.study_sign != 0)
    return table[COMPARISON_COLUMNS]
