"""The column mapping of an import (:class:`ImportSpec`) and a guess at it from the file's columns.

A study's export rarely matches pluralign's schema, so the user *maps* columns rather than renaming
them: which column holds the rater id, the item, the texts, the ratings and the demographics. The
mapping is saved (YAML) with the dataset so the import can be repeated and audited.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field
from typing import ClassVar

import pandas as pd

from pluralign_core import paths
from pluralign_core.config_base import YamlConfig
from pluralign_core.ratings.schema import (
    AGREEMENT_LABELS_DE,
    AGREEMENT_LABELS_EN,
    STUDY_DIMENSIONS,
)

LAYOUTS = ("wide", "long")
SCALE_KINDS = ("auto", "numeric", "labels")

# Agreement labels (5 points, lowest first) recognised without configuration, English and German.
BUILTIN_LABELS: tuple[tuple[str, ...], ...] = (
    ("strongly disagree", "stimme überhaupt nicht zu", "stimme gar nicht zu", "trifft überhaupt nicht zu"),
    ("disagree", "somewhat disagree", "stimme nicht zu", "stimme eher nicht zu", "trifft eher nicht zu"),
    (
        "neutral",
        "neither agree nor disagree",
        "neither",
        "weder noch",
        "teils/teils",
        "teils teils",
        "weder zustimmung noch ablehnung",
    ),
    ("agree", "somewhat agree", "stimme zu", "stimme eher zu", "trifft eher zu"),
    ("strongly agree", "stimme voll und ganz zu", "stimme voll zu", "trifft voll und ganz zu"),
)
assert AGREEMENT_LABELS_EN[0] in BUILTIN_LABELS[0] and AGREEMENT_LABELS_DE[-1] in BUILTIN_LABELS[-1]

_DIMENSION_ALIASES = {
    "toxic": "toxicity",
    "ea": "emotional_awareness",
    "emotion": "emotional_awareness",
    "emotional": "emotional_awareness",
    "openness": "sensitivity",
    "sensitivity_openness": "sensitivity",
    "bias": "stereotypical_bias",
    "stereotype": "stereotypical_bias",
    "stereotypes": "stereotypical_bias",
    "stereotyping": "stereotypical_bias",
    "helpful": "helpfulness",
    "toxizitaet": "toxicity",
    "emotionale_kompetenz": "emotional_awareness",
    "emotionales_bewusstsein": "emotional_awareness",
    "sensibilitaet": "sensitivity",
    "offenheit": "sensitivity",
    "stereotype_verzerrung": "stereotypical_bias",
    "hilfsbereitschaft": "helpfulness",
    "hilfreich": "helpfulness",
    "nuetzlichkeit": "helpfulness",
}
_ATTRIBUTE_ALIASES = {
    "sex": "gender",
    "ethnicity": "race",
    "race_ethnicity": "race",
    "age_group": "age_band",
    "ideology": "political_leaning",
    "politics": "political_leaning",
    "party_id": "party",
    "geschlecht": "gender",
    "alter": "age_band",
    "altersgruppe": "age_band",
    "politische_orientierung": "political_leaning",
    "partei": "party",
    "land": "country",
    "sprache": "language",
}


_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


def normalize_key(text: str) -> str:
    """``"Emotional Awareness"`` → ``"emotional_awareness"``: the form names are compared in."""
    return re.sub(r"[^0-9a-z]+", "_", str(text).strip().casefold().translate(_UMLAUTS)).strip("_")


def normalize_label(text: str) -> str:
    return re.sub(r"\s+", " ", str(text).strip().casefold())


def study_dimension(name: str) -> str | None:
    """The study dimension a column or value name refers to, if any (``"Toxicity_rating"`` → toxicity)."""
    key = normalize_key(name)
    known = {d.name for d in STUDY_DIMENSIONS}
    for part in (key, re.sub(r"^(rating|score)_|_(rating|score)$", "", key)):
        if part in known:
            return part
        if part in _DIMENSION_ALIASES:
            return _DIMENSION_ALIASES[part]
    return None


@dataclass
class DimensionSpec:
    """A rated dimension and where its scores are found."""

    name: str = field(metadata={"help": "dimension name used in the store (letters, digits, _)"})
    label: str = field(default="", metadata={"help": "display label"})
    higher_is_better: bool = field(default=True, metadata={"help": "False for toxicity-like dimensions"})
    source: str = field(
        default="", metadata={"help": "wide: the rating column; long: the value in the dimension column"}
    )
    description: str = field(default="", metadata={"help": "what raters were asked"})

    def __post_init__(self) -> None:
        if not self.name or normalize_key(self.name) != self.name:
            raise ValueError(
                f"dimension name {self.name!r} must be lower-case letters, digits and '_' "
                f"(e.g. {normalize_key(self.name) or 'helpfulness'!r})"
            )
        self.label = self.label or self.name.replace("_", " ").capitalize()
        self.source = self.source or self.name

    @classmethod
    def guess(cls, source: str) -> DimensionSpec:
        """Study dimensions keep their published definition; anything else is assumed higher-is-better."""
        match = study_dimension(source)
        for study in STUDY_DIMENSIONS:
            if study.name == match:
                return cls(study.name, study.label, study.higher_is_better, source, study.description)
        return cls(normalize_key(source) or "dimension", str(source).strip(), True, source)


@dataclass
class DemographicSpec:
    """A column of rater demographics; it becomes one attribute (several values per rater if split)."""

    column: str = field(metadata={"help": "column in the file"})
    attribute: str = field(default="", metadata={"help": "attribute name in the store; default from column"})
    label: str = field(default="", metadata={"help": "display label"})
    separator: str | None = field(
        default=None, metadata={"help": "split multi-select cells on this, e.g. ';'"}
    )
    values: list[str] = field(default_factory=list, metadata={"help": "display order of the values"})

    def __post_init__(self) -> None:
        if not self.column:
            raise ValueError("a demographic column needs a column name")
        key = normalize_key(self.attribute or self.column)
        self.attribute = _ATTRIBUTE_ALIASES.get(key, key) if not self.attribute else key
        if not self.attribute:
            raise ValueError(f"column {self.column!r} needs an attribute name made of letters or digits")
        self.label = self.label or str(self.column).strip().replace("_", " ").capitalize()
        self.separator = self.separator or None
        self.values = [str(v) for v in self.values]


@dataclass
class ImportSpec(YamlConfig):
    """How the columns of a ratings file map onto pluralign's dataset (saved as YAML with the dataset)."""

    CONFIG_KIND: ClassVar[str] = "import spec"

    dataset_id: str = field(metadata={"help": "id of the new dataset (letters, digits, '.', '_', '-')"})
    name: str = field(default="", metadata={"help": "display name"})
    description: str = field(default="", metadata={"help": "where the data comes from"})
    layout: str = field(default="wide", metadata={"help": "wide: one row per rater × item; long: per rating"})
    rater_id: str = field(default="rater_id", metadata={"help": "column with the rater id"})
    item_id: str | None = field(default=None, metadata={"help": "column with the item id (else from texts)"})
    response_text: str = field(default="response", metadata={"help": "column with the rated response"})
    prompt_text: str | None = field(
        default=None, metadata={"help": "column with the prompt; none = standalone"}
    )
    prompt_id: str | None = field(default=None, metadata={"help": "column with a prompt id (else from text)"})
    language: str | None = field(default=None, metadata={"help": "column with the language (en, de, ...)"})
    topic: str | None = field(default=None, metadata={"help": "column with the prompt topic"})
    split: str | None = field(default=None, metadata={"help": "column with train/heldout per prompt"})
    dimensions: list[DimensionSpec] = field(
        default_factory=list, metadata={"help": "rated dimensions; long layout: empty = take from the data"}
    )
    dimension_column: str | None = field(default=None, metadata={"help": "long: column naming the dimension"})
    score_column: str | None = field(default=None, metadata={"help": "long: column with the score"})
    demographics: list[DemographicSpec] = field(default_factory=list, metadata={"help": "rater attributes"})
    scale_min: int = field(default=1, metadata={"help": "lowest score"})
    scale_max: int = field(default=5, metadata={"help": "highest score"})
    scale_kind: str = field(default="auto", metadata={"help": "numeric, labels, or auto (either)"})
    label_map: dict[str, int] = field(default_factory=dict, metadata={"help": "text label → score"})
    scale_labels: list[str] = field(
        default_factory=list,
        metadata={"help": "what each score means, lowest first (e.g. 'not offensive' … 'very offensive')"},
    )
    builtin_labels: bool = field(default=True, metadata={"help": "accept EN/DE agreement labels (5 points)"})
    delimiter: str | None = field(default=None, metadata={"help": "CSV delimiter; none = detect"})
    encoding: str | None = field(
        default=None,
        metadata={"help": "text encoding of a CSV/JSONL file (utf-8, cp1252, ...); none = detect"},
    )

    def __post_init__(self) -> None:
        self.dimensions = [d if isinstance(d, DimensionSpec) else DimensionSpec(**d) for d in self.dimensions]
        self.demographics = [
            d if isinstance(d, DemographicSpec) else DemographicSpec(**d) for d in self.demographics
        ]
        for role in (
            "item_id",
            "prompt_text",
            "prompt_id",
            "language",
            "topic",
            "split",
            "delimiter",
            "encoding",
        ):
            if getattr(self, role) == "":
                setattr(self, role, None)
        self.scale_min, self.scale_max = int(self.scale_min), int(self.scale_max)
        self.name = self.name or self.dataset_id
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, not {self.layout!r}")
        if self.scale_kind not in SCALE_KINDS:
            raise ValueError(f"scale_kind must be one of {SCALE_KINDS}, not {self.scale_kind!r}")
        if self.scale_max <= self.scale_min:
            raise ValueError(f"scale_max ({self.scale_max}) must exceed scale_min ({self.scale_min})")
        if not self.rater_id or not self.response_text:
            raise ValueError("map a rater id column and a response text column")
        self.label_map = {normalize_label(k): int(v) for k, v in self.label_map.items()}
        outside = {k: v for k, v in self.label_map.items() if not self.scale_min <= v <= self.scale_max}
        if outside:
            raise ValueError(f"label_map scores {outside} fall outside {self.scale_min}..{self.scale_max}")
        self.scale_labels = [str(label).strip() for label in self.scale_labels]
        points = self.scale_max - self.scale_min + 1
        if self.scale_labels and len(self.scale_labels) != points:
            raise ValueError(
                f"scale_labels names {len(self.scale_labels)} points but the scale {self.scale_min}–"
                f"{self.scale_max} has {points}: give one label per score, lowest first"
            )
        if self.layout == "wide" and not self.dimensions:
            raise ValueError("the wide layout needs at least one rating column (dimensions)")
        if self.layout == "long" and not (self.dimension_column and self.score_column):
            raise ValueError("the long layout needs a dimension column and a score column")
        for what, names in (
            ("dimension", [d.name for d in self.dimensions]),
            ("attribute", [d.attribute for d in self.demographics]),
        ):
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                raise ValueError(f"{what} names must be unique; repeated: {repeated}")
        for column, roles in self.column_roles().items():
            if len(roles) > 1:
                raise ValueError(
                    f"column {column!r} is mapped twice, as {' and as '.join(roles)}: one column plays one "
                    "role, so pick another column for one of them (or remove it from the demographics)"
                )

    def column_roles(self) -> dict[str, list[str]]:
        """Every mapped column with *all* the roles it was given (a column may hold only one)."""
        roles: dict[str, list[str]] = {}
        singles = {
            "rater id": self.rater_id,
            "item id": self.item_id,
            "response text": self.response_text,
            "prompt text": self.prompt_text,
            "prompt id": self.prompt_id,
            "language": self.language,
            "topic": self.topic,
            "split": self.split,
            "dimension": self.dimension_column,
            "score": self.score_column,
        }
        for role, column in singles.items():
            if column:
                roles.setdefault(column, []).append(role)
        if self.layout == "wide":
            for d in self.dimensions:
                roles.setdefault(d.source, []).append(f"rating ({d.name})")
        for d in self.demographics:
            roles.setdefault(d.column, []).append(f"demographic ({d.attribute})")
        return roles

    def columns(self) -> dict[str, str]:
        """Every mapped column with the role it plays (``{"participant": "rater id", ...}``); a column
        given several roles (an error :meth:`column_roles` reports) shows the last of them."""
        return {column: roles[-1] for column, roles in self.column_roles().items()}

    def labels(self) -> dict[str, int]:
        """All accepted text labels with their score."""
        mapping: dict[str, int] = {}
        if self.builtin_labels and self.scale_max - self.scale_min == 4:
            for offset, synonyms in enumerate(BUILTIN_LABELS):
                mapping.update({normalize_label(s): self.scale_min + offset for s in synonyms})
        mapping.update(self.label_map)
        return mapping


