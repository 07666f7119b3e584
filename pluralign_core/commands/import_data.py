"""``pluralign import``: check a ratings file against a column mapping and import it as a dataset."""

from __future__ import annotations

import argparse
from pathlib import Path

from pluralign_core.ratings.importing import ImportSpec, import_dataset, infer_spec
from pluralign_core.ratings.reading import ImportLimits, Problems, read_table
from pluralign_core.ratings.text_encoding import COMMON_ENCODINGS
from pluralign_core.store.database import Store

HELP = (
    "Import real ratings (CSV/JSONL in any detected encoding, Parquet, or a Hugging Face datasets folder: "
    "save_to_disk or Hub Parquet shards). The column mapping is guessed from column names; adjust it "
    "with --map ROLE=COLUMN or give a full --spec YAML. Every problem is listed; nothing is written "
    "unless the whole file is valid."
)

MAP_ROLES = (
    "rater_id",
    "item_id",
    "response_text",
    "prompt_text",
    "prompt_id",
    "language",
    "topic",
    "split",
    "dimension_column",
    "score_column",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", type=Path, help="the ratings file (.csv, .parquet or .jsonl) or a datasets folder"
    )
    parser.add_argument("--dataset-id", required=True, help="id of the new dataset")
    parser.add_argument("--name", help="display name of the dataset")
    parser.add_argument(
        "--layout", choices=("long", "wide"), help="one row per rating (long) or per rater × item"
    )
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="ROLE=COLUMN",
        help=f"map a role to a column; roles: {', '.join(MAP_ROLES)}",
    )
    parser.add_argument(
        "--encoding",
        metavar="NAME",
        help="text encoding of a CSV/JSONL file when the detected one is wrong (any Python codec name; "
        f"common: {', '.join(COMMON_ENCODINGS)})",
    )
    parser.add_argument("--spec", type=Path, help="import spec YAML (as saved with an imported dataset)")
    parser.add_argument("--replace", action="store_true", help="replace a dataset with the same id")
    parser.add_argument("--dry-run", action="store_true", help="check the file only; write nothing")
    parser.add_argument("--max-rows", type=int, default=ImportLimits.max_rows, help="row limit")
    parser.add_argument("--show-spec", action="store_true", help="print the mapping used, as YAML")


def build_spec(args: argparse.Namespace, limits: ImportLimits) -> ImportSpec | None:
    """The spec from --spec, else guessed from the file, with --layout/--map/--name applied on top."""
    if args.spec:
        data = ImportSpec.from_yaml(args.spec).to_dict()
    else:
        problems = Problems(args.file.name, limits.max_problems)
        table = read_table(args.file, problems, limits, encoding=args.encoding)
        if table is None:
            for problem in problems.errors:
                print(f"  error   {problem}")
            return None
        data = infer_spec(table.frame, args.dataset_id).to_dict()
    data["dataset_id"] = args.dataset_id
    if args.encoding:
        data["encoding"] = args.encoding
    if args.name:
        data["name"] = args.name
    if args.layout:
        data["layout"] = args.layout
    for item in args.map:
        role, sep, column = item.partition("=")
        if not sep or role not in MAP_ROLES:
            raise ValueError(
                f"--map expects ROLE=COLUMN with ROLE one of {', '.join(MAP_ROLES)}; got {item!r}"
            )
        data[role] = column or None
        if not args.spec and column:  # a guessed demographic that is now mapped to a role is not one
            data["demographics"] = [d for d in data.get("demographics", []) if d["column"] != column]
    return ImportSpec.from_dict(data)


def run(args: argparse.Namespace) -> int:
    limits = ImportLimits(max_rows=args.max_rows)
    spec = build_spec(args, limits)
    if spec is None:
        return 1
    if args.show_spec:
        print(spec.to_yaml())
    report = import_dataset(
        Store(), args.file, spec, replace=args.replace, dry_run=args.dry_run, limits=limits
    )
    print(report.format())
    return 0 if report.ok else 1
