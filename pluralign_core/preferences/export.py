"""Saving a preference set where training (and the wider ecosystem) can read it.

A preference set folder ``<home>/preference_sets/<name>/`` holds the same pairs three ways, so that trl,
any ``datasets`` user and any dataframe tool can read them without pluralign:

* ``hf/``: a ``datasets`` ``DatasetDict`` (``save_to_disk``) with ``train`` (and ``test``: the same choices
  applied to the held-out prompts, for evaluation only), in trl's standard preference format
  (``prompt, chosen, rejected``, conversational or plain) plus the metadata columns;
* ``pairs.jsonl`` and ``pairs.parquet``: the training pairs;
* ``prompts/``: the GRPO prompt-only data set with the group's per-dimension targets;
* ``config.yaml``: the :class:`~pluralign_core.preferences.build.PreferenceConfig` that built it;
* ``README.md``: a dataset card with the config, the counts and the source data's fingerprint, so a
  trained model can always be traced back to who gave the feedback and how it was turned into pairs.
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


def _to_dataset(frame: pd.DataFrame) -> Any:
    from datasets import Dataset

    return Dataset.from_pandas(frame.reset_index(drop=True), preserve_index=False)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def dataset_card(
    name: str, config: PreferenceConfig, stats: dict[str, Any], source: dict[str, Any], test_pairs: int
) -> str:
    """The README.md of a preference set: what it is, where it came from, how it was made."""
    conf = _jsonable(config.to_dict())
    header = {
        "pretty_name": name,
        "tags": ["pluralign", "preference", "dpo", config.disagreement, config.scale],
        "configs": [{"config_name": "default", "data_dir": "hf"}],
    }
    simulated = bool(source.get("simulated"))
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
    from datasets import DatasetDict

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
        splits = {"train": _to_dataset(result.pairs)}
        if include_test and config.split == "train":
            test = build_preferences(store, replace(config, split="heldout"))
            if not test.pairs.empty:
                splits["test"] = _to_dataset(test.pairs)
                test_pairs = len(test.pairs)
        DatasetDict(splits).save_to_disk(str(staging / "hf"))
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
        (staging / "README.md").write_text(dataset_card(safe, config, stats, source, test_pairs), "utf-8")
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


def _hf_folder(path: Path | str) -> Path:
    folder = Path(path)
    return folder / "hf" if (folder / "hf").is_dir() else folder


def load_preference_set(path: Path | str) -> Any:
    """The pairs of a preference set folder (or its ``hf/`` folder) as a ``datasets.DatasetDict``."""
    from datasets import load_from_disk

    folder = _hf_folder(path)
    if not folder.exists():
        raise FileNotFoundError(f"no preference set at {path}: save one on the Preferences page")
    return load_from_disk(str(folder))


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
