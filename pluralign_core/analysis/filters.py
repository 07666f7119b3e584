"""Which ratings an analysis looks at: rater filters plus prompt-level filters.

Rater attributes (country, gender, any imported column) go through :class:`RaterSelection`, so a filter
means the same thing here as in the preference builder. Prompt-level filters (language, topic, split)
apply to the prompt a response answers; a response with no prompt is dropped as soon as any prompt-level
filter is set, because it cannot be said to match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pluralign_core.store.selection import RaterSelection

PROMPT_FILTERS = ("language", "topic", "split")


def _as_tuple(values: Any) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        return (values,)
    return tuple(str(v) for v in values)


@dataclass(frozen=True)
class AnalysisFilter:
    """Ratings to keep: raters matching ``raters`` whose rated response answers a matching prompt."""

    raters: RaterSelection = field(
        default_factory=RaterSelection.everyone, metadata={"help": "filter on rater attributes"}
    )
    languages: tuple[str, ...] = field(
        default=(), metadata={"help": "prompt languages to keep (all if empty)"}
    )
    topics: tuple[str, ...] = field(default=(), metadata={"help": "prompt topics to keep (all if empty)"})
    splits: tuple[str, ...] = field(default=(), metadata={"help": "prompt splits to keep: train, heldout"})

    def __post_init__(self) -> None:
        if isinstance(self.raters, dict):
            object.__setattr__(self, "raters", RaterSelection(self.raters))
        for name in ("languages", "topics", "splits"):
            object.__setattr__(self, name, _as_tuple(getattr(self, name)))
        unknown = set(self.splits) - {"train", "heldout"}
        if unknown:
            raise ValueError(f"unknown prompt split(s) {sorted(unknown)}; use 'train' and/or 'heldout'")

    @classmethod
    def from_pairs(cls, pairs: list[str] | None) -> AnalysisFilter:
        """Parse command-line style ``attribute=value[|value]`` pairs.

        ``language``, ``topic`` and ``split`` filter prompts; prefix ``rater.`` (``rater.language=de``) to
        filter a rater attribute of the same name, or ``prompt.`` to be explicit.
        """
        raters: dict[str, list[str]] = {}
        prompt: dict[str, list[str]] = {name: [] for name in PROMPT_FILTERS}
        for pair in pairs or []:
            if "=" not in pair:
                raise ValueError(f"filter {pair!r} must look like attribute=value (e.g. country=US)")
            key, values = (part.strip() for part in pair.split("=", 1))
            if key.startswith("rater."):
                target = raters.setdefault(key.removeprefix("rater."), [])
            elif key.removeprefix("prompt.") in PROMPT_FILTERS:
                target = prompt[key.removeprefix("prompt.")]
            elif key.startswith("prompt."):
                raise ValueError(f"unknown prompt filter {key!r}; use one of {list(PROMPT_FILTERS)}")
            else:
                target = raters.setdefault(key, [])
            target.extend(v for v in values.split("|") if v)
        return cls(
            RaterSelection({k: tuple(v) for k, v in raters.items()}),
            languages=tuple(prompt["language"]),
            topics=tuple(prompt["topic"]),
            splits=tuple(prompt["split"]),
        )

    @property
    def prompt_filtered(self) -> bool:
        return bool(self.languages or self.topics or self.splits)

    @property
    def label(self) -> str:
        parts = [] if not self.raters.filters else [self.raters.label]
        for name, values in zip(PROMPT_FILTERS, (self.languages, self.topics, self.splits), strict=True):
            if values:
                parts.append(f"prompt {name}={'|'.join(values)}")
        return " & ".join(parts) or "all ratings"

    def to_dict(self) -> dict[str, Any]:
        return {
            "raters": self.raters.to_dict(),
            "languages": list(self.languages),
            "topics": list(self.topics),
            "splits": list(self.splits),
        }

    def ratings_sql(self, dataset_id: str, dimensions: list[str] | None = None) -> tuple[str, list[Any]]:
        """A SELECT of the kept ratings (``rater_id, response_id, dimension, score``) and its parameters.

        Without prompt filters no join is made, so the common case stays a plain scan of ``ratings``.
        """
        condition, params = self.raters.where_sql(dataset_id, "g.rater_id")
        clauses = ["g.dataset_id = ?", condition]
        all_params: list[Any] = [dataset_id, *params]
        if dimensions:
            clauses.append(f"g.dimension IN ({', '.join('?' for _ in dimensions)})")
            all_params.extend(dimensions)
        if self.prompt_filtered:
            prompt_clauses = ["s.dataset_id = ?", "p.dataset_id = ?"]
            prompt_params: list[Any] = [dataset_id, dataset_id]
            for column, values in zip(
                PROMPT_FILTERS, (self.languages, self.topics, self.splits), strict=True
            ):
                if values:
                    prompt_clauses.append(f"p.{column} IN ({', '.join('?' for _ in values)})")
                    prompt_params.extend(values)
            clauses.append(
                "g.response_id IN (SELECT s.response_id FROM responses s JOIN prompts p "
                f"ON s.prompt_id = p.prompt_id WHERE {' AND '.join(prompt_clauses)})"
            )
            all_params.extend(prompt_params)
        sql = (
            "SELECT g.rater_id, g.response_id, g.dimension, g.score FROM ratings g "
            f"WHERE {' AND '.join(clauses)}"
        )
        return sql, all_params
