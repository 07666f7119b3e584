"""How often two groups would prefer opposite answers *in expectation*, for a simulated dataset.

The Preferences page's compare view counts the pairs on which two rater selections' built preferences point
opposite ways; on sampled data part of that is noise. For a simulated dataset the rating model is known (its
config is stored with the dataset), so the share that differs because the groups genuinely disagree can be
computed exactly (:func:`pluralign_core.ratings.simulation_expectations.expected_flip_shares`) and shown
beside the observed one. Real datasets have no such model: the function returns None for them.
"""

from __future__ import annotations

import pandas as pd

from pluralign_core.ratings.embedded_items import embedded_fingerprint
from pluralign_core.ratings.simulation_config import SimulationConfig
from pluralign_core.ratings.simulation_expectations import expected_flip_shares
from pluralign_core.store.database import Store


def simulated_flip_shares(
    store: Store, dataset_id: str, dimensions: dict[str, float] | None = None
) -> pd.DataFrame | None:
    """Expected flip shares (women vs men, liberal vs conservative) of a simulated dataset, else None.

    None too when the embedded items changed since the dataset was simulated (the expectation would then
    describe other answers than the stored ones).
    """
    info = store.dataset_info(dataset_id)
    meta = info.meta or {}
    if not info.simulated or "simulation_config" not in meta:
        return None
    if meta.get("items_fingerprint") not in (None, embedded_fingerprint()):
        return None
    config = SimulationConfig.from_dict(meta["simulation_config"])
    return expected_flip_shares(config, dimensions=dimensions)
