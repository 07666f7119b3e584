"""A rater group's preference pairs on held-out prompts, and a model's per-response log-probs on them.

These feed the likelihood alignment measure (:mod:`pluralign_core.evaluation.likelihood`): the pairs come from
the same preference builder training uses (majority vote of the group, one dimension), but on the prompts
no model is tuned on, so agreement with them is a test of what a model learnt, not of what it memorised.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pluralign_core.evaluation.likelihood import LogprobCache, answer_logprobs
from pluralign_core.preferences.build import build_preferences
from pluralign_core.preferences.config import PreferenceConfig
from pluralign_core.store.database import Store
from pluralign_core.store.selection import RaterSelection

PAIR_COLUMNS = ["prompt_id", "language", "chosen_id", "rejected_id", "prompt", "chosen", "rejected"]


def heldout_group_pairs(
    store: Store,
    dataset_id: str,
    selection: RaterSelection | dict[str, Any] | None = None,
    dimension: str = "toxicity",
) -> pd.DataFrame:
    """Majority-vote pairs of the selected raters on the held-out prompts (plain text), with each language."""
    if isinstance(selection, RaterSelection):
        selection = selection.to_dict()
    config = PreferenceConfig(
        dataset_id=dataset_id,
        selection=selection or {},
        dimensions={dimension: 1.0},
        disagreement="majority",
        format="plain",
        split="heldout",
    )
    pairs = build_preferences(store, config).pairs
    if pairs.empty:
        return pd.DataFrame(columns=PAIR_COLUMNS)
    languages = store.query(
        "SELECT prompt_id, language FROM prompts WHERE dataset_id = ?", [dataset_id]
    ).set_index("prompt_id")["language"]
    pairs = pairs.assign(language=languages.reindex(pairs.prompt_id).to_numpy())
    return pairs[PAIR_COLUMNS].reset_index(drop=True)


def pair_responses(pairs: pd.DataFrame) -> pd.DataFrame:
    """The distinct responses of ``pairs``: ``response_id, prompt, text``."""
    chosen = pairs[["chosen_id", "prompt", "chosen"]].set_axis(["response_id", "prompt", "text"], axis=1)
    rejected = pairs[["rejected_id", "prompt", "rejected"]].set_axis(
        ["response_id", "prompt", "text"], axis=1
    )
    return pd.concat([chosen, rejected]).drop_duplicates("response_id").reset_index(drop=True)


def response_logprobs(
    model: Any, tokenizer: Any, responses: pd.DataFrame, cache: LogprobCache | None = None, **kwargs: Any
) -> pd.Series:
    """Per-token log-probability of each response under ``model``, indexed by ``response_id``."""
    prompts, texts = responses.prompt.astype(str).tolist(), responses.text.astype(str).tolist()
    if cache is not None:
        values = cache.logprobs(model, tokenizer, prompts, texts, **kwargs)
    else:
        values = answer_logprobs(model, tokenizer, prompts, texts, **kwargs)
    return pd.Series(np.asarray(values, dtype=float), index=responses.response_id.to_numpy(), name="logprob")
