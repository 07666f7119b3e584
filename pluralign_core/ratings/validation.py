"""Row-level checks of an imported ratings file, and its conversion into a :class:`DatasetBundle`.

Cell parsing and score checks are in :mod:`pluralign_core.ratings.cells`, the rater demographics in
:mod:`pluralign_core.ratings.demographics`; this module checks ids, texts, splits, dimensions and
duplicates, and assembles the bundle.

Every check runs on the whole file before anything is written, and each problem names the spreadsheet
row and the column, so a user sees everything to fix at once. The checks are vectorised (pandas) so a
file of millions of ratings is checked in seconds.
"""

from __future__ import annotations

import pandas as pd

from pluralign_core.ratings.bundle import DatasetBundle
from pluralign_core.ratings.cells import clean, dataset_scale, first_row_conflicts, is_missing, parse_scores
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


def _split(base: pd.DataFrame, spec: ImportSpec, problems: Problems) -> None:
    if spec.split:
        raw = base["split"].map(lambda v: None if is_missing(v) else normalize_label(v))
        mapped = raw.map(SPLITS)
        bad = raw.notna() & mapped.isna()
        messages = base.loc[bad, "split"].map(
            lambda v: f"split {v!r} is not understood; use 'train' or 'heldout' (also: test, validation)"
        )
        problems.add_rows("invalid_split", messages, base.loc[bad, "_row"], column=spec.split)
        base["split"] = mapped.fillna("train")
        return
    prompt_ids = sorted(base["prompt_id"].dropna().unique(), key=short_hash)
    heldout = {p for p in prompt_ids if int(short_hash(p), 16) % HELDOUT_SHARE == 0}
    if not heldout and len(prompt_ids) >= 2:
        heldout = {prompt_ids[0]}
    base["split"] = base["prompt_id"].map(lambda p: "heldout" if p in heldout else "train")
    if prompt_ids:
        problems.add(
            "split_assigned",
            f"no split column: {len(heldout)} of {len(prompt_ids)} prompts were held out for evaluation "
            "(chosen by a hash of the prompt id, so the choice is repeatable)",
            severity="warning",
        )


def _dimensions(base: pd.DataFrame, spec: ImportSpec, problems: Problems) -> list[DimensionSpec]:
    if spec.layout == "wide":
        return spec.dimensions
    if spec.dimensions:
        lookup = {normalize_label(d.source): d.name for d in spec.dimensions}
        lookup.update({normalize_label(d.name): d.name for d in spec.dimensions})
        declared = spec.dimensions
    else:
        values = base["dimension_raw"].dropna().unique()
        guessed = {v: DimensionSpec.guess(v) for v in values}
        lookup = {normalize_label(v): d.name for v, d in guessed.items()}
        declared = list({d.name: d for d in guessed.values()}.values())
    mapped = base["dimension_raw"].map(lambda v: None if is_missing(v) else lookup.get(normalize_label(v)))
    base["dimension"] = mapped
    empty = base["dimension_raw"].isna()
    problems.add_rows(
        "empty_dimension",
        pd.Series("the dimension cell is empty", index=base.index[empty]),
        base.loc[empty, "_row"],
        column=spec.dimension_column,
    )
    unknown = ~empty & mapped.isna()
    names = ", ".join(repr(d.source) for d in declared)
    problems.add_rows(
        "unknown_dimension",
        base.loc[unknown, "dimension_raw"].map(
            lambda v: f"dimension {v!r} is not declared in the spec (declared: {names})"
        ),
        base.loc[unknown, "_row"],
        column=spec.dimension_column,
    )
    return declared


