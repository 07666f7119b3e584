"""Evaluator cards for everything an evaluation scores with: the classifier and the group reward models.

The reward models' cards are computed when they are trained and saved in their folders
(:mod:`pluralign_core.rewards.validation`); the classifier's card is computed here on demand (it takes a
second), with the same reference pairs and degenerate answers, so the two kinds of evaluator are judged
by one yardstick. :func:`evaluator_cards` is what the Evaluate page shows.
"""

from __future__ import annotations

from typing import Any

from pluralign_core.evaluation.toxicity_classifier import CLASSIFIER_NAME, default_classifier
from pluralign_core.rewards.training import registered_reward_models
from pluralign_core.rewards.validation import card_markdown, load_card, validate_evaluator
from pluralign_core.store.database import Store

__all__ = ["card_markdown", "classifier_card", "evaluator_cards"]


def classifier_card(store: Store, dataset_id: str, classifier: Any = None) -> dict[str, Any]:
    """The toxicity classifier's card on ``dataset_id``'s held-out prompts (probability, higher = worse)."""
    classifier = classifier or default_classifier()
    card = {
        "evaluator": getattr(classifier, "name", CLASSIFIER_NAME),
        "kind": "toxicity classifier",
        "dimension": "toxicity",
        "group": "classifier",
    }
    try:
        body = validate_evaluator(
            store,
            dataset_id,
            lambda prompts, texts, languages: classifier.score(list(texts), list(languages)),
            higher_is_worse=True,
        )
    except ValueError as error:
        return {**card, "dataset_id": dataset_id, "unavailable": str(error), "languages": {}}
    return {**card, **body}


def evaluator_cards(store: Store, dataset_id: str, *, classifier: Any = None) -> list[dict[str, Any]]:
    """The classifier's card, then the saved card of every registered reward model of the dataset.

    A reward model trained before cards existed gets an entry that says so instead of invented numbers.
    """
    cards = [classifier_card(store, dataset_id, classifier)]
    rows = registered_reward_models(store, dataset_id)
    for row in rows.itertuples() if not rows.empty else []:
        card = load_card(row.path)
        if card is None:
            card = {
                "evaluator": row.name,
                "kind": "group reward model",
                "dataset_id": dataset_id,
                "unavailable": "trained before evaluator cards existed; retrain it to validate it",
                "languages": {},
            }
        cards.append({**card, "artifact_id": row.artifact_id})
    return cards