_ROLE_NAMES = {
    "rater_id": (
        "rater_id",
        "rater",
        "participant_id",
        "participant",
        "respondent_id",
        "respondent",
        "worker_id",
        "annotator_id",
        "annotator",
        "user_id",
        "pid",
        "prolific_id",
    ),
    "item_id": ("item_id", "response_id", "item", "answer_id", "pair_id"),
    "response_text": (
        "response_text",
        "response",
        "answer",
        "answer_text",
        "completion",
        "output",
        "text",
        "item_text",
    ),
    "prompt_text": ("prompt_text", "prompt", "question", "question_text", "instruction"),
    "prompt_id": ("prompt_id", "question_id", "prompt_key"),
    "language": ("language", "lang", "locale"),
    "topic": ("topic", "category", "theme"),
    "split": ("split", "partition"),
    "dimension_column": ("dimension", "aspect", "criterion", "measure", "scale_item"),
    "score_column": ("score", "rating", "value", "answer_value", "response_value"),
}


def _find(columns: list[str], candidates: tuple[str, ...], taken: set[str]) -> str | None:
    by_key = {normalize_key(c): c for c in columns if c not in taken}
    for candidate in candidates:
        if candidate in by_key:
            return by_key[candidate]
    return None


def _multi_separator(series: pd.Series) -> str | None:
    text = series.dropna().astype(str)
    for separator in (";", "|"):
        if len(text) and text.str.contains(separator, regex=False).mean() > 0.02:
            return separator
    return None


