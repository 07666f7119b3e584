"""``pluralign analyze``: group means with rater-clustered CIs and percent differences, from the shell."""

from __future__ import annotations

import argparse
from pathlib import Path

from pluralign_core.analysis import AnalysisFilter, group_means, percent_differences
from pluralign_core.analysis.effects import DEFINITION
from pluralign_core.commands.json_output import add_json_flag, emit, note, records
from pluralign_core.ratings.reading import csv_safe
from pluralign_core.store.database import Store

HELP = (
    "Group means (95% CI, clustered by rater) and differences vs a reference group for one attribute: "
    "the absolute difference in scale points and the % difference, each with its CI. " + DEFINITION + "."
)
DIFFERENCE_COLUMNS = [
    "dimension", "group", "reference", "diff", "diff_ci_low", "diff_ci_high",
    "pct_diff", "pct_ci_low", "pct_ci_high", "p_adjusted",
]  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", help="dataset id (default: the active dataset)")
    parser.add_argument("--attribute", required=True, help="demographic attribute, e.g. gender")
    parser.add_argument("--by", dest="attribute2", help="second attribute to cross with, e.g. country")
    parser.add_argument(
        "--dimension", action="append", help="dimension to analyse (repeatable; default: all dimensions)"
    )
    parser.add_argument(
        "--reference", help="reference group for differences (default: the group with the most raters)"
    )
    parser.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="ATTR=VALUE[|VALUE]",
        help="keep only matching ratings (repeatable); language/topic/split filter prompts "
        "(e.g. split=train), rater.language=de filters raters",
    )
    parser.add_argument("--correction", choices=["holm", "bh", "none"], default="holm")
    parser.add_argument("--min-group-raters", type=int, default=30, help="flag groups with fewer raters")
    parser.add_argument("--csv", type=Path, help="write the combined table to this CSV file")
    add_json_flag(parser)


def run(args: argparse.Namespace) -> int:
    store = Store()
    dataset_id = args.dataset or store.active_dataset()
    if dataset_id is None:
        raise ValueError("the store holds no dataset yet; run `pluralign init` or `pluralign import` first")
    known = {a.name for a in store.attributes(dataset_id)}
    for name in filter(None, [args.attribute, args.attribute2]):
        if name not in known:
            raise ValueError(f"dataset {dataset_id!r} has no attribute {name!r}; it has {sorted(known)}")
    filt = AnalysisFilter.from_pairs(args.filter)
    means = group_means(
        store,
        dataset_id,
        args.attribute,
        args.dimension,
        filt,
        attribute2=args.attribute2,
        min_group_raters=args.min_group_raters,
    )
    if means.empty:
        note(f"No ratings match {filt.label} in {dataset_id!r}.")
        return 1
    diffs = percent_differences(
        store,
        dataset_id,
        args.attribute,
        args.reference,
        args.dimension,
        filt,
        attribute2=args.attribute2,
        correction=args.correction,
        min_group_raters=args.min_group_raters,
    )
    if args.json:
        emit(
            {
                "dataset_id": dataset_id,
                "filter": filt.label,
                "attribute": args.attribute,
                "attribute2": args.attribute2,
                "correction": args.correction,
                "reference": None if diffs.empty else str(diffs.reference.iloc[0]),
                "difference_definition": DEFINITION,
                "means": records(means),
                "differences": records(diffs),
            }
        )
    else:
        _print_tables(means, diffs, dataset_id, filt.label, args)
    if args.csv:
        if args.attribute2:
            means = means.assign(group=means.group + " × " + means.group2).drop(columns="group2")
        keep = [*DIFFERENCE_COLUMNS[:-1], "p_value", "p_adjusted", "estimable"]
        table = means.merge(diffs[keep], on=["dimension", "group"], how="left") if not diffs.empty else means
        csv_safe(table).to_csv(args.csv, index=False)
        note(f"Wrote {len(table)} rows to {args.csv}")
    return 0


def _print_tables(means, diffs, dataset_id: str, filter_label: str, args: argparse.Namespace) -> None:
    print(f"Dataset {dataset_id}, {filter_label}; 95% CIs clustered by rater.")
    print(means.round(3).to_string(index=False))
    if not diffs.empty:
        reference = diffs.reference.iloc[0]
        print(f"\nAbsolute and % difference vs {reference} ({args.correction}-adjusted p). {DEFINITION}.")
        shown = diffs[DIFFERENCE_COLUMNS].round(4).astype(object)
        shown.loc[~diffs.estimable] = shown.loc[~diffs.estimable].fillna("not estimable")
        print(shown.to_string(index=False))
        if not diffs.estimable.all():
            print("not estimable: a group with fewer than 2 raters has no rater-clustered CI or p-value.")
    if means.small_group.any():
        small = sorted(set(means.loc[means.small_group, "group"]))
        print(f"\nNote: fewer than {args.min_group_raters} raters in {small}; read those rows with care.")
