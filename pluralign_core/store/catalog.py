"""Catalogue questions about one stored dataset: what its raters, prompts and responses hold.

The pages build their pickers (attribute values, prompt languages and topics) and cache keys from these
answers. They live here, beside the store, so that no page holds SQL: the table layout is the store's
business, and a change to it is made and tested in one place.
"""

from __future__ import annotations

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
