"""Saving a preference set where training (and the wider ecosystem) can read it.

A preference set folder ``<home>/preference_sets/<name>/`` holds the same pairs three ways, so that trl,
any ``datasets`` user and any dataframe tool can read them without pluralign:

* ``data/train-00000-of-00001.parquet`` (and ``data/test-…``: the same choices applied to the held-out
  prompts, for evaluation only), in trl's standard preference format (``prompt, chosen, rejected``,
  conversational or plain) plus the metadata columns, written by ``datasets`` so the features survive;
* ``README.md``: a Hub dataset card whose ``configs`` point at those files, so
  ``datasets.load_dataset(folder)`` (or the Hub, once pushed) loads both splits; its header carries
  license, language, task and size categories and tags, and its body the config, the counts and the
  source data's fingerprint, so a trained model can always be traced back to who gave the feedback and
  how it was turned into pairs;
* ``pairs.jsonl`` and ``pairs.parquet``: the training pairs as plain records;
* ``prompts/``: the GRPO prompt-only data set with the group's per-dimension targets (``save_to_disk``);
* ``config.yaml``: the :class:`~pluralign_core.preferences.build.PreferenceConfig` that built it.

Folders saved before the Parquet splits (a ``save_to_disk`` copy in ``hf/``) and bare ``save_to_disk``
folders still load through :func:`load_preference_set`.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from pluralign_core import paths
from pluralign_core.preferences.build import PreferenceConfig, PreferenceResult, build_preferences
from pluralign_core.store.database import Store

SPLIT_FILES = {
    "train": "data/train-00000-of-00001.parquet",
    "test": "data/test-00000-of-00001.parquet",
}
"""Where each split of an export lives, in the Hub's ``<split>-<shard>-of-<shards>`` naming."""

_SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"))


def _to_dataset(frame: pd.DataFrame) -> Any:
    from datasets import Dataset

    return Dataset.from_pandas(frame.reset_index(drop=True), preserve_index=False)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def size_category(rows: int) -> str:
    """The Hub's ``size_categories`` bucket for a number of rows."""
    for bound, label in _SIZE_CATEGORIES:
        if rows < bound:
            return label
    return "n>1M"


def card_header(
    name: str,
    config: PreferenceConfig,
    *,
    simulated: bool,
    languages: list[str],
    rows: int,
    splits: list[str],
) -> dict[str, Any]:
    """The YAML header of a preference set's card: Hub metadata and the ``configs`` that load its splits.

    The licence is ``unknown`` because the store does not record the source data's terms; whoever
    publishes the set sets it.
    """
    tags = ["pluralign", "dpo", "preference", "pluralistic-alignment", config.disagreement, config.scale]
    if simulated:
        tags.append("simulated")
    return {
        "pretty_name": name,
        "license": "unknown",
        "language": sorted(set(languages)),
        "task_categories": ["text-generation"],
        "size_categories": [size_category(rows)],
        "tags": list(dict.fromkeys(tags)),
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": split, "path": SPLIT_FILES[split]} for split in splits],
            }
        ],
    }


