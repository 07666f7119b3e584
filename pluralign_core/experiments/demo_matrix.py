"""The demo's group × model likelihood matrix: does the adapter tuned on group G agree more with G?

Models: the unaligned start and one adapter per group. Each model's *implicit reward* of a held-out answer
is its per-token log-probability minus that under the model it was tuned from (an adapter: the start; the
start: the instruct base), so the matrix asks what each tuning step changed. For every (model, group) it
reports :func:`~pluralign_core.evaluation.likelihood.pair_agreement` on the group's held-out pairs, per
language (never pooled), and two paired comparisons per group G:

* ``own_vs_other_model``: margin of the G-tuned adapter minus another group's adapter, on G's pairs (the
  "diagonal": resolved when its 95 % CI excludes 0);
* ``own_vs_other_pairs``: margin of the G-tuned adapter on G's pairs minus on the other group's pairs.

The base and start log-probabilities are cached on disk (:class:`~pluralign_core.evaluation.likelihood.
LogprobCache`), so a rerun only scores the adapters.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from pluralign_core import paths
from pluralign_core.evaluation.heldout_pairs import heldout_group_pairs, pair_responses, response_logprobs
from pluralign_core.evaluation.likelihood import LogprobCache, alignment_matrix, paired_margin_difference
from pluralign_core.models.base import load_model_and_tokenizer

START = "unaligned start"


def model_name(group: str) -> str:
    return f"{group}-tuned"


def _group_pairs(store: Any, config: Any) -> dict[str, pd.DataFrame]:
    pairs = {}
    for group in config.groups:
        frame = heldout_group_pairs(store, config.dataset_id, config.selection(group), config.dimension)
        if config.language:
            frame = frame[frame.language == config.language]
        pairs[group] = frame.reset_index(drop=True)
    if all(frame.empty for frame in pairs.values()):
        raise ValueError(
            f"no held-out {config.dimension} pairs for {config.groups} on {config.dataset_id!r}"
            f"{f' in {config.language!r}' if config.language else ''}: the matrix cannot be computed"
        )
    return pairs


def model_rewards(config: Any, done: dict[str, Any], responses: pd.DataFrame) -> dict[str, pd.Series]:
    """Per-token implicit reward of every response under the start (vs base) and each adapter (vs start)."""
    from peft import PeftModel

    cache_dir = paths.subdir("cache", "logprobs")
    start_dir = done["start"]["model_dir"]
    base, tokenizer = load_model_and_tokenizer(config.base_model)
    base_lp = response_logprobs(base, tokenizer, responses, LogprobCache(cache_dir, config.base_model))
    del base
    start, tokenizer = load_model_and_tokenizer(start_dir)
    start_lp = response_logprobs(start, tokenizer, responses, LogprobCache(cache_dir, str(start_dir)))
    rewards = {START: start_lp - base_lp.reindex(start_lp.index)}
    tuned = None
    for group, adapter in done["adapters"].items():
        if tuned is None:
            tuned = PeftModel.from_pretrained(start, adapter["path"], adapter_name=group)
        else:
            tuned.load_adapter(adapter["path"], adapter_name=group)
        tuned.set_adapter(group)
        adapter_lp = response_logprobs(tuned, tokenizer, responses)
        rewards[model_name(group)] = adapter_lp - start_lp.reindex(adapter_lp.index)
    return rewards


def likelihood_matrix(store: Any, config: Any, done: dict[str, Any], *, n_boot: int = 2000) -> dict[str, Any]:
    """``{"cells": [...], "comparisons": [...], "diagonals": {...}}`` for :func:`demo.save_matrix`."""
    pairs = _group_pairs(store, config)
    responses = pair_responses(pd.concat([p for p in pairs.values() if not p.empty]))
    rewards = model_rewards(config, done, responses)
    cells, comparisons = [], []
    languages = sorted({lang for p in pairs.values() for lang in p.language.dropna().unique()})
    for language in languages:
        by_group = {g: p[p.language == language] for g, p in pairs.items()}
        table = alignment_matrix(rewards, by_group, n_boot=n_boot)
        cells += table.assign(language=language).to_dict("records")
        for group, own in by_group.items():
            if own.empty:
                continue
            mine = rewards[model_name(group)]
            for other in config.groups:
                if other == group:
                    continue
                where = {"group": group, "other": other, "language": language}
                diff = paired_margin_difference((own, mine), (own, rewards[model_name(other)]), n_boot=n_boot)
                comparisons.append({"kind": "own_vs_other_model", **where, **diff})
                if not by_group[other].empty:
                    try:
                        diff = paired_margin_difference((own, mine), (by_group[other], mine), n_boot=n_boot)
                    except ValueError:  # the groups' pairs share no prompt
                        continue
                    comparisons.append({"kind": "own_vs_other_pairs", **where, **diff})
    diagonals = {
        f"{c['group']} vs {c['other']} ({c['language']})": {
            "difference": c["difference"],
            "ci_low": c["ci_low"],
            "ci_high": c["ci_high"],
            "resolved": c["resolved"] and c["difference"] > 0,
        }
        for c in comparisons
        if c["kind"] == "own_vs_other_model"
    }
    return {
        "dimension": config.dimension,
        "models": [START, *(model_name(g) for g in config.groups)],
        "cells": cells,
        "comparisons": comparisons,
        "diagonals": diagonals,
    }
