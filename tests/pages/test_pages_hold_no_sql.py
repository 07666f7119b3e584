"""Pages are widgets and charts over ``pluralign_core``: every database question lives in the core."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGES = Path(__file__).resolve().parents[2] / "pages"
SQL = re.compile(r"\bSELECT\b|\bFROM\b|store(\(\))?\.query\(|\.execute\(|\.sql\(")


def page_files() -> list[Path]:
    return sorted(PAGES.glob("*.py"))


def sql_lines(text: str) -> list[str]:
    return [f"{n}: {line.strip()}" for n, line in enumerate(text.splitlines(), 1) if SQL.search(line)]


def test_there_are_pages_to_check():
    assert {"data.py", "explore.py", "preferences.py"} <= {p.name for p in page_files()}


@pytest.mark.parametrize("page", page_files(), ids=lambda p: p.name)
def test_page_holds_no_sql(page: Path):
    found = sql_lines(page.read_text(encoding="utf-8"))
    assert not found, f"pages/{page.name} runs SQL; move it into pluralign_core.store.catalog:\n" + "\n".join(
        found
    )


def test_the_check_catches_each_form_of_sql():
    for line in (
        'store.query("SELECT 1")',
        "get_store().query(sql)",
        "con.execute(sql)",
        "FROM ratings",
        "duckdb.sql(text)",
    ):
        assert sql_lines(line), line
    assert not sql_lines('st.selectbox("Select a dataset", options)')
    assert not sql_lines("report.problems_frame().query(\"severity == 'warning'\")")
