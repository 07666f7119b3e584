"""Read a stored dataset back as a :class:`DatasetBundle`, so it can be extended and written again.

:func:`pluralign_core.store.database.write_dataset` writes whole datasets only (one checked transaction);
a dataset that grows over time (the chat votes) is read back here, extended in pandas, and written again
with ``replace=True`` — the same checks run on the old and the new rows together, and a failed write
leaves the old rows in place.
"""

from __future__ import annotations

from pluralign_core.ratings.bundle import DatasetBundle
from pluralign_core.store.database import Store


def read_bundle(store: Store, dataset_id: str) -> DatasetBundle:
    """Every row of ``dataset_id`` (``KeyError`` when it does not exist), in the bundle's column layout."""
    info = store.dataset_info(dataset_id)

    def rows(sql: str):
        return store.query(sql, [dataset_id])

    return DatasetBundle(
        info=info,
        dimensions=store.dimensions(dataset_id),
        attributes=store.attributes(dataset_id),
        raters=rows("SELECT rater_id FROM raters WHERE dataset_id = ? ORDER BY rater_id"),
        rater_attributes=rows(
            "SELECT rater_id, attribute, value FROM rater_attributes WHERE dataset_id = ? "
            "ORDER BY rater_id, attribute, value"
        ),
        prompts=rows(
            "SELECT prompt_id, prompt_key, text, language, topic, split FROM prompts WHERE dataset_id = ? "
            "ORDER BY prompt_id"
        ),
        responses=rows(
            "SELECT response_id, prompt_id, text, language FROM responses WHERE dataset_id = ? "
            "ORDER BY response_id"
        ),
        ratings=rows(
            "SELECT rater_id, response_id, dimension, score FROM ratings WHERE dataset_id = ? "
            "ORDER BY rater_id, response_id, dimension"
        ),
        response_levels=rows(
            "SELECT response_id, dimension, level FROM response_levels WHERE dataset_id = ? "
            "ORDER BY response_id, dimension"
        ),
    )
