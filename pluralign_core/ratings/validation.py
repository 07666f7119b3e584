"""Row-level checks of an imported ratings file, and its conversion into a :class:`DatasetBundle`.

Cell parsing and score checks are in :mod:`pluralign_core.ratings.cells`, the rater demographics in
:mod:`pluralign_core.ratings.demographics`; this module checks ids, texts, splits, dimensions and
duplicates, and assembles the bundle.

Every check runs on the whole file before anything is written, and each problem names the spreadsheet
row and the column, so a user sees everything to fix at once. The file arrives as coded columns
(:mod:`pluralign_core.ratings.coded`): text is cleaned, ids are hashed and labels are parsed once per
distinct cell, and conflicts and duplicates are found by comparing small integer codes, so a file of
millions of ratings is checked in seconds and in a few bytes per cell.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pluralign_core.ratings.batched_reading import coded_table
from pluralign_core.ratings.bundle import DatasetBundle
from pluralign_core.ratings.cells import (
    cleaner,
    dataset_scale,
    first_row_conflicts,
    parse_scores,
)
from pluralign_core.ratings.coded import (
    Coded,
    CodedTable,
    combine,
    first_positions,
    key_codes,
    lookup,
    narrow,
    report_rows,
)
from pluralign_core.ratings.demographics import rater_demographics
from pluralign_core.ratings.reading import Problems, Table, formula_mask
from pluralign_core.ratings.schema import DatasetInfo, Dimension
from pluralign_core.ratings.spec import DimensionSpec, ImportSpec, normalize_label, short_hash, suggest_column

SPLITS = {
    "train": "train",
    "training": "train",
    "heldout": "heldout",
    "held-out": "heldout",
    "held_out": "heldout",
    "held out": "heldout",
    "test": "heldout",
    "eval": "heldout",
    "evaluation": "heldout",
    "validation": "heldout",
    "val": "heldout",
    "dev": "heldout",
}
# Without a split column, about one prompt in five is held out for evaluation.
HELDOUT_SHARE = 5


def _split(columns: dict[str, Coded], rows: np.ndarray, spec: ImportSpec, problems: Problems) -> None:
    if spec.split:
        split = columns["split"]
        understood = split.mask(lambda v: SPLITS.get(normalize_label(v)) is not None)
        report_rows(
            problems,
            "invalid_split",
            split.notna() & ~understood,
            lambda i: (
                f"split {split.values[split.codes[i]]!r} is not understood; use 'train' or 'heldout' "
                "(also: test, validation)"
            ),
            rows,
            column=spec.split,
        )
        columns["split"] = split.map(
            lambda v: "train" if v is None else SPLITS.get(normalize_label(v), "train")
        )
        return
    prompt_ids = sorted(columns["prompt_id"].values, key=short_hash)
    heldout = {p for p in prompt_ids if int(short_hash(p), 16) % HELDOUT_SHARE == 0}
    if not heldout and len(prompt_ids) >= 2:
        heldout = {prompt_ids[0]}
    columns["split"] = columns["prompt_id"].map(lambda p: "heldout" if p in heldout else "train")
    if prompt_ids:
        problems.add(
            "split_assigned",
            f"no split column: {len(heldout)} of {len(prompt_ids)} prompts were held out for evaluation "
            "(chosen by a hash of the prompt id, so the choice is repeatable)",
            severity="warning",
        )


def _dimensions(
    columns: dict[str, Coded], rows: np.ndarray, spec: ImportSpec, problems: Problems
) -> list[DimensionSpec]:
    if spec.layout == "wide":
        return spec.dimensions
    raw = columns["dimension_raw"]
    if spec.dimensions:
        lookup = {normalize_label(d.source): d.name for d in spec.dimensions}
        lookup.update({normalize_label(d.name): d.name for d in spec.dimensions})
        declared = spec.dimensions
    else:
        guessed = {v: DimensionSpec.guess(v) for v in raw.values}
        lookup = {normalize_label(v): d.name for v, d in guessed.items()}
        declared = list({d.name: d for d in guessed.values()}.values())
    mapped = raw.map(lambda v: None if v is None else lookup.get(normalize_label(v)))
    columns["dimension"] = mapped
    empty = raw.isna()
    report_rows(
        problems,
        "empty_dimension",
        empty,
        lambda i: "the dimension cell is empty",
        rows,
        column=spec.dimension_column,
    )
    names = ", ".join(repr(d.source) for d in declared)
    report_rows(
        problems,
        "unknown_dimension",
        ~empty & mapped.isna(),
        lambda i: f"dimension {raw.values[raw.codes[i]]!r} is not declared in the spec (declared: {names})",
        rows,
        column=spec.dimension_column,
    )
    return declared


def _joined(value: object) -> object:
    return "; ".join(value) if isinstance(value, tuple) else value


def _coded(table: Table | CodedTable) -> CodedTable:
    return table if isinstance(table, CodedTable) else coded_table(table)


def _prompt_ids(columns: dict[str, Coded], spec: ImportSpec, count: int) -> Coded:
    if not spec.prompt_text:
        return Coded.constant(None, count)
    text = columns["prompt_text"]
    if spec.prompt_id:
        return combine(
            columns["prompt_id"],
            text,
            lambda p, t: None if t is None else (p if p is not None else f"prompt-{short_hash(t)}"),
        )
    return text.map(lambda t: None if t is None else f"prompt-{short_hash(t)}")


def _duplicates(ratings: dict, rows: np.ndarray, spec: ImportSpec, problems: Problems) -> None:
    rater, item, dimension = ratings["rater_id"], ratings["response_id"], ratings["dimension"]
    key = key_codes(rater, item, dimension)
    ordered = np.sort(key)
    if not (ordered[1:] == ordered[:-1]).any():
        return
    del ordered
    order = np.argsort(key, kind="stable")
    same = key[order[1:]] == key[order[:-1]]
    repeated = np.zeros(len(key), dtype=bool)
    repeated[1:] |= same
    repeated[:-1] |= same
    positions = np.sort(order[repeated])
    dups = pd.DataFrame({"key": key[positions], "_row": rows[positions], "position": positions})
    dups["_first"] = dups.groupby("key")["_row"].transform("min")
    dups = dups[dups["_row"] != dups["_first"]].drop_duplicates("_row")
    first = dict(zip(dups["position"].tolist(), dups["_first"].tolist(), strict=True))
    mask = np.zeros(len(rows), dtype=bool)
    mask[dups["position"].to_numpy()] = True
    report_rows(
        problems,
        "duplicate_rating",
        mask,
        lambda i: (
            f"rater {rater.values[rater.codes[i]]!r} rated item {item.values[item.codes[i]]!r} on "
            f"{dimension.values[dimension.codes[i]]!r} already in row {first[i]}; keep one rating per "
            "rater, item and dimension"
        ),
        rows,
        column=None if spec.layout == "wide" else spec.item_id or spec.response_text,
    )


def _ratings(
    table: CodedTable, columns: dict[str, Coded], spec: ImportSpec, problems: Problems
) -> tuple[dict[str, Coded], np.ndarray, np.ndarray]:
    """The ratings as coded columns (one per wide dimension column stacked, or the long rows), checked."""
    clean_cell = cleaner(table.text_only)
    n = len(table)
    if spec.layout == "wide":
        sources = [(d.source, d.name) for d in spec.dimensions]
        dimension = Coded(
            narrow(np.repeat(np.arange(len(sources)), n), len(sources)),
            np.array([name for _, name in sources], dtype=object),
        )
        dimension = Coded.from_codes(dimension.codes, dimension.values)
    else:
        sources = [(spec.score_column, None)]
        dimension = columns["dimension"]
    raws = [table.columns[source].map(clean_cell) for source, _ in sources]
    values = np.concatenate([r.values for r in raws]) if raws else np.empty(0, dtype=object)
    offsets = np.cumsum([0] + [len(r.values) for r in raws])
    raw_codes = np.empty(n * len(raws), dtype=narrow(np.empty(0, dtype=np.int64), len(values)).dtype)
    for position, (source, offset) in enumerate(zip(raws, offsets, strict=False)):
        part = raw_codes[position * n : (position + 1) * n]
        part[:] = source.codes
        if offset:
            np.add(part, offset, out=part, where=source.codes >= 0)
    raw = Coded(raw_codes, values)
    repeat = len(sources)

    def stacked(values: np.ndarray) -> np.ndarray:
        return values if repeat == 1 else np.tile(values, repeat)

    rows = stacked(table.rows)
    column_names = [source for source, _ in sources]
    score_of, keep = parse_scores(raw, spec, rows, lambda i: column_names[i // n], problems)
    rater = Coded(stacked(columns["rater_id"].codes), columns["rater_id"].values)
    item = Coded(stacked(columns["item_id"].codes), columns["item_id"].values)
    keep &= rater.notna() & item.notna() & dimension.notna()
    kept = None if keep.all() else np.flatnonzero(keep)
    del keep
    ratings = {
        "rater_id": rater.take(kept),
        "response_id": item.take(kept),
        "dimension": dimension.take(kept),
    }
    codes = raw.codes if kept is None else raw.codes[kept]
    return ratings, lookup(score_of.astype(np.int16), codes), rows if kept is None else rows[kept]


def _categorical(column: Coded) -> pd.Categorical:
    return pd.Categorical.from_codes(column.codes, categories=pd.Index(column.values, dtype=object))


def build_bundle(table: Table | CodedTable, spec: ImportSpec, problems: Problems) -> DatasetBundle | None:
    """Check every row of ``table`` against ``spec``; return the dataset, or None when nothing usable."""
    table = _coded(table)
    names = list(table.columns)
    mapped = spec.columns()
    missing = [c for c in mapped if c not in names]
    for column in missing:
        problems.add(
            "missing_column",
            f"the {mapped[column]} column {column!r} is not in the file.{suggest_column(column, names)} "
            f"The file has: {', '.join(names[:30])}",
            row=1,
            column=column,
        )
    if missing:
        return None
    rows, n = table.rows, len(table)
    clean_cell = cleaner(table.text_only)
    roles = {
        "rater_id": spec.rater_id,
        "item_id": spec.item_id,
        "text": spec.response_text,
        "prompt_text": spec.prompt_text,
        "prompt_id": spec.prompt_id,
        "language": spec.language,
        "topic": spec.topic,
        "split": spec.split,
        "dimension_raw": spec.dimension_column,
    }
    columns: dict[str, Coded] = {}
    for role, column in roles.items():
        if not column:
            columns[role] = Coded.constant(None, n)
            continue
        columns[role] = table.columns[column].map(
            clean_cell if role == "dimension_raw" else (lambda v: _joined(clean_cell(v)))
        )
    answers = {demo.column: table.columns[demo.column].map(clean_cell) for demo in spec.demographics}
    _flag_formulas(columns, answers, rows, spec, problems)

    for role, what in (("rater_id", "rater id"), ("text", "response text")) + (
        (("item_id", "item id"),) if spec.item_id else ()
    ):
        report_rows(
            problems,
            "empty_id" if role != "text" else "empty_text",
            columns[role].isna(),
            lambda i, w=what: f"the {w} is empty; every row needs one",
            rows,
            column=roles[role],
        )
    columns["prompt_id"] = _prompt_ids(columns, spec, n)
    if not spec.item_id:
        columns["item_id"] = combine(
            columns["prompt_text"], columns["text"], lambda p, t: f"item-{short_hash(p, t)}"
        )

    def conflict(what: str):
        return lambda k, v, f, fr: (
            f"{what} {k!r} has {v!r} here but {f!r} in row {fr}; one {what} must have one text"
        )

    first_row_conflicts(
        columns["item_id"],
        columns["text"],
        rows,
        problems,
        "conflicting_item_text",
        conflict("item"),
        spec.response_text,
    )
    first_row_conflicts(
        columns["item_id"],
        columns["prompt_id"],
        rows,
        problems,
        "conflicting_item_prompt",
        lambda k, v, f, fr: f"item {k!r} belongs to prompt {v!r} here but to {f!r} in row {fr}",
        spec.prompt_id or spec.prompt_text,
    )
    first_row_conflicts(
        columns["prompt_id"],
        columns["prompt_text"],
        rows,
        problems,
        "conflicting_prompt_text",
        conflict("prompt"),
        spec.prompt_text,
    )
    _split(columns, rows, spec, problems)
    if spec.split:
        first_row_conflicts(
            columns["prompt_id"],
            columns["split"],
            rows,
            problems,
            "conflicting_split",
            lambda k, v, f, fr: f"prompt {k!r} is in split {v!r} here but {f!r} in row {fr}",
            spec.split,
        )
    dimensions = _dimensions(columns, rows, spec, problems)
    ratings, scores, rating_rows = _ratings(table, columns, spec, problems)
    _duplicates(ratings, rating_rows, spec, problems)
    if not len(scores) and problems.ok:
        problems.add("no_ratings", "the file holds no usable rating; check the score columns")
    if not problems.ok:
        return None

    raters = pd.DataFrame({"rater_id": columns["rater_id"].values})
    rater_attributes, attributes = rater_demographics(columns["rater_id"], answers, rows, spec, problems)
    if not problems.ok:
        return None
    items = first_positions(columns["item_id"])
    lower = columns["language"].map(lambda v: v.lower() if isinstance(v, str) else v)
    responses = pd.DataFrame(
        {
            "response_id": columns["item_id"].cells(items),
            "prompt_id": columns["prompt_id"].cells(items),
            "text": columns["text"].cells(items),
            "language": lower.cells(items),
        }
    )
    prompts_at = first_positions(columns["prompt_id"])
    prompts = pd.DataFrame(
        {
            "prompt_id": columns["prompt_id"].cells(prompts_at),
            "prompt_key": columns["prompt_id"].cells(prompts_at),
            "text": columns["prompt_text"].cells(prompts_at),
            "language": lower.cells(prompts_at),
            "topic": columns["topic"].cells(prompts_at),
            "split": columns["split"].cells(prompts_at),
        }
    )
    ratings_frame = pd.DataFrame({name: _categorical(column) for name, column in ratings.items()})
    ratings_frame["score"] = scores
    info = DatasetInfo(
        spec.dataset_id,
        spec.name,
        spec.description,
        dataset_scale(spec),
        simulated=False,
        source=table.file,
        meta={"import_spec": spec.to_dict(), "imported_from": table.file},
    )
    dims = [Dimension(d.name, d.label, d.higher_is_better, d.description) for d in dimensions]
    return DatasetBundle(info, dims, attributes, raters, rater_attributes, prompts, responses, ratings_frame)


def _flag_formulas(
    columns: dict[str, Coded],
    answers: dict[str, Coded],
    rows: np.ndarray,
    spec: ImportSpec,
    problems: Problems,
) -> None:
    checked = {
        role: columns[role] for role in ("rater_id", "item_id", "text", "prompt_text", "prompt_id", "topic")
    }
    checked.update({f"demo:{column}": answer.map(_joined) for column, answer in answers.items()})
    for role, values in checked.items():
        if not len(values.values):
            continue
        hits = np.append(formula_mask(pd.Series(values.values, dtype=object)).to_numpy(dtype=bool), False)
        mask = lookup(hits, values.codes)
        if not mask.any():
            continue
        column = (
            role.removeprefix("demo:")
            if role.startswith("demo:")
            else getattr(spec, {"text": "response_text"}.get(role, role))
        )
        report_rows(
            problems,
            "formula_like_cell",
            mask,
            lambda i, v=values: (
                f"{str(v.values[v.codes[i]])[:40]!r} starts like a spreadsheet formula; it is kept as "
                "plain text (and escaped with a leading ' in CSV downloads)"
            ),
            rows,
            column=column,
            severity="warning",
        )
