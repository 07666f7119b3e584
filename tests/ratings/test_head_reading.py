"""The wizard's preview reads only the head of a file (issue 17): the rows reading it whole gives first."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pluralign_core.paths import REPO_ROOT
from pluralign_core.ratings import head_reading, parquet_file
from pluralign_core.ratings.head_reading import read_head
from pluralign_core.ratings.importing import infer_spec
from pluralign_core.ratings.reading import ImportSource, Problems, read_table
from tests.fixtures_shapes import SHAPES

EXAMPLES = REPO_ROOT / "data" / "examples"


def _sources(tmp_path: Path) -> list[Path]:
    """The shipped examples and every odd-shaped fixture, as CSV, Parquet and JSON Lines."""
    files = [EXAMPLES / "wide_ratings_en.csv", EXAMPLES / "long_ratings_de.jsonl"]
    for name, shape in SHAPES.items():
        frame = shape().frame
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        frame.to_parquet(tmp_path / f"{name}.parquet", index=False)
        frame.to_json(tmp_path / f"{name}.jsonl", orient="records", lines=True, force_ascii=False)
        files += [tmp_path / f"{name}.{suffix}" for suffix in ("csv", "parquet", "jsonl")]
    return files


@pytest.mark.parametrize("rows", [1, 7, 10_000])
def test_the_head_is_the_first_rows_of_the_whole_read(tmp_path: Path, rows: int) -> None:
    for source in _sources(tmp_path):
        whole, head = (
            read_table(source, Problems(source.name)),
            read_head(source, Problems(source.name), rows),
        )
        assert whole is not None and head is not None, source
        expected = whole.frame.head(rows)
        pd.testing.assert_frame_equal(head.frame, expected, obj=source.name)
        assert list(head.rows) == list(whole.rows.head(rows)), source
        assert (head.encoding, head.text_only) == (whole.encoding, whole.text_only), source
        if rows >= len(whole.frame):
            assert infer_spec(head.frame, "x") == infer_spec(whole.frame, "x"), source


def _big_csv(tmp_path: Path, n: int = 60_000) -> Path:
    frame = pd.DataFrame(
        {"rater": [f"r{i % 500}" for i in range(n)], "item": [f"i{i}" for i in range(n)], "score": [3] * n}
    )
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)
    return path


def test_a_large_csv_is_parsed_only_for_its_head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[int] = []
    original = pd.read_csv

    def counting(*args, **kwargs):
        frame = original(*args, **kwargs)
        parsed.append(len(frame))
        return frame

    monkeypatch.setattr(pd, "read_csv", counting)
    path = _big_csv(tmp_path)
    table = read_head(ImportSource(path.name, path.read_bytes()), Problems(path.name), rows=50)
    assert table is not None and len(table.frame) == 50
    assert parsed == [50], "only the head is turned into a frame"
    assert list(table.rows) == list(range(2, 52))


def test_a_large_parquet_file_decodes_one_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    n = 200_000
    path = tmp_path / "big.parquet"
    table = pa.table({"rater": [f"r{i % 500}" for i in range(n)], "score": [i % 5 + 1 for i in range(n)]})
    pq.write_table(table, path, row_group_size=20_000)
    decoded: list[int] = []
    original = parquet_file.record_batches

    def counting(parquet, rows=parquet_file.BATCH_ROWS, **kwargs):
        for batch in original(parquet, rows, **kwargs):
            decoded.append(batch.num_rows)
            yield batch

    monkeypatch.setattr(head_reading, "record_batches", counting)
    head = read_head(path, Problems(path.name), rows=100)
    assert head is not None and len(head.frame) == 100
    assert decoded == [100], "one batch of the head's size is decoded, not the file"
    assert list(head.frame.score[:6]) == [1, 2, 3, 4, 5, 1]


def test_the_head_keeps_the_whole_file_checks(tmp_path: Path) -> None:
    """A file too large or of a refused kind is refused before any row is read, with the same message."""
    path = tmp_path / "ratings.pkl"
    path.write_bytes(b"not read")
    problems = Problems(path.name)
    assert read_head(path, problems) is None
    assert [p.kind for p in problems.errors] == ["unsupported_extension"]


def test_the_dimensions_of_a_long_file_come_from_the_whole_file(tmp_path: Path) -> None:
    """A long file sorted by dimension: the head holds one dimension, the wizard must list all three."""
    from pluralign_core.ratings.column_values import column_values

    n = 300
    frame = pd.DataFrame(
        {
            "rater": [f"r{i % 30}" for i in range(3 * n)],
            "item": [f"i{i % n}" for i in range(3 * n)],
            "dimension": ["toxicity"] * n + ["helpfulness"] * n + [" sensitivity "] * n,
            "score": [3] * (3 * n),
        }
    )
    path = tmp_path / "long.csv"
    frame.to_csv(path, index=False)
    head = read_head(path, Problems(path.name), rows=100)
    assert set(head.frame.dimension) == {"toxicity"}
    assert column_values(path, "dimension", Problems(path.name)) == ["helpfulness", "sensitivity", "toxicity"]
    assert column_values(path, "no such column", Problems(path.name)) is None
