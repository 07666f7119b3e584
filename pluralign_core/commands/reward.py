"""``pluralign reward``: train group reward models, list them, or score a response with them."""

from __future__ import annotations

import argparse
import math

from pluralign_core.rewards.config import RewardModelConfig
from pluralign_core.rewards.training import (
    default_groups,
    load_group_reward_models,
    registered_reward_models,
    train_group_reward_models,
    train_reward_model,
)
from pluralign_core.store.database import Store
from pluralign_core.store.selection import RaterSelection

HELP = (
    "Train group reward models (a rater selection x dimension -> predicted rating), list them with "
    "--list, or score a reply with --score TEXT."
)


def _filters(items: list[str]) -> RaterSelection:
    filters: dict[str, list[str]] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--where {item!r}: write ATTRIBUTE=VALUE[,VALUE...], e.g. gender=woman")
        attribute, values = item.split("=", 1)
        filters.setdefault(attribute.strip(), []).extend(v.strip() for v in values.split(",") if v.strip())
    return RaterSelection({k: tuple(v) for k, v in filters.items()})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", help="dataset id (default: the active dataset)")
    parser.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="ATTR=V1,V2",
        help="rater filter (repeatable; AND across attributes, OR within values), e.g. gender=woman",
    )
    parser.add_argument("--dimension", action="append", help="dimension(s) to model (default: all)")
    parser.add_argument(
        "--defaults",
        action="store_true",
        help="train the default groups (women/men, liberal/conservative) on every dimension",
    )
    parser.add_argument("--alpha", type=float, default=1.0, help="ridge regularisation strength")
    parser.add_argument("--heldout", choices=["split", "random"], default="split")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", help="artifact name (single dimension only)")
    parser.add_argument("--list", action="store_true", help="list registered reward models")
    parser.add_argument("--score", metavar="TEXT", help="predict each registered group's ratings of TEXT")


def _fmt(value: object) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def run(args: argparse.Namespace) -> int:
    store = Store()
    dataset_id = args.dataset or store.active_dataset()
    if dataset_id is None:
        raise ValueError("the store holds no dataset; run `pluralign init` or `pluralign import` first")
    if args.list:
        rows = registered_reward_models(store, dataset_id)
        if rows.empty:
            print(f"No reward models for {dataset_id}; train some with `pluralign reward --defaults`.")
            return 0
        for row in rows.itertuples():
            m = row.metrics
            print(
                f"{row.artifact_id}  {row.name:<45} pearson={_fmt(m.get('pearson'))} "
                f"pairwise={_fmt(m.get('pairwise_accuracy'))} n_heldout={m.get('n_heldout_responses')}"
            )
        return 0
    if args.score is not None:
        grouped = load_group_reward_models(store, dataset_id)
        if not grouped:
            raise ValueError(
                f"no reward models for {dataset_id}; train some with `pluralign reward --defaults`"
            )
        for group, models in grouped.items():
            cells = [f"{d}={m.predict(None, [args.score])[0]:.2f}" for d, m in models.items()]
            print(f"{group:<40} " + "  ".join(cells))
        return 0
    settings = {"alpha": args.alpha, "heldout": args.heldout, "seed": args.seed}
    groups = default_groups(store, dataset_id) if args.defaults else [_filters(args.where)]
    if args.name:
        if args.defaults or not args.dimension or len(args.dimension) != 1:
            raise ValueError("--name needs exactly one --dimension and no --defaults")
        config = RewardModelConfig(dataset_id, args.dimension[0], groups[0].to_dict(), **settings)
        trained = {groups[0].label: {args.dimension[0]: train_reward_model(store, config, args.name)}}
    else:
        trained = {
            g.label: train_group_reward_models(
                store,
                dataset_id,
                g,
                args.dimension,
                progress=lambda f, message: print(f"[{f:4.0%}] {message}", flush=True),
                **settings,
            )
            for g in groups
        }
    for group, models in trained.items():
        for dimension, model in models.items():
            m = model.metrics
            print(
                f"{group:<40} {dimension:<20} pearson={_fmt(m['pearson'])} spearman={_fmt(m['spearman'])} "
                f"pairwise={_fmt(m['pairwise_accuracy'])} ({m['n_pairs']} pairs)  -> {model.artifact_id}"
            )
    return 0
