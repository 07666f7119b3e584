"""The import wizard's encoding step and mapped-rows preview (AppTest), the core preview, and
``pluralign import --encoding``: Latin-1 and UTF-16 files are read right, shown for confirmation, and
imported with their letters intact."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from pluralign_core import cli, paths
from pluralign_core.ratings.importing import infer_spec, preview_mapping
from pluralign_core.ratings.reading import ImportSource, Problems, read_table
from pluralign_core.store.database import Store
from tests.fixtures_shapes import SHAPES

pytestmark = pytest.mark.usefixtures("bare_app")

UMLAUT = "Grüße aus München, schön"
MOJIBAKE = UMLAUT.encode("utf-8").decode("latin-1")  # UTF-8 bytes read as Latin-1


def _file(encoding: str) -> bytes:
    """The small-groups shape with accented answers, encoded as ``encoding``."""
    frame = SHAPES["small_groups"]().frame.copy()
    frame["response"] = frame.response.str.replace("Answer 0", UMLAUT, regex=False)
    return frame.to_csv(index=False).encode(encoding)


def _upload(data: bytes, name: str = "ratings.csv") -> AppTest:
    at = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/data.py").run()
    at.file_uploader(key="import_upload").upload(name, data, "text/csv").run()
    assert not at.exception, at.exception
    return at


def _preview(at: AppTest):
    """The mapped-rows preview: the table with the readable role names (the file preview has the file's)."""
    return next(d.value for d in at.dataframe if {"Rater id", "Answer"} <= set(d.value.columns))


def _stored_responses(store: Store, dataset_id: str) -> set[str]:
    return set(store.query(f"SELECT text FROM responses WHERE dataset_id = '{dataset_id}'").text)


@pytest.mark.parametrize(("encoding", "detected"), [("latin-1", "cp1252"), ("utf-16", "utf-16")])
def test_wizard_shows_the_detected_encoding_previews_mapped_rows_and_imports(
    store: Store, encoding: str, detected: str
) -> None:
    at = _upload(_file(encoding))
    picker = at.selectbox(key="imp_encoding")
    assert picker.value == detected and "detected" in picker.options[0]
    preview = _preview(at)
    assert {"Rater id", "Prompt", "Response", "Dimension", "Answer", "Gender", "Age band"} <= set(
        preview.columns
    )
    assert preview.Response.str.startswith(UMLAUT).any()  # the letters read right, before importing
    assert len(preview) == 10 * 2  # ten rows of the file, two rating columns each
    at.button(key="import_run").click().run()
    assert not at.exception, at.exception
    dataset_id = store.active_dataset()
    assert any(text.startswith(UMLAUT) for text in _stored_responses(store, dataset_id))


def test_picking_another_encoding_rereads_the_file_and_imports_with_it(store: Store) -> None:
    at = _upload(_file("utf-8"))
    assert at.selectbox(key="imp_encoding").value == "utf-8"
    at.selectbox(key="imp_encoding").set_value("latin-1").run()
    assert not at.exception, at.exception
    assert _preview(at).Response.str.startswith(MOJIBAKE).any()  # the file was read again, as Latin-1
    assert "encoding: latin-1" in next(c.value for c in at.code)
    at.selectbox(key="imp_encoding").set_value("utf-8").run()
    assert _preview(at).Response.str.startswith(UMLAUT).any()
    at.button(key="import_run").click().run()
    assert any(text.startswith(UMLAUT) for text in _stored_responses(store, store.active_dataset()))


def test_preview_mapping_lists_the_first_rows_ratings_in_file_order() -> None:
    table = read_table(ImportSource("a.csv", _file("utf-8")), Problems("a.csv"))
    spec = infer_spec(table.frame, "x")
    frame, problems = preview_mapping(table, spec, rows=3)
    assert problems == []
    first = table.frame.head(3)
    assert list(frame.columns[:5]) == ["rater_id", "prompt", "response", "dimension", "score"]
    assert list(frame.response) == [r for r in first.response for _ in range(2)]
    pairs = zip(first.toxicity, first.helpfulness, strict=True)
    assert list(frame.score) == [str(v) for pair in pairs for v in pair]


def test_cli_import_reads_the_encoding_given(pluralign_home, tmp_path, capsys) -> None:
    path = tmp_path / "ratings.csv"
    path.write_bytes(_file("utf-8"))
    assert cli.main(["import", str(path), "--dataset-id", "wrong", "--encoding", "latin-1"]) == 0
    assert cli.main(["import", str(path), "--dataset-id", "right"]) == 0
    store = Store()
    assert any(t.startswith(MOJIBAKE) for t in _stored_responses(store, "wrong"))
    assert any(t.startswith(UMLAUT) for t in _stored_responses(store, "right"))
