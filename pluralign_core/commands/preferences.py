"""``pluralign preferences``: build preference pairs from ratings, export them and register the set."""

from __future__ import annotations

import argparse
import json

from pluralign_core.commands.json_output import add_json_flag, emit, note
from pluralign_core.preferences.build import (
    AGGREGATES,
    DISAGREEMENT,
    FORMATS,
    NEUTRAL,
    SCALES,
    SPLITS,
    PreferenceConfig,
    build_preferences,
)
from pluralign_core.preferences.export import export_preferences
from pluralign_core.preferences.jury import parse_jury
from pluralign_core.store.database import Store

HELP = (
    "Build DPO preference pairs from ratings under explicit choices (raters, jury, dimensions, scale, "
    "disagreement handling), export them (datasets folder, JSONL, Parquet, card) and register the set."
)


def _filters(items: list[str]) -> dict[str, list[str]]:
    filters: dict[str, list[str]] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--filter {item!r}: write ATTRIBUTE=VALUE[,VALUE...], e.g. gender=woman")
        attribute, values = item.split("=", 1)
        filters.setdefault(attribute.strip(), []).extend(v.strip() for v in values.split(",") if v.strip())
    return filters


def _dimensions(items: list[str]) -> dict[str, float]:
    dims: dict[str, float] = {}
    for item in items:
        name, _, weight = item.partition("=")
        try:
            dims[name.strip()] = float(weight) if weight else 1.0
        except ValueError as error:
            raise ValueError(f"--dimension {item!r}: write NAME or NAME=WEIGHT, e.g. toxicity=1") from error
    return dims


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", help="dataset id (default: the active dataset)")
    parser.add_argument(
        "--dimension",
        action="append",
        default=[],
        metavar="NAME=WEIGHT",
        help="repeatable; default toxicity=1",
    )
    parser.add_argument("--scale", choices=SCALES, default="5-point")
    parser.add_argument(
        "--neutral-as", choices=NEUTRAL, default="drop", help="binary scale: what neutral becomes"
    )
    parser.add_argument("--disagreement", choices=DISAGREEMENT, default="majority")
    parser.add_argument("--aggregate", choices=AGGREGATES, default="median", help="majority vote statistic")
    parser.add_argument(
        "--filter", action="append", default=[], metavar="ATTR=V1,V2", help="rater filter (repeatable)"
    )
    parser.add_argument(
        "--jury",
        action="append",
        default=[],
        metavar="ATTR=V:SHARE,V:SHARE",
        help="target proportions, e.g. gender=woman:0.5,man:0.5 (repeatable per attribute)",
    )
    parser.add_argument("--format", choices=FORMATS, default="conversational")
    parser.add_argument("--language", help="only prompts in this language (en, de)")
    parser.add_argument("--split", choices=SPLITS, default="train")
    parser.add_argument("--max-pairs-per-prompt", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", help="name of the saved set (default: built from the choices)")
    parser.add_argument("--no-save", action="store_true", help="only print the statistics")
    parser.add_argument("--replace", action="store_true", help="replace a set already saved under this name")
    add_json_flag(parser)


def run(args: argparse.Namespace) -> int:
    store = Store()
    dataset_id = args.dataset or store.active_dataset()
    if not dataset_id:
        note("No dataset in the store: run `pluralign init` or `pluralign import` first.")
        return 1
    jury: dict[str, dict[str, float]] = {}
    for item in args.jury:
        jury.update(parse_jury(item))
    config = PreferenceConfig(
        dataset_id=dataset_id,
        selection={"filters": _filters(args.filter)},
        jury=jury,
        dimensions=_dimensions(args.dimension) or {"toxicity": 1.0},
        scale=args.scale,
        neutral_as=args.neutral_as,
        disagreement=args.disagreement,
        aggregate=args.aggregate,
        format=args.format,
        language=args.language,
        split=args.split,
        seed=args.seed,
        max_pairs_per_prompt=args.max_pairs_per_prompt,
    )
    result = build_preferences(store, config)
    if not args.json:
        print(json.dumps(result.stats, indent=2, default=str))
    saved = None
    if not args.no_save:
        name = args.name or f"{dataset_id}-{config.disagreement}-{config.scale}-{config.fingerprint()[:6]}"
        folder, artifact_id = export_preferences(store, result, name, overwrite=args.replace)
        saved = {"folder": str(folder), "artifact_id": artifact_id, "pairs": len(result.pairs)}
        if not args.json:
            print(f"saved {len(result.pairs)} pairs to {folder} (artifact {artifact_id})")
    if args.json:
        emit({"dataset_id": dataset_id, "config": config.to_dict(), "stats": result.stats, "saved": saved})
    return 0
