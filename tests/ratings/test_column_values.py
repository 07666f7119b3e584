"""The wizard's value lists come from the whole file, one column read, and are bounded (issue 17)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pluralign_core.ratings import column_values as listing
from pluralign_core.ratings.column_values import column_values
from pluralign_core.ratings.head_reading import read_head
from pluralign_core.ratings.reading import Problems


def _late_value(rows: int = 600) -> pd.DataFrame:
    """Education answers where 'doctorate' first appears in the last rows, past any head read."""
    education = ["primary", "secondary"] * (rows // 2)
    education[-3:] = ["doctorate", " doctorate ", ""]
    return pd.DataFrame(
        {
            "rater": [f"r{i}" for i in range(rows)],
            "item": [f"i{i % 7}" for i in range(rows)],
            "education": education,
            "score": [3] * rows,
        }
    )


def _write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False) if path.suffix == ".csv" else frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_a_value_first_seen_after_the_head_is_listed(tmp_path: Path, suffix: str, monkeypatch) -> None:
    monkeypatch.setattr(listing, "CODED_BATCH_ROWS", 50)  # several batches
    frame = _late_value()
    path = tmp_path / f"late{suffix}"
    if suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        _write(frame, path)
    head = read_head(path, Problems(path.name), rows=100)
    assert "doctorate" not in set(head.frame.education)
    problems = Problems(path.name)
    assert column_values(path, "education", problems) == ["doctorate", "primary", "secondary"]
    assert problems.ok
    assert column_values(path, "no such column", Problems(path.name)) is None


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_only_the_chosen_column_is_read(tmp_path: Path, suffix: str, monkeypatch) -> None:
    seen: list[pd.Series] = []
    add = listing._Distinct.add
    monkeypatch.setattr(listing._Distinct, "add", lambda self, cells: (seen.append(cells), add(self, cells)))
    path = _write(_late_value(), tmp_path / f"late{suffix}")
    column_values(path, "education", Problems(path.name))
    assert seen and all(len(cells.shape) == 1 for cells in seen)
    assert sum(len(cells) for cells in seen) == 600


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_column_with_too_many_values_is_refused_with_a_reason(tmp_path: Path, suffix: str) -> None:
    path = _write(_late_value(), tmp_path / f"late{suffix}")
    problems = Problems(path.name)
    assert column_values(path, "rater", problems, max_values=100) is None
    assert [p.kind for p in problems.errors] == ["too_many_values"]
    assert "more than 100 different values" in problems.errors[0].message
    assert column_values(path, "education", Problems(path.name), max_values=3) == [
        "doctorate",
        "primary",
        "secondary",
    ]


def test_a_malformed_csv_row_does_not_stop_the_listing(tmp_path: Path) -> None:
    """Only the chosen column is parsed; the check and the import report the malformed row."""
    path = tmp_path / "bad.csv"
    path.write_text("rater,education,score\nr1,primary,3\nr2,secondary,4,extra\n", encoding="utf-8")
    assert column_values(path, "education", Problems(path.name)) == ["primary", "secondary"]