def dataset_card(
    name: str,
    config: PreferenceConfig,
    stats: dict[str, Any],
    source: dict[str, Any],
    test_pairs: int,
    languages: list[str] | None = None,
) -> str:
    """The README.md of a preference set: Hub metadata, then what it is, where it came from, how it was made.

    ``languages`` are those of the prompts behind the pairs (the card's ``language`` field).
    """
    conf = _jsonable(config.to_dict())
    simulated = bool(source.get("simulated"))
    splits = ["train", "test"] if test_pairs else ["train"]
    rows = int(stats.get("pairs") or 0) + test_pairs
    header = card_header(
        name, config, simulated=simulated, languages=languages or [], rows=rows, splits=splits
    )
    lines = [
        "---",
        yaml.safe_dump(header, sort_keys=False).strip(),
        "---",
        "",
        f"# Preference set `{name}`",
        "",
        "Built by pluralign from rater judgements of responses to the same prompt. Format: trl's standard "
        f"preference format ({config.format}): `prompt`, `chosen`, `rejected`, plus `weight`, "
        "`probability` (P(chosen ≻ rejected): the soft label, 1 for hard labels), `judgement_share` (share "
        "of the group's judgements preferring chosen), `agreement`, `n_raters`, ids and per-dimension mean "
        "scores.",
        "",
    ]
    if simulated:
        lines += [
            "> **Simulated data.** The source dataset is a simulated rater population calibrated to "
            "published effects (Ali et al. 2025, arXiv 2511.14476), not real ratings.",
            "",
        ]
    lines += [
        "## Source",
        "",
        f"- dataset: `{source.get('dataset_id')}` ({source.get('name')})",
        f"- source fingerprint: `{source.get('fingerprint')}`",
        f"- simulated: {simulated}",
        "",
        "## Choices",
        "",
        f"- raters: {config.rater_selection.label}",
        f"- jury: {config.jury or 'none (every selected rater weighs 1)'}",
        f"- dimensions (weights; oriented so higher is better): {config.dimensions}",
        f"- scale: {config.scale} (neutral as {config.neutral_as})",
        f"- disagreement: {config.disagreement}"
        + (f" (aggregate: {config.aggregate})" if config.disagreement == "majority" else ""),
        f"- prompts: split {config.split}, language {config.language or 'all'}",
        f"- seed: {config.seed}",
        "",
        "## Loading",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        'pairs = load_dataset("path/to/this/folder")  # splits: ' + ", ".join(splits),
        "```",
        "",
        "## Counts",
        "",
        f"- training pairs: {stats.get('pairs')}; held-out test pairs: {test_pairs}",
        f"- response pairs: {stats.get('response_pairs')}, ties dropped: {stats.get('ties_dropped')}",
        f"- prompts with pairs: {stats.get('prompts_with_pairs')} of {stats.get('prompts')}",
        f"- raters: {stats.get('raters_used')} "
        f"(effective sample size {stats.get('effective_sample_size'):.1f})",
        f"- mean agreement: {stats.get('mean_agreement') or 0:.3f}",
        "",
        "## Config",
        "",
        "```yaml",
        yaml.safe_dump(conf, sort_keys=False, allow_unicode=True).strip(),
        "```",
        "",
    ]
    return "\n".join(lines)


def export_preferences(
    store: Store,
    result: PreferenceResult,
    name: str,
    *,
    folder: Path | str | None = None,
    include_test: bool = True,
    register: bool = True,
    overwrite: bool = False,
) -> tuple[Path, str | None]:
    """Write a built preference set to its folder and register it; returns ``(folder, artifact_id)``.

    With ``include_test`` and a ``train`` config, the held-out prompts get the same treatment and go into
    a ``test`` split (never ``train``). Nothing is touched before the pairs are known to be non-empty; the
    files go to a staging folder swapped in on success. Saving again under a name in use needs
    ``overwrite=True`` (two spellings can reduce to one folder name) and then updates the registry entry
    rather than adding a second one.
    """
    config = result.config
    if result.pairs.empty:
        raise ValueError(
            "these choices give no preference pairs (every response pair tied or no ratings selected); "
            "widen the rater selection or use a finer scale"
        )
    safe = paths.safe_name(name)
    target = Path(folder) if folder is not None else paths.subdir("preference_sets") / safe
    if target.exists() and not overwrite:
        raise paths.ArtifactExistsError(
            f"a preference set is already saved as {target.name!r}"
            + (f" (your name {name!r} becomes {safe!r})" if safe != name else "")
            + "; choose another name, or replace it explicitly (Replace checkbox, --replace)"
        )
    test_pairs = 0
    with paths.staged_folder(target, replace=overwrite) as staging:
        splits = {"train": result.pairs}
        if include_test and config.split == "train":
            test = build_preferences(store, replace(config, split="heldout"))
            if not test.pairs.empty:
                splits["test"] = test.pairs
                test_pairs = len(test.pairs)
        for split, pairs in splits.items():
            (staging / SPLIT_FILES[split]).parent.mkdir(parents=True, exist_ok=True)
            _to_dataset(pairs).to_parquet(str(staging / SPLIT_FILES[split]))
        _to_dataset(result.prompts).save_to_disk(str(staging / "prompts"))
        flat = result.pairs
        flat.to_json(staging / "pairs.jsonl", orient="records", lines=True, force_ascii=False)
        flat.to_parquet(staging / "pairs.parquet", index=False)
        conf = _jsonable(config.to_dict())
        (staging / "config.yaml").write_text(
            yaml.safe_dump(conf, sort_keys=False, allow_unicode=True), "utf-8"
        )
        info = store.datasets()
        row = info[info.dataset_id == config.dataset_id]
        source = _jsonable(row.iloc[0].to_dict()) if not row.empty else {"dataset_id": config.dataset_id}
        stats = {**_jsonable(result.stats), "test_pairs": test_pairs}
        languages = _languages(store, config.dataset_id, splits.values())
        card = dataset_card(safe, config, stats, source, test_pairs, languages)
        (staging / "README.md").write_text(card, "utf-8")
    artifact_id = None
    if register:
        known = store.artifacts("preference_set")
        same = known[known.path == str(target)]
        artifact_id = store.register_artifact(
            "preference_set",
            safe,
            artifact_id=None if same.empty else str(same.artifact_id.iloc[0]),
            path=target,
            dataset_id=config.dataset_id,
            config={**conf, "source_fingerprint": source.get("fingerprint")},
            metrics=stats,
        )
    return target, artifact_id


