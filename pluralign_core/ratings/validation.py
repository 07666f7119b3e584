"""Row-level checks of an imported ratings file, and its conversion into a :class:`DatasetBundle`.

Every check runs on the whole file before anything is written, and each problem names the spreadsheet
row and the column, so a user sees everything to fix at once. The checks are vectorised (pandas) so a
file of millions of ratings is checked in seconds.
"""

from __future__ import annotations

import math

import pandas as pd

from pluralign_core.ratings.bundle import DatasetBundle
from pluralign_core.ratings.reading import Problems, Table, formula_mask
from pluralign_core.ratings.schema import (
    AGREEMENT_LABELS_EN,
    STUDY_ATTRIBUTES,
    Attribute,
    DatasetInfo,
    Dimension,
    Scale,
)
from pluralign_core.ratings.spec import (
    DemographicSpec,
    DimensionSpec,
    ImportSpec,
    normalize_label,
    short_hash,
    suggest_column,
)

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
HELDOUT_SHARE = 5
# Spellings of "no value" that statistics tools write (R: NA, pandas: NaN, Excel: #N/A). "None" is not
# one of them: it is a real answer to questions such as religious affiliation.
NA_TOKENS = frozenset(
    {"na", "n/a", "nan", "null", "#n/a"}
)  # without a split column, about one prompt in five is held out for evaluation


def _cell(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, list | tuple):
        items = [str(_cell(v)) for v in value if _cell(v) is not None]
        return tuple(items) if items else None
    if hasattr(value, "tolist") and not isinstance(value, str):  # numpy arrays from Parquet lists
        return _cell(value.tolist())
    if isinstance(value, bool):
        return str(value).lower()
    text = str(value).strip()
    return text or None


def clean(series: pd.Series, text_only: bool) -> pd.Series:
    """Cells as stripped text, ``None`` for missing; JSON/Parquet lists become tuples."""
    if text_only:
        return series.map(lambda v: (v.strip() or None) if isinstance(v, str) else None).astype(object)
    return series.map(_cell).astype(object)


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _not_stated(value: object) -> bool:
    """Missing, or a spelled-out missing value such as ``NA`` (demographic and score cells only)."""
    return _missing(value) or (isinstance(value, str) and value.strip().casefold() in NA_TOKENS)


def _demographic_values(value: object, separator: str | None) -> tuple[str, ...] | None:
    """A cell as a sorted tuple of values (several for a multi-select cell), None when not stated."""
    if isinstance(value, tuple):
        parts = value
    elif _not_stated(value):
        return None
    else:
        parts = str(value).split(separator) if separator else (str(value),)
    cleaned = sorted({p.strip() for p in parts if p.strip() and not _not_stated(p)})
    return tuple(cleaned) or None


def _first_row_conflicts(
    base: pd.DataFrame, key: str, value: str, problems: Problems, kind: str, message, column: str | None
) -> None:
    """Report rows where ``value`` differs from its first occurrence within the same ``key``."""
    present = base[base[key].notna() & base[value].notna()]
    if present.empty:
        return
    first = present.groupby(key, sort=False)[[value, "_row"]].transform("first")
    differs = present[value] != first[value]
    if not differs.any():
        return
    bad = present[differs].assign(
        _first_value=first.loc[differs, value], _first_row=first.loc[differs, "_row"]
    )
    bad = bad.drop_duplicates(key)
    messages = pd.Series(
        [message(r[key], r[value], r._first_value, r._first_row) for _, r in bad.iterrows()], index=bad.index
    )
    problems.add_rows(kind, messages, bad["_row"], column=column)


def _scores(raw: pd.Series, spec: ImportSpec, rows: pd.Series, columns: pd.Series, problems: Problems):
    """Parse score cells to integers; report every bad cell. Returns (scores, keep mask)."""
    text = raw.map(lambda v: " ".join(v) if isinstance(v, tuple) else (None if _not_stated(v) else v))
    missing = text.isna()
    number = pd.to_numeric(text.where(~missing), errors="coerce")
    is_number = number.notna()
    labels = spec.labels()
    by_label = text.where(~missing & ~is_number).map(lambda v: labels.get(normalize_label(v)) if v else None)
    is_label = by_label.notna()
    scores = number.where(is_number, by_label.astype(float))
    lo, hi = spec.scale_min, spec.scale_max
    known = ", ".join(repr(k) for k in list(labels)[:6]) + (" …" if len(labels) > 6 else "")
    checks = []
    if spec.scale_kind == "numeric":
        checks.append(
            ("not_a_number", ~missing & ~is_number, "score {v!r} is not a number (expected {lo}..{hi})")
        )
    elif spec.scale_kind == "labels":
        checks.append(
            ("unknown_label", ~missing & ~is_label, "{v!r} is not a known scale label; known: " + known)
        )
    else:
        checks.append(
            (
                "unknown_label",
                ~missing & ~is_number & ~is_label,
                "{v!r} is neither a number nor a known scale label (known: " + known + "); add it to "
                "label_map with its score",
            )
        )
    usable = scores.notna()
    fractional = usable & (scores != scores.round())
    checks.append(
        ("fractional_score", fractional, "score {v} is not a whole number; the scale has whole points")
    )
    out = usable & ~fractional & ((scores < lo) | (scores > hi))
    checks.append(("out_of_range", out, "score {v} is outside the scale {lo}..{hi}"))
    bad = pd.Series(False, index=raw.index)
    for kind, mask, template in checks:
        if spec.scale_kind == "labels" and kind != "unknown_label":
            mask = mask & is_label
        messages = text[mask].map(lambda v, t=template: t.format(v=v, lo=lo, hi=hi))
        problems.add_rows(kind, messages, rows[mask], column=columns[mask])
        bad |= mask
    if missing.any():
        first = rows[missing].min()
        problems.add(
            "empty_score",
            f"{int(missing.sum()):,} empty score cell(s) were skipped (first in row {first}); a blank "
            "cell means the rater gave no score",
            severity="warning",
        )
    return scores, ~missing & ~bad


