"""Expected flip shares are offered for simulated datasets only."""

from __future__ import annotations

from pluralign_core.preferences.expected_flips import simulated_flip_shares
from pluralign_core.store.bootstrap import ensure_default_dataset
from pluralign_core.store.database import Store
from tests.factories import tiny_bundle


def test_default_simulation_has_genuine_disagreement(store: Store):
    ensure_default_dataset(store)
    dataset_id = store.active_dataset()
    shares = simulated_flip_shares(store, dataset_id).set_index("contrast")
    assert len(shares) == 2
    assert ((shares.flip_share >= 0.10) & (shares.flip_share <= 0.25)).all(), shares.flip_share


def test_real_dataset_has_no_expected_shares(store: Store):
    store.write_dataset(tiny_bundle())
    assert simulated_flip_shares(store, "tiny") is None
