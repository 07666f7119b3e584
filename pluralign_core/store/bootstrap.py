"""First-start setup: make sure the store holds the simulated default dataset.

The app must show something meaningful on its very first start, without a download or an import, so
the default dataset is simulated from the shipped config and the embedded items (well under a second)
the first time a store is opened. It is written once; a user who deletes it gets it back on the next
start, and a user who made another dataset active keeps that choice.
"""

from __future__ import annotations

from pluralign_core.ratings.simulate import (
    DEFAULT_DATASET_ID,
    DEFAULT_DATASET_NAME,
    load_default_config,
    simulate,
)
from pluralign_core.store.database import DatasetError, Store


def ensure_default_dataset(store: Store) -> bool:
    """Write ``default-simulated`` when the store lacks it; returns True when it was written now.

    It becomes the active dataset only when no other dataset is active.
    """
    if store.has_dataset(DEFAULT_DATASET_ID):
        return False
    had_active = store.active_dataset()
    bundle = simulate(load_default_config(), dataset_id=DEFAULT_DATASET_ID, name=DEFAULT_DATASET_NAME)
    try:
        store.write_dataset(bundle)
    except DatasetError:
        if store.has_dataset(DEFAULT_DATASET_ID):  # another process wrote it in the meantime
            return False
        raise
    # pin the previous choice: otherwise "newest dataset" would silently switch to the default
    store.set_active_dataset(had_active or DEFAULT_DATASET_ID)
    return True
