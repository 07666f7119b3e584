"""Encoding detection, delimiter sniffing and Hugging Face dataset folders on import."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pluralign_core.ratings.importing import import_dataset
from pluralign_core.ratings.reading import ImportSource, Problems, read_table
from pluralign_core.ratings.text_encoding import EncodingError, decode_text, sniff_delimiter
from pluralign_core.store.database import Store
from tests.ratings.test_importing import GOOD_ROWS, HEADER, _spec

UMLAUT = "Grüße aus München – schön"
UMLAUT_ROWS = [row.replace(",A2,", f",{UMLAUT},") for row in GOOD_ROWS]
TEXT = "\n".join([HEADER, *UMLAUT_ROWS]) + "\n"


def _responses(store: Store) -> set[str]:
    return set(store.query("SELECT text FROM responses WHERE dataset_id = 'new'").text)


@pytest.mark.parametrize(
    ("encoding", "reported", "warned"),
    [
        ("cp1252", "cp1252", True),  # Excel's "CSV" on a German Windows; holds the en dash
        ("utf-16", "utf-16", False),  # Excel's "Unicode text": with a byte-order mark
        ("utf-16-le", "utf-16-le", True),  # without one
        ("utf-16-be", "utf-16-be", True),
        ("utf-8-sig", "utf-8", False),
    ],
)
def test_non_utf8_files_are_imported_with_their_text_intact(store, encoding, reported, warned):
    data = TEXT.encode(encoding)
    problems = Problems("a.csv")
    table = read_table(ImportSource("a.csv", data), problems)
    assert table is not None and table.encoding == reported
    assert [p.kind for p in problems.warnings] == (["encoding_detected"] if warned else [])
    report = import_dataset(store, ImportSource("a.csv", data), _spec())
    assert report.ok and report.written, report.format()
    assert "Grüße aus München – schön" in _responses(store)


def test_latin1_file_is_imported_and_the_guess_is_reported(store):
    data = TEXT.replace(" – ", " - ").encode("latin-1")
    report = import_dataset(store, ImportSource("latin.csv", data), _spec())
    assert report.ok and report.written, report.format()
    assert "Grüße aus München - schön" in _responses(store)
    (warning,) = [w for w in report.warnings if w.kind == "encoding_detected"]
    assert "Windows-1252" in warning.message and "preview" in warning.message


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("a,b\n1,für\n", "latin-1"),  # charset-normalizer alone says Big5
        ("nom,avis\nÉlodie,très déçue, ça ne va pas\n", "latin-1"),  # alone: Central European
        ("jmeno,nazor\nJiří,Děkuji, odpověď byla velmi užitečná\n", "cp1250"),
        ("imie,opinia\nŁukasz,Bardzo dobra odpowiedź, dziękuję. Żółć\n", "cp1250"),
        ("名前,意見\n田中,とても良い回答でした\n", "shift_jis"),
    ],
)
def test_code_page_guess_reads_the_letters_right(text, encoding):
    assert decode_text(text.encode(encoding)).text == text


@pytest.mark.parametrize("data", [b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4, bytes(range(128, 256)) * 8])
def test_binary_data_is_still_refused(data):
    with pytest.raises(EncodingError, match="not valid UTF-8"):
        decode_text(data)


def test_a_given_encoding_overrides_the_guess():
    data = "a,b\n1,Jiří\n".encode("cp1250")
    assert decode_text(data, "cp1250").text.endswith("Jiří\n")
    with pytest.raises(EncodingError, match="cannot be read as utf-8"):
        decode_text(data, "utf-8")


def test_delimiter_is_sniffed_over_rows_not_from_the_header_alone():
    text = '"name, first, last";score\n' + "".join(f"Anna {i};{i}\n" for i in range(5))
    assert sniff_delimiter(text) == ";"  # the header line alone has more commas than semicolons
    table = read_table(ImportSource("s.csv", text.encode()), Problems("s.csv"))
    assert list(table.frame.columns) == ["name, first, last", "score"] and len(table.frame) == 5
    assert sniff_delimiter("only\n1\n2\n") == ","


NAMES = st.text("abcdefgh_", min_size=1, max_size=6)
CELLS = st.text('ab ,;|\t"äß1', max_size=8)


@settings(max_examples=60, deadline=None)
@given(
    sep=st.sampled_from([",", ";", "\t", "|"]),
    columns=st.lists(NAMES, min_size=2, max_size=5, unique=True),
    data=st.data(),
)
def test_sniffed_delimiter_is_the_one_written(sep, columns, data):
    rows = data.draw(st.lists(st.lists(CELLS, min_size=len(columns), max_size=len(columns)), min_size=1))
    text = pd.DataFrame(rows, columns=columns).to_csv(sep=sep, index=False)
    assert sniff_delimiter(text) == sep


def _ratings_frame() -> pd.DataFrame:
    rows = [r.split(",") for r in UMLAUT_ROWS]
    return pd.DataFrame(rows, columns=HEADER.split(","))


def test_save_to_disk_folders_import_with_all_splits(store, tmp_path):
    from datasets import Dataset, DatasetDict

    frame = _ratings_frame()
    folder = tmp_path / "ratings-dict"
    DatasetDict(
        {"train": Dataset.from_pandas(frame.iloc[:3]), "test": Dataset.from_pandas(frame.iloc[3:])}
    ).save_to_disk(str(folder))
    table = read_table(folder, Problems())
    assert table is not None and sorted(table.frame.hf_split) == ["test", "train", "train", "train"]
    report = import_dataset(store, folder, _spec())
    assert report.ok and report.written, report.format()
    assert report.counts["ratings"] == 8 and "Grüße aus München – schön" in _responses(store)

    single = tmp_path / "ratings-one"
    Dataset.from_pandas(frame).save_to_disk(str(single))
    table = read_table(single, Problems())
    assert len(table.frame) == 4 and "hf_split" not in table.frame


@pytest.mark.parametrize(
    "layout",
    [
        {"data/train-00000-of-00002.parquet": [0, 1], "data/train-00001-of-00002.parquet": [2],
         "data/test-00000-of-00001.parquet": [3]},
        {"default/train/0000.parquet": [0, 1, 2], "default/test/0000.parquet": [3]},
    ],
)  # fmt: skip
def test_hub_parquet_shards_import(store, tmp_path, layout):
    frame = _ratings_frame()
    folder = tmp_path / "hub-export"
    for name, rows in layout.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        frame.iloc[rows].to_parquet(folder / name, index=False)
    (folder / "README.md").write_text("---\nlicense: cc-by-4.0\n---\n")
    table = read_table(folder, Problems())
    assert table is not None and table.frame.hf_split.value_counts().to_dict() == {"train": 3, "test": 1}
    report = import_dataset(store, folder, _spec())
    assert report.ok and report.written, report.format()
    assert report.counts["responses"] == 2 and report.counts["ratings"] == 8


def test_a_folder_that_is_not_a_dataset_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    problems = Problems()
    assert read_table(tmp_path, problems) is None
    assert problems.errors[0].kind == "unsupported_folder" and "save_to_disk" in problems.errors[0].message


def test_cli_imports_a_latin1_file_and_a_datasets_folder(store, tmp_path, capsys):
    from datasets import Dataset

    from pluralign_core import cli

    latin = tmp_path / "latin.csv"
    latin.write_bytes(TEXT.replace(" – ", " - ").encode("latin-1"))
    assert cli.main(["import", str(latin), "--dataset-id", "latin", "--name", "Latin"]) == 0
    assert "read as Windows-1252" in capsys.readouterr().out
    folder = tmp_path / "hf"
    Dataset.from_pandas(_ratings_frame()).save_to_disk(str(folder))
    assert cli.main(["import", str(folder), "--dataset-id", "hf"]) == 0
    assert {"latin", "hf"} <= set(store.datasets().dataset_id)
    assert UMLAUT in set(store.query("SELECT text FROM responses WHERE dataset_id = 'hf'").text)