def infer_spec(frame: pd.DataFrame, dataset_id: str = "imported") -> ImportSpec:
    """Suggest a mapping from column names (the user confirms or corrects it)."""
    columns = [str(c) for c in frame.columns]
    found: dict[str, str | None] = {}
    taken: set[str] = set()
    for role, candidates in _ROLE_NAMES.items():
        found[role] = _find(columns, candidates, taken)
        if found[role]:
            taken.add(found[role])
    for role, position in (("rater_id", 0), ("response_text", 1)):
        if not found[role]:  # a fallback column, so that it is not guessed as a demographic below
            free = [c for c in columns if c not in taken]
            found[role] = free[min(position, len(free) - 1)] if free else columns[0]
            taken.add(found[role])
    if not found["item_id"]:
        found["item_id"] = next((c for c in columns if c not in taken and _is_id_column(c)), None)
        if found["item_id"]:
            taken.add(found["item_id"])
    long = bool(found["dimension_column"] and found["score_column"])
    if not long:
        for role in ("dimension_column", "score_column"):
            if found[role]:
                taken.discard(found[role])
            found[role] = None
    dimensions = []
    if not long:
        dimensions = [DimensionSpec.guess(c) for c in columns if c not in taken and study_dimension(c)]
        if not dimensions:
            dimensions = [
                DimensionSpec.guess(c)
                for c in columns
                if c not in taken and not _is_id_column(c) and _looks_like_ratings(frame[c])
            ]
        taken.update(d.source for d in dimensions)
    demographics = []
    for column in columns:
        if column in taken or column.startswith("Unnamed"):
            continue
        try:
            demographics.append(DemographicSpec(column, separator=_multi_separator(frame[column])))
        except ValueError:
            continue
    attributes = [d.attribute for d in demographics]
    demographics = [d for d in demographics if attributes.count(d.attribute) == 1]
    scale_min, scale_max, kind = 1, 5, "auto"
    scores = frame[found["score_column"]] if long else frame[[d.source for d in dimensions]].stack()
    scores = pd.Series(scores, dtype=object).dropna()
    numeric = pd.to_numeric(scores, errors="coerce").dropna()
    if len(numeric) and len(numeric) == len(scores):
        kind = "numeric"  # numbers only: the agreement labels would misname a scale that is not one
    if len(numeric) and numeric.min() >= 0 and numeric.max() > numeric.min():
        scale_min, scale_max = int(numeric.min()), int(numeric.max())
        if scale_max - scale_min < 4 and scale_min >= 1 and scale_max <= 5:
            scale_min, scale_max = 1, 5
    return ImportSpec(
        dataset_id=paths.safe_name(dataset_id) if dataset_id.strip() else "imported",
        layout="long" if long else "wide",
        rater_id=found["rater_id"],
        item_id=found["item_id"],
        response_text=found["response_text"],
        prompt_text=found["prompt_text"],
        prompt_id=found["prompt_id"],
        language=found["language"],
        topic=found["topic"],
        split=found["split"],
        dimensions=dimensions if dimensions or long else [DimensionSpec("score", "Score", True, "?")],
        dimension_column=found["dimension_column"],
        score_column=found["score_column"],
        demographics=demographics,
        scale_min=scale_min,
        scale_max=scale_max,
        scale_kind=kind,
    )


def _is_id_column(column: str) -> bool:
    key = normalize_key(column)
    return key == "id" or key.endswith("_id")


def _looks_like_ratings(values: pd.Series) -> bool:
    """Whole numbers on a short scale (0..10, at least three values used): a rating column, most likely."""
    numeric = pd.to_numeric(values, errors="coerce")
    present = numeric.dropna()
    if present.empty or len(present) < 0.9 * values.notna().sum():
        return False
    whole = bool((present == present.round()).all())
    return whole and present.min() >= 0 and present.max() <= 10 and present.nunique() >= 3


def suggest_column(name: str, columns: list[str]) -> str:
    close = difflib.get_close_matches(name, columns, n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


def short_hash(*parts: object) -> str:
    return hashlib.sha1("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()[:10]