def _languages(store: Store, dataset_id: str, frames: Any) -> list[str]:
    """The languages of the prompts behind the pairs, for the card's ``language`` field."""
    prompt_ids = sorted({str(p) for frame in frames for p in frame["prompt_id"]})
    if not prompt_ids:
        return []
    rows = store.query(
        "SELECT DISTINCT language FROM prompts WHERE dataset_id = ? AND list_contains(?, prompt_id)",
        [dataset_id, prompt_ids],
    )
    return sorted(str(language) for language in rows.language.dropna())


def load_preference_set(path: Path | str) -> Any:
    """The pairs of a preference set folder as a ``datasets.DatasetDict``.

    Reads the Parquet splits of an export; an older export's ``hf/`` folder, or any folder saved with
    ``save_to_disk`` (the ``hf/`` folder itself, a test fixture), loads as before.
    """
    from datasets import Dataset, DatasetDict, load_from_disk

    folder = Path(path)
    if not folder.exists():
        raise FileNotFoundError(f"no preference set at {path}: save one on the Preferences page")
    files = {split: folder / name for split, name in SPLIT_FILES.items() if (folder / name).is_file()}
    if files:
        import pyarrow.parquet as pq

        return DatasetDict({split: Dataset(pq.read_table(file)) for split, file in files.items()})
    return load_from_disk(str(folder / "hf" if (folder / "hf").is_dir() else folder))


def load_prompt_set(path: Path | str) -> Any:
    """The GRPO prompt set of a preference set folder (or a ``prompts/`` folder) as a ``datasets.Dataset``."""
    from datasets import load_from_disk

    folder = Path(path)
    folder = folder / "prompts" if (folder / "prompts").is_dir() else folder
    if not folder.exists():
        raise FileNotFoundError(f"no prompt set at {path}: save a preference set on the Preferences page")
    return load_from_disk(str(folder))


def load_config(path: Path | str) -> PreferenceConfig:
    """The :class:`PreferenceConfig` saved with a preference set."""
    data = yaml.safe_load((Path(path) / "config.yaml").read_text(encoding="utf-8"))
    return PreferenceConfig.from_dict(data)


def preference_sets(store: Store, dataset_id: str | None = None) -> pd.DataFrame:
    """Registered preference sets (newest first), for pickers on the Train page."""
    return store.artifacts("preference_set", dataset_id)
