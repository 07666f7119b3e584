"""Importing real ratings: mapping, layouts, labels, and every kind of bad input refused cleanly."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pluralign_core import paths
from pluralign_core.cli import main
from pluralign_core.ratings.importing import (
    DemographicSpec,
    DimensionSpec,
    ImportSpec,
    import_dataset,
    infer_spec,
    spec_path,
)
from pluralign_core.ratings.reading import ImportLimits, ImportSource, Problems, csv_safe, read_table
from pluralign_core.store.database import DATASET_TABLES, Store
from tests.factories import tiny_bundle

EXAMPLES = paths.DATA_DIR / "examples"
WIDE_EXAMPLE = EXAMPLES / "wide_ratings_en.csv"
LONG_EXAMPLE = EXAMPLES / "long_ratings_de.jsonl"

HEADER = "rater,item,prompt,response,gender,toxicity,helpfulness"
GOOD_ROWS = [
    "r1,i1,P1,A1,woman,1,5",
    "r1,i2,P1,A2,woman,2,4",
    "r2,i1,P1,A1,man,3,3",
    "r2,i2,P1,A2,man,4,2",
]


def _csv(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode("utf-8")


def _spec(**changes) -> ImportSpec:
    spec = ImportSpec(
        dataset_id="new",
        layout="wide",
        rater_id="rater",
        item_id="item",
        prompt_text="prompt",
        response_text="response",
        dimensions=[DimensionSpec.guess("toxicity"), DimensionSpec.guess("helpfulness")],
        demographics=[DemographicSpec("gender")],
    )
    return dataclasses.replace(spec, **changes)


def _snapshot(store: Store) -> tuple[dict[str, int], list[str]]:
    counts = {t: int(store.query(f"SELECT count(*) FROM {t}").iloc[0, 0]) for t in DATASET_TABLES}
    return counts, sorted(store.datasets().dataset_id)


@pytest.fixture
def filled(store: Store) -> Store:
    store.write_dataset(tiny_bundle("kept"))
    return store


def test_example_with_custom_demographics_imports_through_inferred_mapping(filled: Store) -> None:
    table = read_table(WIDE_EXAMPLE, Problems())
    spec = infer_spec(table.frame, "survey")
    assert (spec.layout, spec.rater_id, spec.item_id) == ("wide", "participant_id", "item_id")
    assert [d.name for d in spec.dimensions] == [
        "toxicity",
        "emotional_awareness",
        "sensitivity",
        "stereotypical_bias",
        "helpfulness",
    ]
    assert {d.attribute: d.separator for d in spec.demographics}["race"] == ";"

    report = import_dataset(filled, WIDE_EXAMPLE, spec)
    assert report.ok and report.written, report.format()
    assert report.counts["raters"] == 40 and report.counts["ratings"] == 40 * 3 * 5
    attrs = filled.query(
        "SELECT attribute, count(DISTINCT rater_id) n FROM rater_attributes WHERE dataset_id = 'survey' "
        "GROUP BY attribute"
    ).set_index("attribute")["n"]
    assert attrs["education"] == 39 and attrs["religiosity"] == 39  # one rater each left it blank
    assert attrs["urban_rural"] == 40
    both = filled.query(
        "SELECT value FROM rater_attributes WHERE dataset_id = 'survey' AND attribute = 'race' "
        "AND rater_id IN (SELECT rater_id FROM rater_attributes WHERE dataset_id = 'survey' "
        "AND attribute = 'race' GROUP BY rater_id HAVING count(*) = 2)"
    )
    assert set(both.value) <= {"White", "Black", "Asian", "Hispanic or Latino"} and len(both) > 0
    assert {"toxicity": False, "helpfulness": True}.items() <= {
        d.name: d.higher_is_better for d in filled.dimensions("survey")
    }.items()
    assert filled.dataset_info("survey").simulated is False
    assert ImportSpec.from_yaml(spec_path("survey")) == spec


def test_example_spec_yaml_keeps_value_order_and_label_scores(store: Store) -> None:
    spec = ImportSpec.from_yaml(EXAMPLES / "wide_ratings_en.spec.yaml")
    report = import_dataset(store, WIDE_EXAMPLE, spec)
    assert report.ok, report.format()
    attributes = {a.name: a for a in store.attributes("example-wide")}
    assert attributes["urban_rural"].values == ("Urban", "Suburban", "Rural")
    assert attributes["race"].multi_valued and attributes["education"].builtin is False
    frame = pd.read_csv(WIDE_EXAMPLE, dtype=str)
    labels = ["Strongly disagree", "Disagree", "Neither agree nor disagree", "Agree", "Strongly agree"]
    first = frame.iloc[0]
    stored = store.query(
        "SELECT score FROM ratings WHERE dataset_id = 'example-wide' AND rater_id = ? AND response_id = ? "
        "AND dimension = 'toxicity'",
        [first.participant_id, first.item_id],
    )
    assert int(stored.score.iloc[0]) == labels.index(first.Toxicity) + 1


def test_long_jsonl_with_german_labels_and_dimensions(store: Store) -> None:
    spec = ImportSpec.from_yaml(EXAMPLES / "long_ratings_de.spec.yaml")
    report = import_dataset(store, LONG_EXAMPLE, spec)
    assert report.ok, report.format()
    assert [d.name for d in store.dimensions("example-long")] == [
        "toxicity",
        "emotional_awareness",
        "sensitivity",
        "stereotypical_bias",
        "helpfulness",
    ]
    line = json.loads(LONG_EXAMPLE.read_text("utf-8").splitlines()[0])
    german = [
        "stimme überhaupt nicht zu",
        "stimme nicht zu",
        "weder noch",
        "stimme zu",
        "stimme voll und ganz zu",
    ]
    stored = store.query(
        "SELECT score FROM ratings WHERE dataset_id = 'example-long' AND rater_id = ? AND response_id = ? "
        "AND dimension = 'toxicity'",
        [line["rater"], line["item"]],
    )
    assert int(stored.score.iloc[0]) == german.index(line["rating"]) + 1
    assert set(store.query("SELECT DISTINCT language FROM prompts").language) == {"de"}


def test_semicolon_csv_with_german_labels_bom_and_standalone_items(store: Store) -> None:
    data = "\ufeffrater;response;toxicity\nr1;Text A;Stimme  voll und ganz ZU\nr2;Text A;weder noch\n"
    spec = ImportSpec(
        "de", rater_id="rater", response_text="response", dimensions=[DimensionSpec.guess("toxicity")]
    )
    report = import_dataset(store, ImportSource("de.csv", data.encode("utf-8")), spec)
    assert report.ok, report.format()
    assert store.query("SELECT prompt_id FROM responses").prompt_id.isna().all()
    assert sorted(store.query("SELECT score FROM ratings").score) == [3, 5]


def test_long_parquet_numeric_seven_point_scale(store: Store) -> None:
    frame = pd.DataFrame(
        {
            "worker": ["a", "a", "b", "b"],
            "answer_id": ["x", "x", "x", "x"],
            "output": ["Hi"] * 4,
            "aspect": ["Helpfulness", "Toxicity"] * 2,
            "value": [7.0, 1.0, 6.0, 2.0],
            "age": [30, 30, None, None],
        }
    )
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    spec = infer_spec(frame, "seven")
    assert spec.layout == "long" and (spec.scale_min, spec.scale_max) == (1, 7)
    report = import_dataset(store, ImportSource("s.parquet", buffer.getvalue()), spec)
    assert report.ok, report.format()
    assert store.query("SELECT value FROM rater_attributes WHERE attribute = 'age'").value.tolist() == ["30"]
    assert store.dataset_info("seven").scale.maximum == 7


BAD_INPUTS = [
    # id, file name, bytes, spec changes, import kwargs, kind, message fragment, row, column
    ("empty", "a.csv", b"", {}, {}, "empty_file", "empty", None, None),
    ("header-only", "a.csv", _csv(), {}, {}, "empty_file", "no data rows", None, None),
    (
        "gzip",
        "a.csv",
        gzip.compress(_csv("r1,i1,P1,Antwort für dich,woman,1,5")),
        {},
        {},
        "encoding",
        "not valid UTF-8",
        None,
        None,
    ),
    (
        "csv-fields",
        "a.csv",
        _csv(GOOD_ROWS[0], "r1,i2,P1,A2,with,comma,woman,2,4"),
        {},
        {},
        "parse_error",
        "9 fields",
        3,
        None,
    ),
    (
        "jsonl-line",
        "a.jsonl",
        b'{"rater": "r1"}\n{"rater": \n',
        {},
        {},
        "parse_error",
        "not valid JSON",
        2,
        None,
    ),
    (
        "jsonl-dup-key",
        "a.jsonl",
        b'{"rater": "r1", "rater": "r2"}\n',
        {},
        {},
        "duplicate_column",
        "twice",
        1,
        "rater",
    ),
    (
        "missing-column",
        "a.csv",
        _csv(*GOOD_ROWS),
        {"rater_id": "raterr"},
        {},
        "missing_column",
        "Did you mean 'rater'",
        1,
        "raterr",
    ),
    (
        "duplicate-column",
        "a.csv",
        _csv("r1,i1,P1,A1,woman,1,5", header=HEADER.replace("gender", "rater")),
        {},
        {},
        "duplicate_column",
        "appears 2 times",
        1,
        "rater",
    ),
    (
        "empty-rater",
        "a.csv",
        _csv(GOOD_ROWS[0], ",i2,P1,A2,woman,2,4"),
        {},
        {},
        "empty_id",
        "rater id is empty",
        3,
        "rater",
    ),
    (
        "not-a-number",
        "a.csv",
        _csv(GOOD_ROWS[0], "r1,i2,P1,A2,woman,two,4"),
        {"scale_kind": "numeric"},
        {},
        "not_a_number",
        "'two' is not a number",
        3,
        "toxicity",
    ),
    (
        "out-of-range",
        "a.csv",
        _csv(GOOD_ROWS[0], "r1,i2,P1,A2,woman,2,7"),
        {},
        {},
        "out_of_range",
        "outside the scale 1..5",
        3,
        "helpfulness",
    ),
    (
        "unknown-label",
        "a.csv",
        _csv(GOOD_ROWS[0], "r1,i2,P1,A2,woman,sort of agree,4"),
        {},
        {},
        "unknown_label",
        "'sort of agree'",
        3,
        "toxicity",
    ),
    (
        "fractional",
        "a.csv",
        _csv(GOOD_ROWS[0], "r1,i2,P1,A2,woman,2.5,4"),
        {},
        {},
        "fractional_score",
        "not a whole number",
        3,
        "toxicity",
    ),
    (
        "duplicate-rating",
        "a.csv",
        _csv(*GOOD_ROWS, GOOD_ROWS[0]),
        {},
        {},
        "duplicate_rating",
        "already in row 2",
        6,
        None,
    ),
    (
        "item-two-texts",
        "a.csv",
        _csv(GOOD_ROWS[0], "r2,i1,P1,Another text,man,2,4"),
        {},
        {},
        "conflicting_item_text",
        "in row 2",
        3,
        "response",
    ),
    (
        "rater-demographics",
        "a.csv",
        _csv(GOOD_ROWS[0], "r1,i2,P1,A2,man,2,4"),
        {},
        {},
        "conflicting_demographics",
        "gender = 'man' here but 'woman' in row 2",
        3,
        "gender",
    ),
    (
        "dataset-exists",
        "a.csv",
        _csv(*GOOD_ROWS),
        {"dataset_id": "kept"},
        {},
        "dataset_exists",
        "exists already",
        None,
        None,
    ),
    (
        "unsafe-id",
        "a.csv",
        _csv(*GOOD_ROWS),
        {"dataset_id": "../evil"},
        {},
        "unsafe_dataset_id",
        "cannot be used",
        None,
        None,
    ),
    (
        "too-many-rows",
        "a.csv",
        _csv(*GOOD_ROWS),
        {},
        {"limits": ImportLimits(max_rows=3)},
        "too_many_rows",
        "above the limit of 3",
        None,
        None,
    ),
    (
        "too-large",
        "a.csv",
        _csv(*GOOD_ROWS),
        {},
        {"limits": ImportLimits(max_bytes=50)},
        "too_large",
        "above the limit",
        None,
        None,
    ),
    ("pickle", "a.pkl", b"\x80\x04K\x01.", {}, {}, "unsupported_extension", "never loaded", None, None),
    ("xlsx", "a.xlsx", b"PK..", {}, {}, "unsupported_extension", "'.xlsx'", None, None),
    (
        "bad-split",
        "a.csv",
        _csv("r1,i1,P1,A1,woman,1,5,somewhere", header=HEADER + ",split"),
        {"split": "split"},
        {},
        "invalid_split",
        "'somewhere'",
        2,
        "split",
    ),
]


@pytest.mark.parametrize(
    ("name", "data", "changes", "kwargs", "kind", "fragment", "row", "column"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_is_reported_and_store_unchanged(
    filled: Store, name, data, changes, kwargs, kind, fragment, row, column
) -> None:
    before = _snapshot(filled)
    report = import_dataset(filled, ImportSource(name, data), _spec(**changes), **kwargs)
    assert not report.ok and not report.written
    matching = [p for p in report.problems if p.kind == kind]
    assert matching, report.format()
    problem = matching[0]
    assert fragment in problem.message, problem.message
    assert (problem.row, problem.column) == (row, column), str(problem)
    assert problem.file == name
    assert _snapshot(filled) == before
    assert not spec_path("new").exists()


def test_unknown_dimension_in_long_layout(filled: Store) -> None:
    before = _snapshot(filled)
    data = _csv(
        "r1,i1,Hello,Toxicity,3", "r1,i1,Hello,Colour,2", header="rater,item,response,dimension,score"
    )
    spec = ImportSpec(
        "long",
        layout="long",
        rater_id="rater",
        item_id="item",
        response_text="response",
        dimension_column="dimension",
        score_column="score",
        dimensions=[DimensionSpec.guess("Toxicity")],
    )
    report = import_dataset(filled, ImportSource("l.csv", data), spec)
    assert [(p.kind, p.row, p.column) for p in report.problems] == [("unknown_dimension", 3, "dimension")]
    assert _snapshot(filled) == before


def test_all_problems_are_listed_up_to_the_limit(filled: Store) -> None:
    rows = [f"r{i},i1,P1,A1,woman,9,5" for i in range(10)]
    report = import_dataset(filled, ImportSource("a.csv", _csv(*rows)), _spec())
    assert report.error_count == 10 and [p.row for p in report.problems] == list(range(2, 12))
    limited = import_dataset(
        filled, ImportSource("a.csv", _csv(*rows)), _spec(), limits=ImportLimits(max_problems=3)
    )
    assert limited.error_count == 10 and len(limited.problems) == 3
    assert "7 more error(s)" in limited.format()
    frame = limited.problems_frame()
    assert list(frame.columns) == ["severity", "kind", "file", "row", "column", "message"]


def test_formula_cells_are_kept_as_text_flagged_and_escaped_in_csv(store: Store) -> None:
    data = _csv(
        'r1,i1,P1,"=HYPERLINK(""http://x"")",woman,1,5', 'r2,i1,P1,"=HYPERLINK(""http://x"")",man,2,4'
    )
    report = import_dataset(store, ImportSource("f.csv", data), _spec())
    assert report.ok, report.format()
    assert store.query("SELECT text FROM responses").text.tolist() == ['=HYPERLINK("http://x")']
    assert {w.kind for w in report.warnings} >= {"formula_like_cell"}
    safe = csv_safe(pd.DataFrame({"text": ["=1+1", "@SUM(A1)", "-1", "plain", None], "n": [-1, 2, 3, 4, 5]}))
    assert safe.text.tolist()[:4] == ["'=1+1", "'@SUM(A1)", "-1", "plain"]
    assert safe.n.tolist() == [-1, 2, 3, 4, 5]


def test_blank_demographics_mean_not_stated(store: Store) -> None:
    data = _csv("r1,i1,P1,A1,,1,5", "r1,i2,P1,A2,woman,2,4", "r2,i1,P1,A1,NA,3,3", "r2,i2,P1,A2,NaN,NA,3")
    report = import_dataset(store, ImportSource("a.csv", data), _spec())
    assert report.ok, report.format()
    assert [w.kind for w in report.warnings if w.kind == "empty_score"] == ["empty_score"]
    assert len(store.query("SELECT * FROM ratings")) == 7
    wide = store.raters_wide("new").set_index("rater_id")
    assert wide.loc["r1", "gender"] == "woman"
    assert "r2" not in wide.index or pd.isna(wide.loc["r2", "gender"])
    assert sorted(store.query("SELECT rater_id FROM raters").rater_id) == ["r1", "r2"]


def test_jsonl_null_and_list_demographics(store: Store) -> None:
    lines = [
        {
            "rater": "r1",
            "item": "i1",
            "response": "A",
            "gender": None,
            "race": ["White", "Asian"],
            "toxicity": 2,
        },
        {"rater": "r2", "item": "i1", "response": "A", "gender": "man", "race": None, "toxicity": 4},
    ]
    data = "\n".join(json.dumps(line) for line in lines).encode("utf-8")
    spec = ImportSpec(
        "j",
        rater_id="rater",
        item_id="item",
        response_text="response",
        dimensions=[DimensionSpec.guess("toxicity")],
        demographics=[DemographicSpec("gender"), DemographicSpec("race")],
    )
    report = import_dataset(store, ImportSource("j.jsonl", data), spec)
    assert report.ok, report.format()
    rows = store.query("SELECT rater_id, attribute, value FROM rater_attributes ORDER BY ALL")
    assert rows.values.tolist() == [["r1", "race", "Asian"], ["r1", "race", "White"], ["r2", "gender", "man"]]
    assert {a.name: a.multi_valued for a in store.attributes("j")} == {"gender": False, "race": True}


def test_replace_and_dry_run(filled: Store) -> None:
    before = _snapshot(filled)
    dry = import_dataset(filled, ImportSource("a.csv", _csv(*GOOD_ROWS)), _spec(), dry_run=True)
    assert dry.ok and not dry.written and dry.counts["ratings"] == 8
    assert _snapshot(filled) == before
    replaced = import_dataset(
        filled, ImportSource("a.csv", _csv(*GOOD_ROWS)), _spec(dataset_id="kept"), replace=True
    )
    assert replaced.written and filled.datasets().set_index("dataset_id").loc["kept", "n_ratings"] == 8


def test_spec_validation_and_yaml_round_trip() -> None:
    spec = _spec(label_map={"Sort Of": 3})
    assert ImportSpec.from_yaml(spec.to_yaml()) == spec
    assert spec.labels()["sort of"] == 3 and spec.labels()["stimme zu"] == 4
    for bad, message in [
        ({"layout": "diagonal"}, "layout"),
        ({"scale_min": 5, "scale_max": 1}, "must exceed"),
        ({"label_map": {"huge": 9}}, "outside"),
        ({"layout": "long"}, "dimension column"),
    ]:
        with pytest.raises(ValueError, match=message):
            _spec(**bad)
    with pytest.raises(ValueError, match="unknown import spec field"):
        ImportSpec.from_dict({"dataset_id": "x", "colour": "red"})


def test_cli_dry_run_map_and_errors(pluralign_home, tmp_path, capsys) -> None:
    path = tmp_path / "ratings.csv"
    path.write_bytes(_csv(*GOOD_ROWS).replace(b"rater,", b"who,"))
    argv = ["import", str(path), "--dataset-id", "cli", "--map", "rater_id=who"]
    assert main([*argv, "--dry-run"]) == 0
    assert "would import dataset 'cli'" in capsys.readouterr().out
    assert Store().datasets().empty
    assert main(argv) == 0 and main(argv) == 1
    assert "exists already" in capsys.readouterr().out
    assert main(["import", str(path), "--dataset-id", "x", "--map", "nonsense=who"]) == 2


EN = ["strongly disagree", "disagree", "neutral", "agree", "strongly agree"]
DE = ["stimme überhaupt nicht zu", "stimme nicht zu", "weder noch", "stimme zu", "stimme voll und ganz zu"]
cells = st.tuples(
    st.integers(min_value=1, max_value=5), st.sampled_from(["number", "en", "de"]), st.booleans()
)


def _render(score: int, style: str, shout: bool) -> str:
    """A score as a spreadsheet might hold it: a number, or an EN/DE label in any case and spacing."""
    text = {"number": str(score), "en": EN[score - 1], "de": DE[score - 1]}[style]
    return f"  {text.upper().replace(' ', '   ')} " if shout else text


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    scores=st.lists(st.tuples(cells, cells), min_size=1, max_size=12),
    rater_count=st.integers(min_value=1, max_value=4),
)
def test_wide_import_round_trips_scores(store: Store, scores: list, rater_count: int) -> None:
    rows, expected = [], {}
    for index, (toxicity, helpfulness) in enumerate(scores):
        rater, item = f"r{index % rater_count}", f"i{index // rater_count}"
        rows.append(f"{rater},{item},P,Answer {item},woman,{_render(*toxicity)},{_render(*helpfulness)}")
        expected[(rater, item, "toxicity")] = toxicity[0]
        expected[(rater, item, "helpfulness")] = helpfulness[0]
    report = import_dataset(store, ImportSource("h.csv", _csv(*rows)), _spec(), replace=True)
    assert report.ok, report.format()
    stored = store.query(
        "SELECT rater_id, response_id, dimension, score FROM ratings WHERE dataset_id = 'new'"
    )
    assert {(r.rater_id, r.response_id, r.dimension): int(r.score) for r in stored.itertuples()} == expected
