"""The vocabulary of a ratings dataset: scales, dimensions and demographic attributes.

These dataclasses describe a dataset; the rows themselves travel as DataFrames in
:class:`pluralign_core.ratings.bundle.DatasetBundle`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

AGREEMENT_LABELS_EN = ("strongly disagree", "disagree", "neutral", "agree", "strongly agree")
AGREEMENT_LABELS_DE = (
    "stimme überhaupt nicht zu",
    "stimme nicht zu",
    "weder noch",
    "stimme zu",
    "stimme voll und ganz zu",
)


@dataclass(frozen=True)
class Scale:
    """An ordinal rating scale with integer scores ``minimum..maximum`` and optional labels."""

    minimum: int = 1
    maximum: int = 5
    labels: tuple[str, ...] = AGREEMENT_LABELS_EN

    def __post_init__(self) -> None:
        if self.maximum <= self.minimum:
            raise ValueError(f"scale maximum ({self.maximum}) must exceed its minimum ({self.minimum})")
        if self.labels and len(self.labels) != self.points:
            raise ValueError(
                f"a {self.points}-point scale needs {self.points} labels, got {len(self.labels)}"
            )

    @property
    def points(self) -> int:
        return self.maximum - self.minimum + 1

    @property
    def midpoint(self) -> float:
        return (self.minimum + self.maximum) / 2


@dataclass(frozen=True)
class Dimension:
    """A rated quality of a response. ``higher_is_better`` is False for toxicity and stereotypical bias."""

    name: str
    label: str
    higher_is_better: bool
    description: str = ""


@dataclass(frozen=True)
class Attribute:
    """A demographic attribute of raters. ``values`` gives the display order when it has one."""

    name: str
    label: str
    builtin: bool = False
    multi_valued: bool = False
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatasetInfo:
    """Identity and provenance of one dataset in the store."""

    dataset_id: str
    name: str
    description: str = ""
    scale: Scale = field(default_factory=Scale)
    simulated: bool = False
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


STUDY_DIMENSIONS: tuple[Dimension, ...] = (
    Dimension("toxicity", "Toxicity", False, "The response is toxic (rude, disrespectful, harmful)."),
    Dimension(
        "emotional_awareness",
        "Emotional awareness",
        True,
        "The response recognises and responds appropriately to the emotions involved.",
    ),
    Dimension(
        "sensitivity",
        "Sensitivity / openness",
        True,
        "The response is sensitive to and open about different perspectives and identities.",
    ),
    Dimension(
        "stereotypical_bias",
        "Stereotypical bias",
        False,
        "The response relies on or reinforces stereotypes about a group.",
    ),
    Dimension("helpfulness", "Helpfulness", True, "The response helps the person who asked."),
)

US_LEANING = ("very liberal", "liberal", "moderate", "conservative", "very conservative")
DE_LEANING = ("left", "centre", "right")

STUDY_ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("country", "Country", True, False, ("US", "DE")),
    Attribute("language", "Language", True, False, ("en", "de")),
    Attribute("gender", "Gender", True, False, ("woman", "man", "non-binary")),
    Attribute("age_band", "Age band", True, False, ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")),
    Attribute(
        "race",
        "Race / ethnicity",
        True,
        True,
        ("White", "Black", "Asian", "Hispanic or Latino", "Middle Eastern or North African", "Other"),
    ),
    Attribute("party", "Party", True, False, ()),
    Attribute("political_leaning", "Political leaning", True, False, US_LEANING + DE_LEANING),
)
