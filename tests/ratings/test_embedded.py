"""The shipped prompt/response items load, are complete in both languages, and bad files fail loudly."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pluralign_core.ratings.embedded_items import (
    DEFAULT_ITEMS_DIR,
    DIMENSION_NAMES,
    STYLES,
    embedded_fingerprint,
    load_embedded_items,
)
from pluralign_core.ratings.schema import STUDY_DIMENSIONS, DatasetInfo
from pluralign_core.store.database import DatasetBundle, write_dataset


@pytest.fixture(scope="module")
def items():
    return load_embedded_items()


def _prompt(key: str = "politics-01", **overrides) -> dict:
    levels = {name: 3 for name in DIMENSION_NAMES}
    prompt = {
        "key": key,
        "split": "train",
        "en": "A question?",
        "de": "Eine Frage?",
        "responses": [
            {"key": k, "style": s, "levels": dict(levels), "en": f"Answer {k}.", "de": f"Antwort {k}."}
            for k, s in zip("abcd", STYLES, strict=True)
        ],
    }
    prompt.update(overrides)
    return prompt


def _write(folder: Path, name: str, prompts: list[dict], topic: str = "politics") -> Path:
    path = folder / name
    path.write_text(
        yaml.safe_dump({"topic": topic, "prompts": prompts}, allow_unicode=True), encoding="utf-8"
    )
    return path


def test_shipped_items_load_with_bundle_columns(items):
    assert list(items.prompts.columns) == ["prompt_id", "prompt_key", "text", "language", "topic", "split"]
    assert {"response_id", "prompt_id", "text", "language", "style", "response_key"} <= set(
        items.responses.columns
    )
    assert list(items.response_levels.columns) == ["response_id", "dimension", "level"]
    assert items.prompts.prompt_id.is_unique and items.responses.response_id.is_unique
    assert set(items.responses.prompt_id) <= set(items.prompts.prompt_id)
    assert (items.prompts.text.str.strip() != "").all() and (items.responses.text.str.strip() != "").all()


def test_shipped_items_have_enough_prompts_in_both_languages(items):
    # Needs all six topic files (three are written by another engineer); fails until they exist.
    languages = items.prompts.groupby("prompt_key")["language"].apply(frozenset)
    assert len(languages) >= 60
    assert (languages == frozenset({"en", "de"})).all()
    heldout = items.prompts.loc[items.prompts.split == "heldout", "prompt_key"].nunique()
    assert heldout >= 15


def test_every_shipped_file_has_eleven_prompts_and_three_heldout(items):
    per_topic = items.prompts[items.prompts.language == "en"].groupby("topic")
    assert (per_topic.size() == 11).all()
    assert (per_topic["split"].apply(lambda s: (s == "heldout").sum()) >= 3).all()


def test_four_responses_one_per_style_per_prompt_and_language(items):
    counts = items.responses.groupby("prompt_id")["style"].agg(["size", "nunique"])
    assert len(counts) == len(items.prompts)
    assert (counts["size"] == 4).all() and (counts["nunique"] == 4).all()
    assert set(items.responses["style"]) == set(STYLES)


def test_every_response_has_a_level_on_every_dimension_in_range(items):
    levels = items.response_levels
    assert len(levels) == len(items.responses) * len(DIMENSION_NAMES)
    assert set(levels.dimension) == set(DIMENSION_NAMES)
    assert levels.level.between(1, 5).all()
    per_response = levels.groupby("response_id")["dimension"].nunique()
    assert (per_response == len(DIMENSION_NAMES)).all()


def test_styles_carry_the_intended_levels(items):
    wide = items.response_levels.merge(items.responses[["response_id", "style"]]).pivot_table(
        index="style", columns="dimension", values="level", aggfunc="mean"
    )
    assert wide.loc["hostile", "toxicity"] > wide.loc["neutral", "toxicity"]
    assert wide.loc["stereotyped", "stereotypical_bias"] > wide.loc["empathetic", "stereotypical_bias"]
    assert wide.loc["empathetic", "emotional_awareness"] > wide.loc["hostile", "emotional_awareness"]
    assert wide.loc["empathetic", "helpfulness"] > wide.loc["neutral", "helpfulness"]


def test_english_and_german_versions_share_levels(items):
    levels = items.response_levels.merge(
        items.responses[["response_id", "prompt_id", "response_key", "language"]]
    )
    levels["prompt_key"] = levels.prompt_id.str.rsplit("-", n=1).str[0]
    wide = levels.pivot_table(
        index=["prompt_key", "response_key", "dimension"], columns="language", values="level"
    )
    assert (wide["en"] == wide["de"]).all()


def test_fingerprint_is_stable_and_changes_with_content(tmp_path):
    assert embedded_fingerprint() == embedded_fingerprint()
    copy = tmp_path / "items"
    shutil.copytree(DEFAULT_ITEMS_DIR, copy)
    assert embedded_fingerprint(copy) == embedded_fingerprint()
    first = sorted(copy.glob("*.yaml"))[0]
    first.write_text(first.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert embedded_fingerprint(copy) != embedded_fingerprint()


def test_a_valid_handwritten_file_loads(tmp_path):
    _write(tmp_path, "politics.yaml", [_prompt("politics-01"), _prompt("politics-02", split="heldout")])
    loaded = load_embedded_items(tmp_path)
    assert sorted(loaded.prompts.prompt_id) == [
        "politics-01-de",
        "politics-01-en",
        "politics-02-de",
        "politics-02-en",
    ]
    assert "politics-02-c-de" in set(loaded.responses.response_id)
    assert len(loaded.response_levels) == 2 * 4 * 2 * len(DIMENSION_NAMES)


def _missing_german(prompt: dict) -> dict:
    del prompt["de"]
    return prompt


def _three_responses(prompt: dict) -> dict:
    prompt["responses"] = prompt["responses"][:3]
    return prompt


def _level_seven(prompt: dict) -> dict:
    prompt["responses"][1]["levels"]["toxicity"] = 7
    return prompt


def _missing_level(prompt: dict) -> dict:
    del prompt["responses"][2]["levels"]["helpfulness"]
    return prompt


def _unknown_dimension(prompt: dict) -> dict:
    prompt["responses"][0]["levels"]["politeness"] = 3
    return prompt


def _bad_split(prompt: dict) -> dict:
    prompt["split"] = "test"
    return prompt


def _missing_response_text(prompt: dict) -> dict:
    prompt["responses"][3]["en"] = "  "
    return prompt


@pytest.mark.parametrize(
    ("breaker", "expected"),
    [
        (_missing_german, "'de'"),
        (_three_responses, "exactly 4"),
        (_level_seven, "levels.toxicity"),
        (_missing_level, "levels.helpfulness"),
        (_unknown_dimension, "politeness"),
        (_bad_split, "split"),
        (_missing_response_text, "'en'"),
    ],
)
def test_bad_item_raises_naming_file_prompt_and_field(tmp_path, breaker, expected):
    _write(tmp_path, "politics.yaml", [_prompt("politics-01"), breaker(_prompt("politics-02"))])
    with pytest.raises(ValueError) as error:
        load_embedded_items(tmp_path)
    message = str(error.value)
    assert "politics.yaml" in message and "politics-02" in message and expected in message


def test_unparsable_yaml_names_the_file(tmp_path):
    _write(tmp_path, "gender.yaml", [_prompt("gender-01")], topic="gender")
    (tmp_path / "politics.yaml").write_text(
        'topic: "politics"\nprompts:\n  - key: "politics-01\n', encoding="utf-8"
    )
    with pytest.raises(ValueError, match=r"politics\.yaml.*does not parse"):
        load_embedded_items(tmp_path)


def test_duplicate_key_across_files_names_both_files(tmp_path):
    _write(tmp_path, "gender.yaml", [_prompt("shared-01")], topic="gender")
    _write(tmp_path, "politics.yaml", [_prompt("shared-01")])
    with pytest.raises(ValueError, match=r"politics\.yaml.*shared-01.*gender\.yaml"):
        load_embedded_items(tmp_path)


def test_duplicate_key_within_a_file_is_rejected(tmp_path):
    _write(tmp_path, "politics.yaml", [_prompt("politics-01"), _prompt("politics-01")])
    with pytest.raises(ValueError, match=r"politics\.yaml.*politics-01"):
        load_embedded_items(tmp_path)


def test_unknown_topic_and_empty_folder_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="No item files"):
        load_embedded_items(tmp_path)
    _write(tmp_path, "cooking.yaml", [_prompt("cooking-01")], topic="cooking")
    with pytest.raises(ValueError, match=r"cooking\.yaml.*topic"):
        load_embedded_items(tmp_path)


def test_items_write_into_the_store(store, items):
    response_id = items.responses.response_id.iloc[0]
    bundle = DatasetBundle(
        info=DatasetInfo("items-only", "Embedded items", source="tests"),
        dimensions=list(STUDY_DIMENSIONS),
        attributes=[],
        raters=pd.DataFrame({"rater_id": ["r1"]}),
        rater_attributes=pd.DataFrame(columns=["rater_id", "attribute", "value"]),
        prompts=items.prompts,
        responses=items.responses,
        ratings=pd.DataFrame(
            {"rater_id": ["r1"], "response_id": [response_id], "dimension": ["toxicity"], "score": [3]}
        ),
        response_levels=items.response_levels,
    )
    write_dataset(store, bundle)
    counts = store.query(
        "SELECT (SELECT count(*) FROM prompts WHERE dataset_id = 'items-only') AS p, "
        "(SELECT count(*) FROM response_levels WHERE dataset_id = 'items-only') AS l"
    )
    assert counts.p.iloc[0] == len(items.prompts) and counts.l.iloc[0] == len(items.response_levels)
