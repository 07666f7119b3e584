"""The batched import (coded columns, issue 17) stores exactly what reading the whole file gives.

Each file is imported twice into separate stores: once through :func:`import_dataset` (the file read batch
by batch into coded columns) and once through the whole-frame reader (:func:`read_table`, as the preview
uses) followed by the same checks and :meth:`Store.write_dataset`. Every stored table must be identical,
and so must the problems reported. Batches are made tiny so that distinct values, conflicts and
duplicates span batch boundaries. A separate test checks the stored ratings against the file itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from pluralign_core.ratings import batched_reading
from pluralign_core.ratings.importing import import_dataset, infer_spec
from pluralign_core.ratings.reading import ImportLimits, Problems, read_table
from pluralign_core.ratings.spec import DemographicSpec, ImportSpec
from pluralign_core.ratings.validation import build_bundle
from pluralign_core.store.database import DATASET_TABLES, Store
from tests.fixtures_shapes import SHAPES

EXAMPLES = Path(__file__).resolve().parents[2] / "data" / "examples"


def _stored(store: Store, dataset_id: str) -> dict[str, pd.DataFrame]:
    tables = {}
    for table in (*DATASET_TABLES, "datasets"):
        frame = store.query(f"SELECT * FROM {table} WHERE dataset_id = ?", [dataset_id])
        frame = frame.drop(columns=[c for c in ("created_at",) if c in frame.columns])
        tables[table] = frame.astype(str).sort_values(list(frame.columns)).reset_index(drop=True)
    return tables


def _both_paths(tmp_path: Path, source: Path, spec: ImportSpec) -> tuple[dict, dict, list, list]:
    batched = Store(tmp_path / "batched.duckdb")
    report = import_dataset(batched, source, spec)
    whole = Store(tmp_path / "whole.duckdb")
    problems = Problems(source.name)
    table = read_table(source, problems, ImportLimits(), delimiter=spec.delimiter)
    assert table is not None
    bundle = build_bundle(table, spec, problems)
    if bundle is not None and problems.ok:
        whole.write_dataset(bundle)
    batched_problems = [(p.kind, p.row, p.column, p.message) for p in report.problems + report.warnings]
    whole_problems = [(p.kind, p.row, p.column, p.message) for p in problems.errors + problems.warnings]
    return (
        _stored(batched, spec.dataset_id),
        _stored(whole, spec.dataset_id),
        batched_problems,
        whole_problems,
    )


def _assert_same(tmp_path: Path, source: Path, spec: ImportSpec) -> dict[str, pd.DataFrame]:
    batched, whole, batched_problems, whole_problems = _both_paths(tmp_path, source, spec)
    assert batched_problems == whole_problems
    for table in batched:
        pd.testing.assert_frame_equal(batched[table], whole[table], obj=table)
    return batched


@pytest.fixture(autouse=True)
def tiny_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batched_reading, "CODED_BATCH_ROWS", 7)


@pytest.mark.parametrize("example", ["wide_ratings_en.csv", "long_ratings_de.jsonl"])
def test_the_examples_store_the_same_through_both_paths(pluralign_home: Path, tmp_path: Path, example: str):
    spec = ImportSpec.from_yaml(EXAMPLES / example.replace(Path(example).suffix, ".spec.yaml"))
    stored = _assert_same(tmp_path, EXAMPLES / example, spec)
    assert len(stored["ratings"]) >= 100


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_odd_shapes_store_the_same_through_both_paths(
    pluralign_home: Path, tmp_path: Path, shape: str, fmt: str
) -> None:
    frame = SHAPES[shape]().frame
    source = tmp_path / f"{shape}.{fmt}"
    frame.to_csv(source, index=False) if fmt == "csv" else frame.to_parquet(source, index=False)
    spec = infer_spec(frame, "shape")
    stored = _assert_same(tmp_path, source, spec)
    assert len(stored["ratings"]) > 0


def _messy(rows: int, seed: int = 0) -> pd.DataFrame:
    """Long ratings with the cells real exports have: padding, NA spellings, blanks, labels, formulas."""
    rng = np.random.default_rng(seed)
    rater = rng.integers(0, 40, rows)
    item = rng.integers(0, 25, rows)
    score = rng.choice(["1", "2", " 3", "4 ", "5", "NA", "", "strongly agree", "9", "2.5"], rows)
    return pd.DataFrame(
        {
            "rater_id": [f" r{r}" if r % 7 == 0 else f"r{r}" for r in rater],
            "prompt": [f"prompt {i % 5}" for i in item],
            "response": [f"=answer {i}" if i == 3 else f"answer {i}" for i in item],
            "dimension": rng.choice(["Toxicity", "helpfulness", "toxicity "], rows),
            "score": score,
            "gender": np.where(rater % 3 == 0, "woman", np.where(rater % 3 == 1, "man", "n/a")),
            "age": [f"{18 + 10 * (r % 5)}-{27 + 10 * (r % 5)}" for r in rater],
        }
    )


MESSY_SPEC = {
    "layout": "long",
    "rater_id": "rater_id",
    "prompt_text": "prompt",
    "response_text": "response",
    "dimension_column": "dimension",
    "score_column": "score",
    "demographics": [DemographicSpec(column="gender"), DemographicSpec(column="age")],
}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_bad_cells_are_reported_the_same_through_both_paths(pluralign_home: Path, tmp_path: Path, fmt: str):
    frame = _messy(300)
    source = tmp_path / f"messy.{fmt}"
    frame.to_csv(source, index=False) if fmt == "csv" else frame.to_parquet(source, index=False)
    _, _, batched_problems, whole_problems = _both_paths(
        tmp_path, source, ImportSpec(dataset_id="messy", **MESSY_SPEC)
    )
    kinds = {kind for kind, *_ in batched_problems}
    assert {"out_of_range", "fractional_score", "duplicate_rating", "formula_like_cell"} <= kinds
    assert batched_problems == whole_problems


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_stored_ratings_are_the_file_s_ratings(pluralign_home: Path, tmp_path: Path, fmt: str) -> None:
    """An oracle independent of both paths: plain pandas over the file."""
    frame = _messy(2_000).drop_duplicates(["rater_id", "response", "dimension"])
    frame = frame[frame.score.str.strip().isin(["1", "2", "3", "4", "5"])]
    frame = frame.assign(dimension=frame.dimension.str.strip().str.lower())
    frame = frame.assign(rater_id=frame.rater_id.str.strip()).drop_duplicates(
        ["rater_id", "response", "dimension"]
    )
    source = tmp_path / f"clean.{fmt}"
    frame.to_csv(source, index=False) if fmt == "csv" else frame.to_parquet(source, index=False)
    store = Store(tmp_path / "store.duckdb")
    report = import_dataset(store, source, ImportSpec(dataset_id="clean", **MESSY_SPEC))
    assert report.ok and report.written, report.format()
    got = store.query(
        "SELECT g.rater_id, r.text AS response, g.dimension, g.score FROM ratings g "
        "JOIN responses r USING (dataset_id, response_id) WHERE dataset_id = 'clean'"
    )
    expected = frame.assign(score=frame.score.str.strip().astype(int))[list(got.columns)]
    key = ["rater_id", "response", "dimension"]
    got = got.astype({"score": int}).sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected.sort_values(key).reset_index(drop=True), check_dtype=False)
    raters = store.query("SELECT rater_id FROM raters WHERE dataset_id = 'clean'").rater_id
    assert sorted(raters) == sorted(frame.rater_id.unique())
    genders = store.query(
        "SELECT rater_id, value FROM rater_attributes WHERE dataset_id = 'clean' AND attribute = 'gender'"
    )
    stated = frame[frame.gender != "n/a"].drop_duplicates("rater_id")
    assert dict(zip(genders.rater_id, genders.value, strict=True)) == dict(
        zip(stated.rater_id, stated.gender, strict=True)
    )


def test_the_import_row_limit_is_enforced_without_decoding_rows(
    pluralign_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "many.parquet"
    _messy(5_000).to_parquet(source, index=False)

    def no_decoding(*args, **kwargs):
        raise AssertionError("rows were decoded before the row limit was checked")

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", no_decoding)
    monkeypatch.setattr(pq.ParquetFile, "read", no_decoding)
    monkeypatch.setattr(pq, "read_table", no_decoding)
    store = Store(tmp_path / "store.duckdb")
    spec = ImportSpec(dataset_id="many", **MESSY_SPEC)
    report = import_dataset(store, source, spec, limits=ImportLimits(max_rows=1_000))
    assert [p.kind for p in report.problems] == ["too_many_rows"] and not report.written
    assert "5,000 rows" in report.problems[0].message

    csv_source = tmp_path / "many.csv"
    _messy(5_000).to_csv(csv_source, index=False)
    monkeypatch.setattr(pd, "read_csv", no_decoding)
    report = import_dataset(store, csv_source, spec, limits=ImportLimits(max_rows=1_000))
    assert [p.kind for p in report.problems] == ["too_many_rows"] and not report.written
    assert store.datasets().empty


def test_a_non_utf8_csv_takes_the_decoded_path_and_stores_the_same(pluralign_home: Path, tmp_path: Path):
    frame = _messy(200).assign(prompt=lambda f: f.prompt + " für Köln")
    source = tmp_path / "western.csv"
    source.write_bytes(frame.to_csv(index=False).encode("cp1252"))
    stored = _assert_same(tmp_path, source, ImportSpec(dataset_id="western", **MESSY_SPEC))
    assert stored["prompts"].text.str.contains("für Köln").all()
