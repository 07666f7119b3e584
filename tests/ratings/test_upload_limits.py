"""Uploads are sized from their metadata before anything is decoded (issue 17, review finding 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from bench.bench_import_memory import measure
from pluralign_core.ratings.reading import ImportLimits, Problems, read_table


def _compressible_parquet(path: Path, rows: int) -> Path:
    frame = pd.DataFrame(
        {
            "rater_id": np.repeat("r1", rows),
            "response_id": np.repeat("x1", rows),
            "dimension": "toxicity",
            "score": np.ones(rows, dtype=np.int64),
        }
    )
    frame.to_parquet(path, index=False, compression="zstd")
    return path


def test_a_small_parquet_that_decodes_to_hundreds_of_mb_is_refused_from_its_footer(tmp_path: Path) -> None:
    """The review's repro: a ~70 kB Parquet file grew the server by hundreds of MB while being read."""
    bomb = _compressible_parquet(tmp_path / "ratings.parquet", 5_000_000)
    assert bomb.stat().st_size < 200_000
    grown_mb, kinds, rows = measure(bomb)  # in a fresh process, so its peak memory is the read's alone
    assert kinds == "too_large" and rows == 0
    assert grown_mb < 64, f"reading grew the process by {grown_mb} MB"


def test_the_row_limit_is_checked_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    upload = _compressible_parquet(tmp_path / "ratings.parquet", 5_000)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded before the row limit was checked")

    monkeypatch.setattr(pq, "read_table", no_decoding)
    monkeypatch.setattr(pq.ParquetFile, "iter_batches", no_decoding)
    monkeypatch.setattr(pq.ParquetFile, "read", no_decoding)
    problems = Problems()
    assert read_table(upload, problems, ImportLimits(max_rows=1_000)) is None
    assert [p.kind for p in problems.errors] == ["too_many_rows"]
    assert "5,000 rows" in problems.errors[0].message


def test_a_csv_with_too_many_lines_is_refused_before_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload = tmp_path / "ratings.csv"
    upload.write_text("rater_id,response_id,dimension,score\n" + "r1,x1,toxicity,1\n" * 100)

    def no_parsing(*args, **kwargs):
        raise AssertionError("parsed before the row limit was checked")

    monkeypatch.setattr(pd, "read_csv", no_parsing)
    problems = Problems()
    assert read_table(upload, problems, ImportLimits(max_rows=10)) is None
    assert [p.kind for p in problems.errors] == ["too_many_rows"]


def test_a_genuine_parquet_file_still_reads_in_batches(tmp_path: Path) -> None:
    rows = 150_000  # more than two batches
    frame = pd.DataFrame(
        {
            "rater_id": [f"r{i % 997}" for i in range(rows)],
            "response_id": [f"x{i % 61}" for i in range(rows)],
            "score": np.arange(rows) % 5 + 1,
        }
    )
    frame.to_parquet(tmp_path / "ratings.parquet", index=False)
    problems = Problems()
    table = read_table(tmp_path / "ratings.parquet", problems)
    assert problems.ok and table is not None
    pd.testing.assert_frame_equal(table.frame, frame)
    assert table.rows.iloc[-1] == rows + 1
