"""The checked import: read a ratings file, check every row against an :class:`ImportSpec`, write it.

:func:`import_dataset` reads the file batch by batch into coded columns
(:mod:`pluralign_core.ratings.batched_reading`: CSV in a detected encoding, Parquet, JSON Lines, dataset
folders; never pickle), checks every row (:mod:`pluralign_core.ratings.validation`), and only when
nothing is wrong writes through :meth:`Store.write_dataset`, which is atomic: a bad file never changes
the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pluralign_core import paths
from pluralign_core.ratings.batched_reading import read_coded
from pluralign_core.ratings.bundle import DatasetError
from pluralign_core.ratings.reading import (
    ImportLimits,
    Problems,
    Table,
    Upload,
    csv_safe,
    source_name,
)
from pluralign_core.ratings.spec import DemographicSpec, DimensionSpec, ImportSpec, infer_spec
from pluralign_core.ratings.validation import build_bundle

__all__ = [
    "DemographicSpec",
    "DimensionSpec",
    "ImportLimits",
    "ImportReport",
    "ImportSpec",
    "csv_safe",
    "import_dataset",
    "infer_spec",
    "preview_mapping",
]

PREVIEW_ROWS = 10


@dataclass
class ImportReport:
    """What an import found and did: counts, every problem (with where), and whether it was written."""

    dataset_id: str
    file: str
    problems: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    error_count: int = 0
    warning_count: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    written: bool = False
    dry_run: bool = False
    fingerprint: str = ""

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def problems_frame(self, *, include_warnings: bool = True) -> pd.DataFrame:
        items = self.problems + (self.warnings if include_warnings else [])
        return pd.DataFrame(
            [(p.severity, p.kind, p.file, p.row, p.column, p.message) for p in items],
            columns=["severity", "kind", "file", "row", "column", "message"],
        ).astype({"row": "Int64"})

    def format(self) -> str:
        """A plain-text report for the command line."""
        lines = []
        if self.ok:
            verb = "would import" if self.dry_run else "imported"
            counts = ", ".join(f"{v:,} {k}" for k, v in self.counts.items())
            lines.append(f"{self.file}: {verb} dataset {self.dataset_id!r} ({counts}).")
        else:
            lines.append(
                f"{self.file}: {self.error_count} problem(s) found; nothing was imported. Fix them and "
                "import again."
            )
        for problem in self.problems:
            lines.append(f"  error   {problem}")
        if self.error_count > len(self.problems):
            lines.append(f"  ... and {self.error_count - len(self.problems)} more error(s)")
        for problem in self.warnings:
            lines.append(f"  warning {problem}")
        if self.warning_count > len(self.warnings):
            lines.append(f"  ... and {self.warning_count - len(self.warnings)} more warning(s)")
        return "\n".join(lines)


def spec_path(dataset_id: str) -> Path:
    """Where the import spec of a dataset is kept next to the store (``<home>/datasets/<id>/``)."""
    return paths.subdir("datasets", paths.folder_name(dataset_id)) / "import_spec.yaml"


def import_dataset(
    store: Any,
    source: str | Path | Upload,
    spec: ImportSpec,
    *,
    replace: bool = False,
    dry_run: bool = False,
    limits: ImportLimits | None = None,
) -> ImportReport:
    """Check ``source`` against ``spec`` completely, then (unless a dry run) write it atomically.

    Returns an :class:`ImportReport`; it lists every problem found (up to ``limits.max_problems``) and
    the store is untouched unless ``report.written``.
    """
    limits = limits or ImportLimits()
    name = source_name(source)
    problems = Problems(name, limits.max_problems)
    _check_dataset_id(store, spec.dataset_id, replace, problems)
    table = read_coded(source, problems, limits, delimiter=spec.delimiter, encoding=spec.encoding)
    bundle = build_bundle(table, spec, problems) if table is not None else None
    del table  # the coded file is not needed to write the bundle: its memory goes before DuckDB's comes
    report = ImportReport(spec.dataset_id, name, dry_run=dry_run)
    if bundle is not None:
        report.counts = {
            "raters": len(bundle.raters),
            "prompts": len(bundle.prompts),
            "responses": len(bundle.responses),
            "ratings": len(bundle.ratings),
            "dimensions": len(bundle.dimensions),
            "attributes": len(bundle.attributes),
        }
    if bundle is not None and problems.ok and not dry_run:
        try:
            report.fingerprint = store.write_dataset(bundle, replace=replace)
            report.written = True
        except DatasetError as error:
            problems.add("store", f"the store refused the dataset: {error}")
    if report.written:
        spec_path(spec.dataset_id).write_text(spec.to_yaml(), "utf-8")
    report.problems, report.warnings = problems.errors, problems.warnings
    report.error_count, report.warning_count = problems.error_count, problems.warning_count
    return report


def preview_mapping(table: Table, spec: ImportSpec, rows: int = PREVIEW_ROWS) -> tuple[pd.DataFrame, list]:
    """The first ``rows`` rows of the file as they would be imported under ``spec``: one line per rating
    (rater, prompt, response, dimension, score, then each rater attribute), and the problems of those rows.

    The wizard shows it before the import, so a mapping that puts the prompt in the response column, or a
    score scale read backwards, is seen on ten rows rather than after importing ten thousand. Columns keep
    their machine names (``rater_id``, ``dimension``, each attribute's name); the page shows them readably.
    """
    head = Table(
        table.frame.head(rows).reset_index(drop=True),
        table.rows.head(rows).reset_index(drop=True),
        table.file,
        table.text_only,
        table.encoding,
    )
    problems = Problems(table.file)
    bundle = build_bundle(head, spec, problems)
    if bundle is None or bundle.ratings.empty:
        return pd.DataFrame(), problems.errors
    responses = bundle.responses.rename(columns={"text": "response"})[
        ["response_id", "prompt_id", "response"]
    ]
    prompts = bundle.prompts.rename(columns={"text": "prompt"})[["prompt_id", "prompt"]]
    frame = bundle.ratings.merge(responses, on="response_id", how="left").merge(
        prompts, on="prompt_id", how="left"
    )
    rater_order = {r: i for i, r in enumerate(dict.fromkeys(head.frame[spec.rater_id].astype(str)))}
    response_order = {r: i for i, r in enumerate(bundle.responses.response_id)}
    frame = frame.assign(
        _rater=frame.rater_id.map(rater_order), _response=frame.response_id.map(response_order)
    ).sort_values(["_rater", "_response"], kind="stable")  # the file's order, not one dimension after another
    labels = {d.name: d.label or d.name for d in bundle.dimensions}
    scale = bundle.info.scale
    frame["dimension"] = frame.dimension.map(lambda d: labels.get(d, d))
    frame["score"] = frame.score.map(
        lambda v: f"{v} {scale.labels[int(v) - scale.minimum]}" if scale.labels else str(v)
    )
    columns = ["rater_id", "prompt", "response", "dimension", "score"]
    if bundle.prompts.empty:
        columns.remove("prompt")
    attributes = bundle.rater_attributes
    if not attributes.empty:
        wide = (
            attributes.groupby(["rater_id", "attribute"], sort=False)
            .value.agg(lambda v: "; ".join(map(str, v)))
            .unstack("attribute")
            .reset_index()
        )
        frame = frame.merge(wide, on="rater_id", how="left")
        columns += [a.name for a in bundle.attributes if a.name in wide]
    return frame[columns].reset_index(drop=True), problems.errors


def _check_dataset_id(store: Any, dataset_id: str, replace: bool, problems: Problems) -> None:
    try:
        safe = paths.safe_name(dataset_id)
    except ValueError:
        safe = ""
    if safe != dataset_id:
        hint = f" such as {safe!r}" if safe else ""
        problems.add(
            "unsafe_dataset_id",
            f"the dataset id {dataset_id!r} cannot be used: use only letters, digits, '.', '_' and '-' "
            f"(not starting with '.'), for example an id{hint}",
        )
    elif store.has_dataset(dataset_id) and not replace:
        problems.add(
            "dataset_exists",
            f"a dataset with the id {dataset_id!r} exists already; choose another id or replace it "
            "(--replace, or tick 'Replace' in the app)",
        )
