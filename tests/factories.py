"""Small hand-made datasets for tests (independent of the embedded default data)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from pluralign_core.ratings.schema import STUDY_DIMENSIONS, Attribute, DatasetInfo, Dimension, Scale
from pluralign_core.store.database import DatasetBundle


def tiny_bundle(
    dataset_id: str = "tiny",
    *,
    n_raters: int = 12,
    n_prompts: int = 3,
    responses_per_prompt: int = 3,
    dimensions: tuple[Dimension, ...] = STUDY_DIMENSIONS[:2],
    seed: int = 0,
    scores: np.ndarray | None = None,
) -> DatasetBundle:
    """Every rater rates every response on every dimension; scores random unless given.

    Raters alternate gender (woman/man) and country (US/DE); every third rater lists two races.
    """
    rng = np.random.default_rng(seed)
    raters = pd.DataFrame({"rater_id": [f"r{i:03d}" for i in range(n_raters)]})
    attribute_rows = []
    for i, rater in enumerate(raters.rater_id):
        attribute_rows.append((rater, "gender", ["woman", "man"][i % 2]))
        attribute_rows.append((rater, "country", ["US", "DE"][(i // 2) % 2]))
        attribute_rows.append((rater, "race", ["White", "Black"][(i // 3) % 2]))
        if i % 3 == 0:
            attribute_rows.append((rater, "race", "Asian"))
    rater_attributes = pd.DataFrame(attribute_rows, columns=["rater_id", "attribute", "value"])
    prompts = pd.DataFrame(
        {
            "prompt_id": [f"p{j}" for j in range(n_prompts)],
            "prompt_key": [f"p{j}" for j in range(n_prompts)],
            "text": [f"Prompt number {j}?" for j in range(n_prompts)],
            "language": "en",
            "topic": ["gender", "everyday"][0:1] * n_prompts,
            "split": ["heldout" if j == n_prompts - 1 else "train" for j in range(n_prompts)],
        }
    )
    responses = pd.DataFrame(
        [
            (f"p{j}-a{k}", f"p{j}", f"Answer {k} to prompt {j}.", "en")
            for j in range(n_prompts)
            for k in range(responses_per_prompt)
        ],
        columns=["response_id", "prompt_id", "text", "language"],
    )
    combos = list(itertools.product(raters.rater_id, responses.response_id, [d.name for d in dimensions]))
    ratings = pd.DataFrame(combos, columns=["rater_id", "response_id", "dimension"])
    ratings["score"] = scores if scores is not None else rng.integers(1, 6, len(ratings))
    info = DatasetInfo(dataset_id, f"Tiny test data {dataset_id}", scale=Scale(), source="tests")
    attributes = [
        Attribute("gender", "Gender", True, False, ("woman", "man")),
        Attribute("country", "Country", True, False, ("US", "DE")),
        Attribute("race", "Race", True, True, ()),
    ]
    return DatasetBundle(
        info, list(dimensions), attributes, raters, rater_attributes, prompts, responses, ratings
    )