def build_bundle(table: Table, spec: ImportSpec, problems: Problems) -> DatasetBundle | None:
    """Check every row of ``table`` against ``spec``; return the dataset, or None when nothing usable."""
    frame = table.frame
    columns = [str(c) for c in frame.columns]
    mapped = spec.columns()
    missing = [c for c in mapped if c not in columns]
    for column in missing:
        problems.add(
            "missing_column",
            f"the {mapped[column]} column {column!r} is not in the file.{suggest_column(column, columns)} "
            f"The file has: {', '.join(columns[:30])}",
            row=1,
            column=column,
        )
    if missing:
        return None
    base = pd.DataFrame({"_row": table.rows.to_numpy()}, index=frame.index)
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
    for role, column in roles.items():
        base[role] = clean(frame[column], table.text_only) if column else None
        if column and role != "dimension_raw":
            base[role] = base[role].map(lambda v: "; ".join(v) if isinstance(v, tuple) else v)
    for demo in spec.demographics:
        base[f"demo:{demo.column}"] = clean(frame[demo.column], table.text_only)
    _flag_formulas(base, spec, problems)

    for role, what in (("rater_id", "rater id"), ("text", "response text")) + (
        (("item_id", "item id"),) if spec.item_id else ()
    ):
        empty = base[role].isna()
        problems.add_rows(
            "empty_id" if role != "text" else "empty_text",
            pd.Series(f"the {what} is empty; every row needs one", index=base.index[empty]),
            base.loc[empty, "_row"],
            column=roles[role],
        )
    if spec.prompt_text:
        has_prompt = base["prompt_text"].notna()
        if spec.prompt_id:
            base["prompt_id"] = base["prompt_id"].where(has_prompt, None)
            base["prompt_id"] = base["prompt_id"].where(
                base["prompt_id"].notna() | ~has_prompt,
                base["prompt_text"].map(lambda t: f"prompt-{short_hash(t)}"),
            )
        else:
            base["prompt_id"] = base["prompt_text"].map(
                lambda t: None if t is None else f"prompt-{short_hash(t)}"
            )
    else:
        base["prompt_id"] = None
    if not spec.item_id:
        base["item_id"] = [
            f"item-{short_hash(p, t)}" for p, t in zip(base["prompt_text"], base["text"], strict=True)
        ]

    def conflict(what: str):
        return lambda k, v, f, fr: (
            f"{what} {k!r} has {v!r} here but {f!r} in row {fr}; one {what} must have one text"
        )

    first_row_conflicts(
        base, "item_id", "text", problems, "conflicting_item_text", conflict("item"), spec.response_text
    )
    first_row_conflicts(
        base,
        "item_id",
        "prompt_id",
        problems,
        "conflicting_item_prompt",
        lambda k, v, f, fr: f"item {k!r} belongs to prompt {v!r} here but to {f!r} in row {fr}",
        spec.prompt_id or spec.prompt_text,
    )
    first_row_conflicts(
        base,
        "prompt_id",
        "prompt_text",
        problems,
        "conflicting_prompt_text",
        conflict("prompt"),
        spec.prompt_text,
    )
    _split(base, spec, problems)
    if spec.split:
        first_row_conflicts(
            base,
            "prompt_id",
            "split",
            problems,
            "conflicting_split",
            lambda k, v, f, fr: f"prompt {k!r} is in split {v!r} here but {f!r} in row {fr}",
            spec.split,
        )
    dimensions = _dimensions(base, spec, problems)

    if spec.layout == "wide":
        parts = []
        for dim in spec.dimensions:
            parts.append(
                pd.DataFrame(
                    {
                        "rater_id": base["rater_id"],
                        "response_id": base["item_id"],
                        "dimension": dim.name,
                        "raw": clean(frame[dim.source], table.text_only),
                        "_row": base["_row"],
                        "_column": dim.source,
                    }
                )
            )
        ratings = pd.concat(parts, ignore_index=True)
    else:
        ratings = pd.DataFrame(
            {
                "rater_id": base["rater_id"],
                "response_id": base["item_id"],
                "dimension": base["dimension"],
                "raw": clean(frame[spec.score_column], table.text_only),
                "_row": base["_row"],
                "_column": spec.score_column,
            }
        ).reset_index(drop=True)
    scores, keep = parse_scores(ratings["raw"], spec, ratings["_row"], ratings["_column"], problems)
    ratings["score"] = scores
    ratings = ratings[
        keep & ratings.rater_id.notna() & ratings.response_id.notna() & ratings.dimension.notna()
    ]
    key = ["rater_id", "response_id", "dimension"]
    duplicated = ratings.duplicated(key, keep=False)
    if duplicated.any():
        dups = ratings[duplicated].copy()
        dups["_first"] = dups.groupby(key)["_row"].transform("min")
        dups = dups[dups["_row"] != dups["_first"]].drop_duplicates("_row")
        problems.add_rows(
            "duplicate_rating",
            dups.apply(
                lambda r: (
                    f"rater {r.rater_id!r} rated item {r.response_id!r} on {r.dimension!r} "
                    f"already in row {r._first}; keep one rating per rater, item and dimension"
                ),
                axis=1,
            ),
            dups["_row"],
            column=None if spec.layout == "wide" else spec.item_id or spec.response_text,
        )
    if ratings.empty and problems.ok:
        problems.add("no_ratings", "the file holds no usable rating; check the score columns")
    if not problems.ok:
        return None

    raters = pd.DataFrame({"rater_id": pd.unique(base["rater_id"].dropna())})
    rater_attributes, attributes = rater_demographics(base, spec, problems, pd.Index(raters.rater_id))
    if not problems.ok:
        return None
    items = base.drop_duplicates("item_id")
    responses = pd.DataFrame(
        {
            "response_id": items["item_id"],
            "prompt_id": items["prompt_id"],
            "text": items["text"],
            "language": items["language"].map(lambda v: v.lower() if isinstance(v, str) else v),
        }
    ).reset_index(drop=True)
    with_prompt = base[base["prompt_id"].notna()].drop_duplicates("prompt_id")
    prompts = pd.DataFrame(
        {
            "prompt_id": with_prompt["prompt_id"],
            "prompt_key": with_prompt["prompt_id"],
            "text": with_prompt["prompt_text"],
            "language": with_prompt["language"].map(lambda v: v.lower() if isinstance(v, str) else v),
            "topic": with_prompt["topic"],
            "split": with_prompt["split"],
        }
    ).reset_index(drop=True)
    ratings = ratings[[*key, "score"]].astype({"score": "int16"}).reset_index(drop=True)
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
    return DatasetBundle(info, dims, attributes, raters, rater_attributes, prompts, responses, ratings)


def _flag_formulas(base: pd.DataFrame, spec: ImportSpec, problems: Problems) -> None:
    text_columns = {
        role: role for role in ("rater_id", "item_id", "text", "prompt_text", "prompt_id", "topic")
    }
    text_columns.update({f"demo:{d.column}": f"demo:{d.column}" for d in spec.demographics})
    for role in text_columns:
        if role not in base or base[role].isna().all():
            continue
        values = base[role].map(lambda v: "; ".join(v) if isinstance(v, tuple) else v)
        mask = formula_mask(values.where(values.notna(), None))
        if mask.any():
            column = (
                role.removeprefix("demo:")
                if role.startswith("demo:")
                else getattr(spec, {"text": "response_text"}.get(role, role))
            )
            problems.add_rows(
                "formula_like_cell",
                values[mask].map(
                    lambda v: (
                        f"{str(v)[:40]!r} starts like a spreadsheet formula; it is kept as "
                        "plain text (and escaped with a leading ' in CSV downloads)"
                    )
                ),
                base.loc[mask, "_row"],
                column=column,
                severity="warning",
            )
