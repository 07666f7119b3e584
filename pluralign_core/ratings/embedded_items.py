"""The embedded prompt-and-response items shipped in ``data/items/<topic>.yaml``.

The simulated default dataset needs prompts and responses whose *intended* qualities are known, so that
simulated raters have something to disagree about. Each item file holds prompts in English and German,
each with four responses (hostile, stereotyped, neutral, empathetic) and their author-intended levels on
the five study dimensions. The files are hand-written, so the loader checks them strictly and names the
file, prompt key and field of anything wrong: a typo must not silently become a skewed dataset.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from pluralign_core import paths
from pluralign_core.ratings.schema import STUDY_DIMENSIONS

TOPICS = ("gender", "race", "sexual_orientation", "politics", "emotional_distress", "everyday_help")
STYLES = ("hostile", "stereotyped", "neutral", "empathetic")
LANGUAGES = ("en", "de")
SPLITS = ("train", "heldout")
RESPONSES_PER_PROMPT = 4
LEVEL_RANGE = (1, 5)
DIMENSION_NAMES = tuple(d.name for d in STUDY_DIMENSIONS)
DEFAULT_ITEMS_DIR = paths.DATA_DIR / "items"

_KEY = re.compile(r"^[A-Za-z0-9_]+(-[A-Za-z0-9_]+)*$")


@dataclass(frozen=True, eq=False)
class EmbeddedItems:
    """Prompts, responses and intended levels as DataFrames with the columns ``DatasetBundle`` expects.

    ``responses`` carries two extra columns, ``style`` and ``response_key``, which the simulator uses to
    match the same answer across languages; ``write_dataset`` ignores columns it does not know.
    """

    prompts: pd.DataFrame
    responses: pd.DataFrame
    response_levels: pd.DataFrame
    files: tuple[Path, ...]

    @property
    def topics(self) -> list[str]:
        return sorted(self.prompts["topic"].unique())

    @property
    def prompt_keys(self) -> list[str]:
        return sorted(self.prompts["prompt_key"].unique())


def item_files(items_dir: Path = DEFAULT_ITEMS_DIR) -> list[Path]:
    """The item files in ``items_dir``, sorted by name (so that loading and fingerprints are stable)."""
    return sorted(Path(items_dir).glob("*.yaml"), key=lambda p: p.name)


def embedded_fingerprint(items_dir: Path = DEFAULT_ITEMS_DIR) -> str:
    """SHA-256 over the item files' names and bytes, for dataset cards: it changes whenever the items do."""
    digest = hashlib.sha256()
    for path in item_files(items_dir):
        digest.update(path.name.encode("utf-8") + b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def load_embedded_items(items_dir: Path = DEFAULT_ITEMS_DIR) -> EmbeddedItems:
    """Load and validate every ``*.yaml`` in ``items_dir``.

    Raises ``ValueError`` naming the file, prompt key and field for any malformed item, and for a prompt
    key used twice (within or across files).
    """
    files = item_files(items_dir)
    if not files:
        raise ValueError(f"No item files (*.yaml) found in {items_dir}.")
    prompt_rows: list[dict[str, Any]] = []
    response_rows: list[dict[str, Any]] = []
    level_rows: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for path in files:
        topic, prompts = _read_file(path)
        for index, prompt in enumerate(prompts):
            key = _check_prompt(path, index, prompt)
            if key in seen:
                raise ValueError(
                    f"{path.name}: prompt key {key!r} is already used in {seen[key]}; "
                    "prompt keys must be unique across all item files."
                )
            seen[key] = path.name
            for language in LANGUAGES:
                prompt_rows.append(
                    {
                        "prompt_id": f"{key}-{language}",
                        "prompt_key": key,
                        "text": prompt[language].strip(),
                        "language": language,
                        "topic": topic,
                        "split": prompt["split"],
                    }
                )
            for response in prompt["responses"]:
                for language in LANGUAGES:
                    response_id = f"{key}-{response['key']}-{language}"
                    response_rows.append(
                        {
                            "response_id": response_id,
                            "prompt_id": f"{key}-{language}",
                            "text": response[language].strip(),
                            "language": language,
                            "style": response["style"],
                            "response_key": response["key"],
                        }
                    )
                    for dimension in DIMENSION_NAMES:
                        level_rows.append(
                            {
                                "response_id": response_id,
                                "dimension": dimension,
                                "level": int(response["levels"][dimension]),
                            }
                        )
    prompts_df = pd.DataFrame(
        prompt_rows, columns=["prompt_id", "prompt_key", "text", "language", "topic", "split"]
    )
    responses_df = pd.DataFrame(
        response_rows, columns=["response_id", "prompt_id", "text", "language", "style", "response_key"]
    )
    levels_df = pd.DataFrame(level_rows, columns=["response_id", "dimension", "level"])
    levels_df["level"] = levels_df["level"].astype("int64")
    return EmbeddedItems(prompts_df, responses_df, levels_df, tuple(files))


def _read_file(path: Path) -> tuple[str, list[Any]]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ValueError(f"{path.name}: the YAML does not parse: {error}") from error
    except UnicodeDecodeError as error:
        raise ValueError(f"{path.name}: the file is not UTF-8 text: {error}") from error
    if not isinstance(document, dict):
        raise ValueError(f"{path.name}: expected a mapping with 'topic' and 'prompts' at the top level.")
    topic = document.get("topic")
    if topic not in TOPICS:
        raise ValueError(f"{path.name}: field 'topic' is {topic!r}; use one of {', '.join(TOPICS)}.")
    prompts = document.get("prompts")
    if not isinstance(prompts, list) or not prompts:
        raise ValueError(f"{path.name}: field 'prompts' must be a non-empty list.")
    return topic, prompts


def _check_prompt(path: Path, index: int, prompt: Any) -> str:
    where = f"{path.name}: prompt #{index + 1}"
    if not isinstance(prompt, dict):
        raise ValueError(f"{where}: expected a mapping with key, split, en, de and responses.")
    key = prompt.get("key")
    if not isinstance(key, str) or not _KEY.match(key):
        raise ValueError(f"{where}: field 'key' is {key!r}; use a name like 'politics-01'.")
    where = f"{path.name}: prompt {key!r}"
    if prompt.get("split") not in SPLITS:
        raise ValueError(f"{where}: field 'split' is {prompt.get('split')!r}; use 'train' or 'heldout'.")
    _check_texts(where, prompt)
    responses = prompt.get("responses")
    if not isinstance(responses, list) or len(responses) != RESPONSES_PER_PROMPT:
        found = len(responses) if isinstance(responses, list) else "no list"
        raise ValueError(
            f"{where}: field 'responses' must hold exactly {RESPONSES_PER_PROMPT} responses "
            f"(one per style: {', '.join(STYLES)}); found {found}."
        )
    response_keys: set[str] = set()
    styles: set[str] = set()
    for r_index, response in enumerate(responses):
        r_where = f"{where}, response #{r_index + 1}"
        if not isinstance(response, dict):
            raise ValueError(f"{r_where}: expected a mapping with key, style, levels, en and de.")
        r_key = response.get("key")
        if not isinstance(r_key, str) or not _KEY.match(r_key):
            raise ValueError(f"{r_where}: field 'key' is {r_key!r}; use a short name like 'a'.")
        if r_key in response_keys:
            raise ValueError(f"{r_where}: response key {r_key!r} is used twice in this prompt.")
        response_keys.add(r_key)
        r_where = f"{where}, response {r_key!r}"
        style = response.get("style")
        if style not in STYLES:
            raise ValueError(f"{r_where}: field 'style' is {style!r}; use one of {', '.join(STYLES)}.")
        if style in styles:
            raise ValueError(
                f"{r_where}: style {style!r} appears twice; each prompt needs one of each style."
            )
        styles.add(style)
        _check_texts(r_where, response)
        _check_levels(r_where, response.get("levels"))
    return key


def _check_texts(where: str, item: dict[str, Any]) -> None:
    for language in LANGUAGES:
        text = item.get(language)
        if not isinstance(text, str) or not text.strip():
            name = {"en": "English", "de": "German"}[language]
            raise ValueError(f"{where}: field {language!r} ({name} text) is missing or empty.")


def _check_levels(where: str, levels: Any) -> None:
    if not isinstance(levels, dict):
        raise ValueError(
            f"{where}: field 'levels' must map each dimension ({', '.join(DIMENSION_NAMES)}) to 1..5."
        )
    unknown = sorted(set(map(str, levels)) - set(DIMENSION_NAMES))
    if unknown:
        raise ValueError(
            f"{where}: field 'levels' has unknown dimension(s) {', '.join(unknown)}; "
            f"use {', '.join(DIMENSION_NAMES)}."
        )
    low, high = LEVEL_RANGE
    for dimension in DIMENSION_NAMES:
        level = levels.get(dimension)
        if level is None:
            raise ValueError(f"{where}: field 'levels.{dimension}' is missing; give a level {low}..{high}.")
        if isinstance(level, bool) or not isinstance(level, int) or not low <= level <= high:
            raise ValueError(
                f"{where}: field 'levels.{dimension}' is {level!r}; it must be an integer {low}..{high}."
            )
