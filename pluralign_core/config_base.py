"""Dict and YAML round trips shared by pluralign's config dataclasses (saved with every run)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar, Self

import yaml


class YamlConfig:
    """Mixin for a config dataclass: ``to_dict``, a strict ``from_dict`` and ``to_yaml``.

    ``from_dict`` refuses unknown keys (a typo in a hand-written YAML must not be silently ignored) and names
    the known ones; ``CONFIG_KIND`` is how its error message calls the config.
    """

    CONFIG_KIND: ClassVar[str] = "config"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown {cls.CONFIG_KIND} field(s) {unknown}; known fields: {sorted(known)}")
        return cls(**data)

    def to_yaml(self, path: Path | str | None = None) -> str:
        """The config as YAML text (field order kept); also written to ``path`` when given."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text
