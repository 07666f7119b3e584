"""Ratings files shaped unlike the study's, built in code, for driving the import wizard and every page.

Real public ratings data rarely looks like the study: texts without prompts, one dimension with its own
name and its own labels, no held-out split, groups with one rater, attributes with dozens of levels.
Each shape here is a wide CSV (one row per rater × text) as a user would upload it; the page tests import
it through the Data page's wizard and then open every page on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

EDUCATION = ("less than high school", "high school", "some college", "bachelor", "graduate")
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
STATES = tuple(f"state {chr(ord('A') + i)}{chr(ord('a') + i)}" for i in range(24))
OFFENSIVE_LABELS = (
    "not offensive",
    "slightly offensive",
    "moderately offensive",
    "offensive",
    "very offensive",
)


@dataclass(frozen=True)
class Shape:
    """One dataset shape: its file, and what the wizard should guess (or be told) about it."""

    name: str
    frame: pd.DataFrame
    rating_columns: tuple[str, ...]
    prompts: bool
    notes: str
    wizard: dict[str, object] = field(default_factory=dict)

    def csv(self) -> bytes:
        return self.frame.to_csv(index=False).encode("utf-8")


def _raters(n: int, rng: np.random.Generator, *, lone_race: bool, many_levels: bool) -> pd.DataFrame:
    """Raters with gender, age band, education and race; the last rater alone in the 'Pacific Islander'
    group, and the last two 'Native American' raters share one gender (a 2-rater cross cell)."""
    rows = []
    for i in range(n):
        race = ["White", "Black", "Asian", "Hispanic"][i % 4]
        gender = ["woman", "man"][i % 2]
        if lone_race and i == n - 1:
            race = "Pacific Islander"
        if lone_race and i in (n - 3, n - 5):
            race, gender = "Native American", "woman"
        row = {
            "worker_id": f"w{i:03d}",
            "gender": gender,
            "age_band": AGE_BANDS[int(rng.integers(0, len(AGE_BANDS)))],
            "education": EDUCATION[i % len(EDUCATION)],
            "race": race,
        }
        if many_levels:
            row["state"] = STATES[(i + len(STATES) // 2) % len(STATES)]
        rows.append(row)
    return pd.DataFrame(rows)


def _ratings(raters: pd.DataFrame, items: pd.DataFrame, per_rater: int, rng) -> pd.DataFrame:
    rows = []
    for _, rater in raters.iterrows():
        chosen = rng.choice(len(items), size=min(per_rater, len(items)), replace=False)
        for j in sorted(chosen):
            rows.append({**rater.to_dict(), **items.iloc[j].to_dict()})
    return pd.DataFrame(rows)


def standalone(seed: int = 0) -> Shape:
    """No prompts (every text its own item), one 'offensiveness' dimension whose labels are not agreement
    labels, a 1-rater race group, a 2-rater race × gender cell, ordered education and age bands."""
    rng = np.random.default_rng(seed)
    raters = _raters(30, rng, lone_race=True, many_levels=False)
    items = pd.DataFrame(
        {
            "text_id": [f"t{j:02d}" for j in range(16)],
            "text": [f"Standalone comment number {j}." for j in range(16)],
        }
    )
    frame = _ratings(raters, items, 8, rng)
    frame["offensiveness"] = rng.integers(1, 6, len(frame))
    frame = frame[
        ["worker_id", "text_id", "text", "offensiveness", "gender", "age_band", "education", "race"]
    ]
    return Shape(
        "standalone",
        frame,
        ("offensiveness",),
        prompts=False,
        notes="no prompts; one non-study dimension; 1-rater group; 2-rater cross cell",
        wizard={"dimension_label": "Offensiveness", "lower_better": True, "scale_labels": OFFENSIVE_LABELS},
    )


def _prompted(n_prompts: int, per_prompt: int) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "prompt_id": f"p{j}",
                "prompt": f"Question number {j}?",
                "response_id": f"p{j}-r{k}",
                "response": f"Answer {k} to question {j}.",
            }
            for j in range(n_prompts)
            for k in range(per_prompt)
        ]
    )


def one_dimension_no_split(seed: int = 1) -> Shape:
    """Prompts shared by three responses each, all in the training split, one 'clarity' dimension."""
    rng = np.random.default_rng(seed)
    raters = _raters(16, rng, lone_race=False, many_levels=False)
    items = _prompted(4, 3)
    items["split"] = "train"
    items["language"] = "en"
    frame = _ratings(raters, items, 12, rng)
    frame["clarity"] = rng.integers(1, 6, len(frame))
    return Shape(
        "one_dimension_no_split", frame, ("clarity",), prompts=True, notes="one dimension; no held-out split"
    )


def small_groups(seed: int = 2) -> Shape:
    """Study dimensions with a split, but a 1-rater race group and a 2-rater race × gender cell."""
    rng = np.random.default_rng(seed)
    raters = _raters(14, rng, lone_race=True, many_levels=False)
    items = _prompted(4, 3)
    items["split"] = np.where(items.prompt_id == "p3", "heldout", "train")
    items["language"] = "en"
    frame = _ratings(raters, items, 12, rng)
    frame["toxicity"] = rng.integers(1, 6, len(frame))
    frame["helpfulness"] = rng.integers(1, 6, len(frame))
    return Shape(
        "small_groups", frame, ("toxicity", "helpfulness"), prompts=True, notes="1-rater group; 2-rater cell"
    )


def many_levels(seed: int = 3) -> Shape:
    """An attribute with 24 levels beside a study dimension; no prompt language.

    The first twelve states (alphabetically) have one rater each and the last twelve two, so a page that
    takes the first level as its reference compares every group with a single rater."""
    rng = np.random.default_rng(seed)
    raters = _raters(36, rng, lone_race=False, many_levels=True)
    items = _prompted(3, 3)
    items["split"] = np.where(items.prompt_id == "p2", "heldout", "train")
    frame = _ratings(raters, items, 9, rng)
    frame["toxicity"] = rng.integers(1, 6, len(frame))
    return Shape("many_levels", frame, ("toxicity",), prompts=True, notes="an attribute with 24 levels")


SHAPES = {shape.__name__: shape for shape in (standalone, one_dimension_no_split, small_groups, many_levels)}
