"""``pluralign init``: create the store and the simulated default dataset as on the app's first start."""

from __future__ import annotations

import argparse

from pluralign_core.ratings.simulate import DEFAULT_DATASET_ID
from pluralign_core.store.bootstrap import ensure_default_dataset
from pluralign_core.store.database import Store

HELP = "Create the pluralign store and build the simulated default dataset if it is missing."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options


def run(args: argparse.Namespace) -> int:
    del args
    store = Store()
    written = ensure_default_dataset(store)
    row = store.datasets().set_index("dataset_id").loc[DEFAULT_DATASET_ID]
    verb = "Built" if written else "Found"
    print(
        f"{verb} {DEFAULT_DATASET_ID!r} in {store.path}: {row.n_raters:,} raters, {row.n_ratings:,} "
        f"ratings (simulated). Active dataset: {store.active_dataset()}."
    )
    return 0
