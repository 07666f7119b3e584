"""Rater selection: which raters' ratings count, expressed as filters on demographic attributes.

One selection type serves the analysis filters, the preference builder and the group reward models, so
"women in the US arm" means the same thing everywhere. Filters combine with AND across attributes and
OR within one attribute's values; for a multi-valued attribute (race) a rater matches when *any* of
their values is listed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from pluralign_core.store.database import Store


@dataclass(frozen=True)
class RaterSelection:
    """A filter on rater attributes, e.g. ``RaterSelection({"gender": ("woman",), "country": ("US",)})``."""

    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        normalised = {}
        for attribute, values in self.filters.items():
            values = (values,) if isinstance(values, str) else tuple(str(v) for v in values)
            if not values:
                raise ValueError(f"filter on {attribute!r} lists no values; drop it to select everyone")
            normalised[str(attribute)] = values
        object.__setattr__(self, "filters", normalised)

    @classmethod
    def everyone(cls) -> RaterSelection:
        return cls({})

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RaterSelection:
        return cls(dict((data or {}).get("filters", data or {})))

    def to_dict(self) -> dict[str, Any]:
        return {"filters": {k: list(v) for k, v in asdict(self)["filters"].items()}}

    @property
    def label(self) -> str:
        """Short human-readable description, e.g. ``gender=woman & country=US``."""
        if not self.filters:
            return "all raters"
        return " & ".join(f"{a}={'|'.join(v)}" for a, v in self.filters.items())

    def where_sql(self, dataset_id: str, rater_column: str = "rater_id") -> tuple[str, list[Any]]:
        """A SQL condition (and its parameters) that keeps the selected raters of one dataset.

        The condition refers to ``rater_column`` of the surrounding query.
        """
        clauses, params = [], []
        for attribute, values in self.filters.items():
            placeholders = ", ".join("?" for _ in values)
            clauses.append(
                f"{rater_column} IN (SELECT rater_id FROM rater_attributes ra WHERE ra.dataset_id = ? "
                f"AND ra.attribute = ? AND ra.value IN ({placeholders}))"
            )
            params.extend([dataset_id, attribute, *values])
        return (" AND ".join(clauses) or "TRUE"), params

    def rater_ids(self, store: Store, dataset_id: str) -> pd.Series:
        """The ids of the selected raters of a dataset."""
        condition, params = self.where_sql(dataset_id)
        frame = store.query(
            f"SELECT rater_id FROM raters WHERE dataset_id = ? AND {condition} ORDER BY rater_id",
            [dataset_id, *params],
        )
        return frame.rater_id
