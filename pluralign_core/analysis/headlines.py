"""The three demographic headline effects published by Ali et al. (arXiv 2511.14476), as data.

The simulated default dataset is calibrated to reproduce them, and the Explore page shows how close any
dataset comes: for an imported real dataset the same table says whether the published effects hold there.
An effect is the percent difference between two groups' mean scores over all their ratings on one
dimension, ``100 * (mean(group) / mean(reference) - 1)``. For a multi-valued attribute (race) a rater is
in a group when any of their values is in it, so a rater who selected both Black and White counts in both.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pluralign_core.store.database import Store

HEADLINE_COLUMNS = [
    "name",
    "dimension",
    "attribute",
    "group",
    "reference",
    "published_pct",
    "measured_pct",
    "difference_pts",
    "group_mean",
    "reference_mean",
    "group_raters",
    "reference_raters",
]


@dataclass(frozen=True)
class Headline:
    """One published effect: raters with ``attribute`` in ``group`` vs in ``reference`` on ``dimension``."""

    name: str
    dimension: str
    attribute: str
    group: tuple[str, ...]
    reference: tuple[str, ...]
    published_pct: float

    def __post_init__(self) -> None:
        if not self.group or not self.reference:
            raise ValueError(f"headline {self.name!r}: group and reference need at least one value each")
        if set(self.group) & set(self.reference):
            raise ValueError(f"headline {self.name!r}: a value cannot be in both group and reference")


HEADLINES: tuple[Headline, ...] = (
    Headline("Men vs women: toxicity", "toxicity", "gender", ("man",), ("woman",), -18.0),
    Headline(
        "Conservative vs liberal: emotional awareness",
        "emotional_awareness",
        "political_leaning",
        ("conservative", "very conservative", "right"),
        ("liberal", "very liberal", "left"),
        27.9,
    ),
    Headline(
        "Black vs White: emotional awareness", "emotional_awareness", "race", ("Black",), ("White",), 44.0
    ),
)

_SQL = """
WITH members AS (
    SELECT rater_id,
           bool_or(list_contains($group, value)) AS in_group,
           bool_or(list_contains($reference, value)) AS in_reference
    FROM rater_attributes
    WHERE dataset_id = $dataset AND attribute = $attribute
    GROUP BY rater_id
)
SELECT avg(g.score) FILTER (WHERE m.in_group) AS group_mean,
       avg(g.score) FILTER (WHERE m.in_reference) AS reference_mean,
       count(DISTINCT g.rater_id) FILTER (WHERE m.in_group) AS group_raters,
       count(DISTINCT g.rater_id) FILTER (WHERE m.in_reference) AS reference_raters
FROM ratings g JOIN members m USING (rater_id)
WHERE g.dataset_id = $dataset AND g.dimension = $dimension AND (m.in_group OR m.in_reference)
"""


def measure_headline(store: Store, dataset_id: str, headline: Headline) -> dict[str, object]:
    """One row of :func:`measure_headlines`; the percentages are None when a group has no ratings."""
    params = {
        "dataset": dataset_id,
        "attribute": headline.attribute,
        "dimension": headline.dimension,
        "group": list(headline.group),
        "reference": list(headline.reference),
    }
    with store.connect(read_only=True) as con:
        group_mean, reference_mean, n_group, n_reference = con.execute(_SQL, params).fetchone()
    measured = None
    if group_mean is not None and reference_mean:
        measured = 100.0 * (group_mean / reference_mean - 1.0)
    return {
        "name": headline.name,
        "dimension": headline.dimension,
        "attribute": headline.attribute,
        "group": ", ".join(headline.group),
        "reference": ", ".join(headline.reference),
        "published_pct": headline.published_pct,
        "measured_pct": measured,
        "difference_pts": None if measured is None else measured - headline.published_pct,
        "group_mean": group_mean,
        "reference_mean": reference_mean,
        "group_raters": int(n_group or 0),
        "reference_raters": int(n_reference or 0),
    }


def measure_headlines(
    store: Store, dataset_id: str, headlines: tuple[Headline, ...] = HEADLINES
) -> pd.DataFrame:
    """Published vs measured percent differences for ``dataset_id``, one row per headline.

    Columns: name, dimension, attribute, group, reference, published_pct, measured_pct, difference_pts
    (measured minus published, in percentage points), plus both group means and rater counts.
    """
    rows = [measure_headline(store, dataset_id, headline) for headline in headlines]
    return pd.DataFrame(rows, columns=HEADLINE_COLUMNS)
