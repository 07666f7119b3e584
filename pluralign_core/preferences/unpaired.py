"""Unpaired preference labels: one desirable / undesirable label per rated text, for KTO.

A preference *pair* needs two responses to the same prompt. Many public ratings datasets rate standalone
texts (comments, posts) with no prompt at all, so no pair can be built from them; what the ratings do say
is whether a rater group finds each text good or bad on a dimension. That is exactly trl's *unpaired
preference* format (``prompt, completion, label``), which KTO trains on. The label is the sign of the
selected raters' weighted mean rating against the scale midpoint, oriented so that ``True`` always means
"better" (for a lower-is-better dimension such as offensiveness, a low rating is desirable); a text whose
mean sits exactly on the midpoint says neither and is dropped (and counted).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pluralign_core import paths
from pluralign_core.store.database import PREFERENCE_KINDS, Store
from pluralign_core.store.selection import RaterSelection

UNPAIRED_COLUMNS = ["prompt", "completion", "label"]
UNPAIRED_KIND = "unpaired_set"


@dataclass(frozen=True)
class UnpairedLabels:
    """Labels per text and the counts that describe them (they always add up: labelled + ties = texts)."""

    dataset_id: str
    dimension: str
    selection: dict[str, Any]
    labels: pd.DataFrame  # response_id, prompt, completion, label, mean, n_raters, agreement
    stats: dict[str, Any] = field(default_factory=dict)


def why_no_pairs(n_prompts: int, n_shared_prompts: int) -> str | None:
    """One sentence on why a dataset gives no preference pairs at all, or None when it can give some."""
    if n_prompts == 0:
        return (
            "This dataset has no prompts: every text is its own item, so no two responses answer the same "
            "prompt and no preference pair can be built. Unpaired labels (below) use its ratings instead."
        )
    if n_shared_prompts == 0:
        return (
            "No prompt in this dataset has two or more rated responses, so no preference pair can be built. "
            "Unpaired labels (below) use its ratings instead."
        )
    return None


def build_unpaired(
    store: Store, dataset_id: str, dimension: str, selection: RaterSelection | None = None
) -> UnpairedLabels:
    """Label every text the selected raters rated on ``dimension`` as desirable or undesirable."""
    selection = selection or RaterSelection()
    dimensions = {d.name: d for d in store.dimensions(dataset_id)}
    if dimension not in dimensions:
        raise ValueError(
            f"dataset {dataset_id!r} has no dimension {dimension!r}; choose one of {sorted(dimensions)}"
        )
    scale = store.dataset_info(dataset_id).scale
    raters = selection.rater_ids(store, dataset_id)
    ratings = store.query(
        """
        SELECT g.rater_id, g.response_id, g.score, s.text AS completion, p.text AS prompt
        FROM ratings g
        JOIN responses s ON s.dataset_id = g.dataset_id AND s.response_id = g.response_id
        LEFT JOIN prompts p ON p.dataset_id = s.dataset_id AND p.prompt_id = s.prompt_id
        WHERE g.dataset_id = ? AND g.dimension = ?
        """,
        [dataset_id, dimension],
    )
    ratings = ratings[ratings.rater_id.isin(set(raters))]
    side = ratings.score.gt(scale.midpoint).astype(float).where(ratings.score.ne(scale.midpoint))
    rows = (
        ratings.assign(above=side)
        .groupby("response_id", sort=True)
        .agg(
            completion=("completion", "first"),
            prompt=("prompt", "first"),
            mean=("score", "mean"),
            n_raters=("rater_id", "nunique"),
            above=("above", "mean"),
        )
        .reset_index()
    )
    used = ratings.rater_id.nunique()
    higher_better = dimensions[dimension].higher_is_better
    centred = rows["mean"] - scale.midpoint
    oriented = centred if higher_better else -centred
    rows["prompt"] = rows["prompt"].fillna("").astype(str)
    rows["label"] = oriented > 0
    above = rows["above"].fillna(0.5)
    rows["agreement"] = above.where(rows["label"] == higher_better, 1 - above)
    ties = oriented == 0
    labels = rows[~ties].reset_index(drop=True)
    labels["label"] = labels["label"].astype(bool)
    stats = {
        "texts": len(rows),
        "labelled": len(labels),
        "desirable": int(labels.label.sum()),
        "undesirable": int((~labels.label).sum()),
        "ties_dropped": int(ties.sum()),
        "raters_selected": len(raters),
        "raters_used": int(used),
        "selection": selection.label,
    }
    columns = ["response_id", "prompt", "completion", "label", "mean", "n_raters", "agreement"]
    return UnpairedLabels(dataset_id, dimension, selection.to_dict(), labels[columns], stats)


def export_unpaired(
    store: Store,
    result: UnpairedLabels,
    name: str,
    *,
    folder: Path | str | None = None,
    register: bool = True,
) -> tuple[Path, str | None]:
    """Write the labels in trl's unpaired preference format (a ``datasets`` folder, JSONL and a config)
    and register the folder as an ``unpaired_set`` artifact; returns the folder and the artifact id.

    Registered beside the preference sets, so the Preferences page lists every saved set of a dataset; it
    is a kind of its own because DPO and GRPO need pairs and prompts, which these labels do not have, so
    the Train page's preference-set picker does not offer it. Saving again under the same name rewrites the
    folder and updates its registry entry rather than adding a second one.
    """
    from datasets import Dataset

    if result.labels.empty:
        raise ValueError(
            "no text got a label (every mean sits on the scale midpoint, or the selection rated nothing); "
            "widen the rater selection or choose another dimension"
        )
    target = Path(folder) if folder is not None else paths.subdir("unpaired_sets") / paths.safe_name(name)
    target.mkdir(parents=True, exist_ok=True)
    table = result.labels[UNPAIRED_COLUMNS]
    Dataset.from_pandas(table, preserve_index=False).save_to_disk(str(target / "hf"))
    table.to_json(target / "unpaired.jsonl", orient="records", lines=True, force_ascii=False)
    meta = {
        "format": "trl unpaired preference (prompt, completion, label) for KTO",
        "dataset_id": result.dataset_id,
        "dimension": result.dimension,
        "selection": result.selection,
        "stats": result.stats,
    }
    (target / "config.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False), "utf-8")
    if not register:
        return target, None
    known = store.artifacts(UNPAIRED_KIND)
    same = known[known.path == str(target)]
    artifact_id = store.register_artifact(
        UNPAIRED_KIND,
        target.name,
        artifact_id=None if same.empty else str(same.artifact_id.iloc[0]),
        path=target,
        dataset_id=result.dataset_id,
        config={key: meta[key] for key in ("format", "dimension", "selection")},
        metrics=result.stats,
    )
    return target, artifact_id


def saved_sets(store: Store, dataset_id: str | None = None) -> pd.DataFrame:
    """Every registered preference set of a dataset, paired and unpaired, newest first (``kind`` tells)."""
    rows = store.artifacts(dataset_id=dataset_id)
    rows = rows[rows.kind.isin(PREFERENCE_KINDS)]
    return rows.sort_values("created_at", ascending=False, kind="stable").reset_index(drop=True)


def to_jsonl(result: UnpairedLabels) -> str:
    """The labels as trl unpaired-preference JSON Lines (for a download button)."""
    return result.labels[UNPAIRED_COLUMNS].to_json(orient="records", lines=True, force_ascii=False)
