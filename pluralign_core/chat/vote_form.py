"""What the Chat page asks a person about the replies: the active dataset's dimensions, its scale labels
(English or German, by the question's language) and its rater attributes with their values.

Asking on the dataset's own vocabulary is what makes a vote comparable with the dataset's ratings: a
chat vote on "Toxicity" with "strongly agree" is the same judgement the study's raters gave, and the
saved votes (:mod:`pluralign_core.chat.votes`) land in a dataset with the same dimensions, scale and
attributes, so Explore and Preferences treat them like any other ratings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pluralign_core.ratings.schema import (
    AGREEMENT_LABELS_DE,
    AGREEMENT_LABELS_EN,
    Attribute,
    Dimension,
    Scale,
)
from pluralign_core.store import catalog
from pluralign_core.store.database import Store

VOTES_PREFIX = "chat-votes-"
LANGUAGES = ("en", "de")
PREFERRED = Dimension(
    "preferred_reply",
    "Preferred reply",
    True,
    "Which of the replies to one question the person preferred, on the dataset's scale: the preferred "
    "reply gets the top score and the other reply (or replies) the bottom score; a tie gives every reply "
    "the midpoint (the lower of the two middle points on a scale with an even number of points); "
    "'both bad' gives every reply the bottom score.",
)

_DE_WORDS = frozenset(
    re.findall(
        r"\S+",
        "der die das und ist nicht ich wie warum was wer wo wann ein eine einen zu mit sich auf für den dem "
        "des sind kann können soll sollte wenn oder aber mein meine du sie wir es man auch noch nur über "
        "hallo bitte danke gibt werden wird habe hat",
    )
)
_EN_WORDS = frozenset(
    re.findall(
        r"\S+",
        "the and is not i how why what who where when a an to with on for are can should if or but my you "
        "they we it do does of in people hello please thanks there be will have has",
    )
)


def detect_language(text: str) -> str:
    """``"de"`` or ``"en"``: which of the two the question reads as, by common words and umlauts.

    Deliberately simple (no model, no download): the answer only picks which scale labels to show, and the
    page lets the person override it.
    """
    words = re.findall(r"[a-zäöüß]+", text.casefold())
    german = sum(word in _DE_WORDS for word in words) + 2 * len(re.findall(r"[äöüß]", text.casefold()))
    english = sum(word in _EN_WORDS for word in words)
    return "de" if german > english else "en"


def votes_dataset_id(dataset_id: str) -> str:
    """The id of the dataset that collects chat votes given while ``dataset_id`` is active.

    Votes given while a chat-votes dataset is itself active go into that dataset.
    """
    return dataset_id if dataset_id.startswith(VOTES_PREFIX) else f"{VOTES_PREFIX}{dataset_id}"


@dataclass(frozen=True)
class VoteForm:
    """The questions to ask about one reply, and the dataset the answers go to."""

    source_id: str
    source_name: str
    votes_id: str
    votes_name: str
    scale: Scale
    labels: dict[str, tuple[str, ...]]
    dimensions: tuple[Dimension, ...]
    attributes: tuple[Attribute, ...]

    @property
    def scores(self) -> tuple[int, ...]:
        return tuple(range(self.scale.minimum, self.scale.maximum + 1))

    def labels_for(self, language: str) -> tuple[str, ...]:
        """The scale's labels in ``language`` (the dataset's own labels when it has none in that language)."""
        return self.labels.get(language) or self.labels.get("en", ())

    def score_label(self, score: int, language: str) -> str:
        """``"4 · agree"`` (or just ``"4"`` on an unlabelled scale)."""
        labels = self.labels_for(language)
        index = score - self.scale.minimum
        return f"{score} · {labels[index]}" if 0 <= index < len(labels) else str(score)


def scale_labels(scale: Scale, meta: dict) -> dict[str, tuple[str, ...]]:
    """The scale's labels by language: the stored labels as English, German from the dataset's metadata
    (``scale_labels_de``) or, for the study's agreement scale, its German wording."""
    labels = {"en": tuple(scale.labels)}
    german = tuple(meta.get("scale_labels_de") or ())
    if len(german) == scale.points:
        labels["de"] = german
    elif tuple(scale.labels) == AGREEMENT_LABELS_EN:
        labels["de"] = AGREEMENT_LABELS_DE
    return labels


def attributes_with_values(store: Store, dataset_id: str) -> tuple[Attribute, ...]:
    """The dataset's attributes, each with the values a person can choose from (its declared order, else
    the values its raters gave); attributes without any value are left out."""
    counts = catalog.attribute_value_counts(store, dataset_id)
    found = {}
    for attribute in store.attributes(dataset_id):
        values = attribute.values or tuple(counts.loc[counts.attribute == attribute.name, "value"])
        if values:
            found[attribute.name] = Attribute(
                attribute.name, attribute.label, attribute.builtin, attribute.multi_valued, tuple(values)
            )
    return tuple(found.values())


def vote_form(store: Store, dataset_id: str) -> VoteForm:
    """The vote form for ``dataset_id``: its dimensions (less the preference one), labels and attributes."""
    info = store.dataset_info(dataset_id)
    votes_id = votes_dataset_id(dataset_id)
    if store.has_dataset(votes_id):
        votes_name = store.dataset_info(votes_id).name
    else:
        votes_name = f"chat votes ({info.name})"
    return VoteForm(
        source_id=dataset_id,
        source_name=info.name,
        votes_id=votes_id,
        votes_name=votes_name,
        scale=info.scale,
        labels=scale_labels(info.scale, info.meta),
        dimensions=tuple(d for d in store.dimensions(dataset_id) if d.name != PREFERRED.name),
        attributes=attributes_with_values(store, dataset_id),
    )
