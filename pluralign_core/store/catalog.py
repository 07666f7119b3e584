"""Catalogue questions about one stored dataset: what its raters, prompts and responses hold.

The pages build their pickers (attribute values, prompt languages and topics) and cache keys from these
answers. They live here, beside the store, so that no page holds SQL: the table layout is the store's
business, and a change to it is made and tested in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pluralign_core.store.database import Store

PROMPT_FACETS = ("language", "topic", "split")


def dataset_fingerprint(store: Store, dataset_id: str) -> str:
    """The dataset's content fingerprint (it changes whenever its rows change); ``""`` when absent.

    Pages key their caches on it, so a replaced dataset never shows results computed from the old rows.
    """
    rows = store.query("SELECT fingerprint FROM datasets WHERE dataset_id = ?", [dataset_id])
    return "" if rows.empty or rows.fingerprint.iloc[0] is None else str(rows.fingerprint.iloc[0])


def attribute_value_counts(store: Store, dataset_id: str) -> pd.DataFrame:
    """``attribute, value, n``: how many distinct raters state each value, sorted by attribute and value.

    A rater with a multi-select answer counts once under each value they chose.
    """
    return store.query(
        """
        SELECT attribute, value, count(DISTINCT rater_id) AS n
        FROM rater_attributes WHERE dataset_id = ?
        GROUP BY attribute, value ORDER BY attribute, value
        """,
        [dataset_id],
    )


def attribute_composition(store: Store, dataset_id: str, attribute: str, not_stated: str) -> pd.DataFrame:
    """``value, raters``: raters per value of one attribute, over *all* raters of the dataset.

    Raters who gave no value are counted under ``not_stated``, so the counts add up to the rater total
    (for a single-valued attribute) and a page can show how much of the panel is undisclosed.
    """
    return store.query(
        """
        SELECT coalesce(a.value, ?) AS value, count(DISTINCT r.rater_id) AS raters
        FROM raters r LEFT JOIN rater_attributes a
          ON a.dataset_id = r.dataset_id AND a.rater_id = r.rater_id AND a.attribute = ?
        WHERE r.dataset_id = ? GROUP BY 1
        """,
        [not_stated, attribute, dataset_id],
    )


def prompt_facets(store: Store, dataset_id: str) -> dict[str, list[str]]:
    """The distinct, sorted non-empty values of each prompt facet (language, topic, split)."""
    rows = store.query(
        """
        SELECT DISTINCT facet, value FROM (
            SELECT UNNEST(['language', 'topic', 'split']) AS facet, UNNEST([language, topic, split]) AS value
            FROM prompts WHERE dataset_id = ?
        ) WHERE value IS NOT NULL
        """,
        [dataset_id],
    )
    return {facet: sorted(rows.loc[rows.facet == facet, "value"]) for facet in PROMPT_FACETS}


def response_texts(store: Store, dataset_id: str) -> dict[str, str]:
    """Every response's text by its id, for showing the responses behind pairs or statistics."""
    rows = store.query("SELECT response_id, text FROM responses WHERE dataset_id = ?", [dataset_id])
    return dict(zip(rows.response_id, rows.text, strict=True))


@dataclass(frozen=True)
class DatasetShape:
    """What a dataset holds that some pages need: prompts shared by several responses (preference pairs,
    GRPO, the grid), held-out prompts (evaluation), prompt languages, and its dimensions.

    Real ratings data often lacks some of these (standalone texts, no split); the pages ask here and say
    in one sentence what they cannot do, instead of failing deep inside a computation.
    """

    n_prompts: int
    n_shared_prompts: int
    n_standalone: int
    n_heldout: int
    languages: tuple[str, ...]
    dimensions: tuple[str, ...]

    @property
    def has_pairs(self) -> bool:
        return self.n_shared_prompts > 0

    def limitations(self) -> list[str]:
        """One sentence per thing the dataset will not support (empty when it supports everything)."""
        notes = []
        if self.n_prompts == 0:
            notes.append(
                "It has no prompts (every text stands alone): preference pairs, DPO / GRPO training, "
                "evaluation on held-out prompts and the trade-off grid need prompts; Explore and unpaired "
                "(KTO) labels on the Preferences page work."
            )
        elif not self.has_pairs:
            notes.append(
                "No prompt has two or more rated responses, so no preference pairs (DPO / GRPO, the grid) "
                "can be built; the Preferences page offers unpaired (KTO) labels instead."
            )
        if self.n_prompts and self.n_heldout == 0:
            notes.append(
                "No prompt is marked held-out (split = heldout): Evaluate can only answer training prompts, "
                "and the grid's evaluation has nothing unseen to answer."
            )
        if self.n_prompts and not self.languages:
            notes.append("Its prompts have no language: Evaluate treats them all as one language.")
        return notes


def dataset_shape(store: Store, dataset_id: str) -> DatasetShape:
    """Counts of prompts, prompts with several responses, standalone texts and held-out prompts."""
    counts = store.query(
        """
        SELECT
          (SELECT count(*) FROM prompts WHERE dataset_id = $1) AS n_prompts,
          (SELECT count(*) FROM (
             SELECT prompt_id FROM responses WHERE dataset_id = $1 AND prompt_id IS NOT NULL
             GROUP BY prompt_id HAVING count(*) >= 2)) AS n_shared,
          (SELECT count(*) FROM responses WHERE dataset_id = $1 AND prompt_id IS NULL) AS n_standalone,
          (SELECT count(*) FROM prompts WHERE dataset_id = $1 AND split = 'heldout') AS n_heldout
        """,
        [dataset_id],
    ).iloc[0]
    facets = prompt_facets(store, dataset_id)
    return DatasetShape(
        int(counts.n_prompts),
        int(counts.n_shared),
        int(counts.n_standalone),
        int(counts.n_heldout),
        tuple(facets["language"]),
        tuple(d.name for d in store.dimensions(dataset_id)),
    )
