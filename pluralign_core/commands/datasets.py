"""``pluralign datasets``: list the datasets in the store, or pick the active one."""

from __future__ import annotations

import argparse

from pluralign_core.store.database import Store

HELP = "List datasets in the store; --activate ID makes one the active dataset."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--activate", metavar="ID", help="dataset id to make active")
    parser.add_argument("--delete", metavar="ID", help="dataset id to delete")


def run(args: argparse.Namespace) -> int:
    store = Store()
    if args.activate:
        store.set_active_dataset(args.activate)
    if args.delete:
        store.delete_dataset(args.delete)
    table = store.datasets()
    active = store.active_dataset()
    table.insert(0, "active", table.dataset_id.eq(active).map({True: "*", False: ""}))
    columns = [
        "active",
        "dataset_id",
        "name",
        "simulated",
        "n_raters",
        "n_prompts",
        "n_responses",
        "n_ratings",
    ]
    print(table[columns].to_string(index=False) if not table.empty else "The store holds no dataset yet.")
    return 0