def _split(base: pd.DataFrame, spec: ImportSpec, problems: Problems) -> None:
    if spec.split:
        raw = base["split"].map(lambda v: None if _missing(v) else normalize_label(v))
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


def _demographics(base: pd.DataFrame, spec: ImportSpec, problems: Problems, raters: pd.Index):
    rows, attributes = [], []
    for demo in spec.demographics:
        column = f"demo:{demo.column}"
        values = base[column].map(lambda v, s=demo.separator: _demographic_values(v, s)).astype(object)
        frame = pd.DataFrame({"rater_id": base["rater_id"], "value": values, "_row": base["_row"]})
        frame["joined"] = values.map(lambda v: None if _missing(v) else "; ".join(v)).astype(object)
        _first_row_conflicts(
            frame,
            "rater_id",
            "joined",
            problems,
            "conflicting_demographics",
            lambda r, v, f, fr, a=demo.attribute: (
                f"rater {r!r} has {a} = {v!r} here but {f!r} in row {fr}; a rater's "
                "demographics must be the same on every row"
            ),
            demo.column,
        )
        firsts = frame.dropna(subset=["value", "rater_id"]).drop_duplicates("rater_id")
        multi = bool(demo.separator) or bool((firsts["value"].map(len) > 1).any())
        exploded = firsts.explode("value")
        rows.append(
            pd.DataFrame(
                {"rater_id": exploded.rater_id, "attribute": demo.attribute, "value": exploded.value}
            )
        )
        attributes.append(_attribute(demo, multi, set(exploded.value)))
    long = (
        pd.concat(rows, ignore_index=True)
        if rows
        else pd.DataFrame(columns=["rater_id", "attribute", "value"])
    )
    return long[long.rater_id.isin(raters)], attributes


def _attribute(demo: DemographicSpec, multi: bool, present: set[str]) -> Attribute:
    study = {a.name: a for a in STUDY_ATTRIBUTES}.get(demo.attribute)
    order = tuple(demo.values)
    if not order and study is not None and present and present <= set(study.values):
        order = tuple(v for v in study.values if v in present)
    label = (
        study.label
        if study is not None and demo.label == demo.column.replace("_", " ").capitalize()
        else demo.label
    )
    return Attribute(demo.attribute, label, study is not None, multi, order)


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
    mapped = base["dimension_raw"].map(lambda v: None if _missing(v) else lookup.get(normalize_label(v)))
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

    _first_row_conflicts(
        base, "item_id", "text", problems, "conflicting_item_text", conflict("item"), spec.response_text
    )
    _first_row_conflicts(
        base,
        "item_id",
        "prompt_id",
        problems,
        "conflicting_item_prompt",
        lambda k, v, f, fr: f"item {k!r} belongs to prompt {v!r} here but to {f!r} in row {fr}",
        spec.prompt_id or spec.prompt_text,
    )
    _first_row_conflicts(
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
        _first_row_conflicts(
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
    scores, keep = _scores(ratings["raw"], spec, ratings["_row"], ratings["_column"], problems)
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
    rater_attributes, attributes = _demographics(base, spec, problems, pd.Index(raters.rater_id))
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
        _scale(spec),
        simulated=False,
        source=table.file,
        meta={"import_spec": spec.to_dict(), "imported_from": table.file},
    )
    dims = [Dimension(d.name, d.label, d.higher_is_better, d.description) for d in dimensions]
    return DatasetBundle(info, dims, attributes, raters, rater_attributes, prompts, responses, ratings)


def _scale(spec: ImportSpec) -> Scale:
    points = spec.scale_max - spec.scale_min + 1
    by_score = {}
    for label, score in spec.label_map.items():
        by_score.setdefault(score, label)
    if len(by_score) == points:
        return Scale(
            spec.scale_min,
            spec.scale_max,
            tuple(by_score[s] for s in range(spec.scale_min, spec.scale_max + 1)),
        )
    if points == 5 and spec.scale_kind != "numeric":
        return Scale(spec.scale_min, spec.scale_max, AGREEMENT_LABELS_EN)
    return Scale(spec.scale_min, spec.scale_max, ())


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
