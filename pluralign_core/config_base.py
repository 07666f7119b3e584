"""The one base of pluralign's config dataclasses: typed YAML in and out, CLI flags and forms from metadata.

Every config (run, evaluation, import spec, …) is a dataclass on :class:`YamlConfig` whose fields carry
``metadata={"help": ..., "choices": ..., "group": ...}``. From that single declaration the base

* reads a mapping (a YAML file, a form, command-line flags) into the dataclass **with real types**:
  ``learning_rate: 1e-5`` (a *string* to PyYAML) becomes a float, ``lora_r: '8'`` an int,
  ``gradient_checkpointing: 'no'`` False, nested dataclasses and ``dict[str, int]`` are built, and a key
  the dataclass does not declare is refused by name;
* turns every problem into one line that a user can act on —
  ``run.yaml: lora_r: expected int, got 'eight' (Input should be a valid integer, …)`` — raised as
  :class:`ConfigError` (a ``ValueError``), which the CLI prints with exit code 2 and the pages show;
* adds one ``--flag`` per field to an ``argparse`` parser and describes the fields for a page's form.

Why pydantic and not ``transformers.HfArgumentParser`` (checked against the installed 5.x source):
``HfArgumentParser.parse_dict``/``parse_yaml_file`` call ``dtype(**inputs)`` without converting anything, so
``"1e-5"`` stays a string; only its argparse path converts, and that path passes ``field.metadata`` verbatim
to ``add_argument`` (our ``group``/``widget`` keys would be rejected) and maps ``list[DimensionSpec]`` or
``dict[str, int]`` to nonsense argument types. pydantic's ``TypeAdapter`` validates a *stdlib* dataclass in
lax mode, honours ``extra="forbid"`` at every nesting level, runs ``__post_init__`` after the fields are
converted (so the configs' cross-field rules still apply) and reports each problem with its location and the
expected type. The CLI flags therefore stay plain strings and go through the very same validation as a YAML
file, so a flag and a YAML key are converted, and rejected, identically.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import functools
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Self

import yaml
from pydantic import BeforeValidator, ConfigDict, TypeAdapter, ValidationError


def _split_commas(value: Any) -> Any:
    return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value


TextList = Annotated[list[str], BeforeValidator(_split_commas)]
"""A list of strings that a YAML file or form may also give as one comma-separated string (``en, de``)."""


class ConfigError(ValueError):
    """A config that cannot be built; ``str()`` is one line: ``<source>: <key>: <what is wrong>``."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        details = "; ".join(f"{key}: {message}" if key else message for key, message in problems)
        super().__init__(f"{source}: {details}")


def _strip_annotated(annotation: Any) -> Any:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _without_none(annotation: Any) -> Any:
    """``X | None`` → ``X`` (a YAML ``null`` is allowed, but the value's kind is what a widget needs)."""
    annotation = _strip_annotated(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _strip_annotated(members[0])
    return annotation


def type_name(annotation: Any) -> str:
    """``list[str]``, ``str | None``, ``DimensionSpec``: a type as a user reads it in an error message."""
    annotation = _strip_annotated(annotation)
    if annotation is type(None):
        return "None"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is not None:
        return f"{getattr(origin, '__name__', origin)}[{', '.join(type_name(a) for a in args)}]"
    return getattr(annotation, "__name__", str(annotation))


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


@functools.cache
def _adapter(cls: type) -> TypeAdapter:
    return TypeAdapter(cls)


def _follow(cls: type, loc: tuple[Any, ...]) -> tuple[type, Any, list[str]]:
    """Walk a pydantic error location through the annotations: (owning dataclass, annotation, key path)."""
    owner, annotation, path = cls, cls, []
    for index, part in enumerate(loc):
        current = _without_none(annotation)
        origin = typing.get_origin(current)
        if dataclasses.is_dataclass(current) and isinstance(part, str):
            owner, annotation = current, _hints(current).get(part)
            path.append(f".{part}")
        elif origin is list and isinstance(part, int):
            annotation = typing.get_args(current)[0]
            path.append(f"[{part}]")
        elif origin is dict and part != "[key]":
            is_key = index + 1 < len(loc) and loc[index + 1] == "[key]"
            annotation = typing.get_args(current)[0 if is_key else 1]
            path.append(f".{part}")
        elif part != "[key]":
            path.append(f".{part}")
            annotation = None
    return owner, annotation, path


def _kind(owner: type) -> str:
    return getattr(owner, "CONFIG_KIND", None) or owner.__name__


def _unknown_keys(owner: type, keys: list[str]) -> str:
    known = [f.name for f in dataclasses.fields(owner)]
    close = {k: match[0] for k in keys if (match := difflib.get_close_matches(k, known, n=1))}
    if len(keys) == 1:
        hint = f" (did you mean {close[keys[0]]!r}?)" if close else ""
        return f"unknown {_kind(owner)} field{hint}; known fields: {', '.join(known)}"
    hint = f" (did you mean {', '.join(f'{k!r} → {v!r}' for k, v in close.items())}?)" if close else ""
    named = ", ".join(repr(k) for k in keys)
    return f"unknown {_kind(owner)} fields {named}{hint}; known fields: {', '.join(known)}"


def _problems(cls: type, errors: list[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """pydantic's errors as (``dimensions[0].name``, what is wrong and what was expected), one per key.

    Unknown keys of one mapping are named together, so the known fields are listed once.
    """
    problems: dict[str, str] = {}
    unknown: dict[str, tuple[type, list[str]]] = {}
    for error in errors:
        owner, annotation, path = _follow(cls, tuple(error["loc"]))
        key = "".join(path).lstrip(".")
        kind = error["type"]
        if kind == "unexpected_keyword_argument":
            parent = "".join(path[:-1]).lstrip(".")
            unknown.setdefault(parent, (owner, []))[1].append(str(error["loc"][-1]))
            problems.setdefault(f"\0{parent}", "")  # holds the place; filled in below
        elif kind in ("missing_argument", "missing"):
            expected = type_name(annotation)
            problems.setdefault(key, f"missing; this required {_kind(owner)} field expects {expected}")
        elif kind == "value_error" and "error" in error.get("ctx", {}):
            problems.setdefault(key, str(error["ctx"]["error"]))
        else:
            shown = repr(error.get("input"))
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            expected = type_name(annotation) if annotation is not None else "a different value"
            problems.setdefault(key, f"expected {expected}, got {shown} ({error['msg']})")
    described = []
    for key, message in problems.items():
        if key.startswith("\0"):
            owner, keys = unknown[key[1:]]
            key = ".".join(filter(None, [key[1:], keys[0]])) if len(keys) == 1 else key[1:]
            message = _unknown_keys(owner, keys)
        described.append((key, message))
    return described


def _parse_yaml(text: str, source: str) -> dict[str, Any]:
    """YAML text as a mapping; a syntax error or a non-mapping is one :class:`ConfigError` line."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(source, [("", f"not valid YAML: {problem}{where}")]) from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        found = type(data).__name__
        raise ConfigError(source, [("", f"expected a mapping of field: value at the top, got a {found}")])
    return data


def _read_yaml_file(path: Path | str) -> tuple[dict[str, Any], str]:
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such config file")
    return _parse_yaml(Path(path).read_text(encoding="utf-8"), str(path)), str(path)


@dataclasses.dataclass(frozen=True)
class FormField:
    """What a page needs to render one config field as a widget (no Streamlit here: the core has no UI)."""

    name: str
    kind: str
    """``choice``, ``bool``, ``int``, ``float``, ``list`` or ``text``: which widget fits the field's type."""
    default: Any
    help: str | None
    choices: tuple[Any, ...]
    group: str | None
    widget: str | None

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")


def _form_kind(annotation: Any, choices: tuple[Any, ...]) -> str:
    if choices:
        return "choice"
    plain = _without_none(annotation)
    if plain in (bool, int, float):
        return plain.__name__
    return "list" if typing.get_origin(plain) is list else "text"


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


class YamlConfig:
    """Base of a config dataclass: typed ``from_dict``/``from_yaml``, ``to_dict``/``to_yaml``, flags, forms.

    ``CONFIG_KIND`` is how error messages call the config ("unknown run config field").
    """

    CONFIG_KIND: ClassVar[str] = "config"
    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> Self:
        """Build the config from a mapping, converting values to the declared field types.

        ``source`` (a file name, "Train form", …) starts the one-line :class:`ConfigError`; it defaults to
        ``CONFIG_KIND``. Errors raised by ``__post_init__`` (cross-field rules) are reported the same way.
        """
        source = source or cls.CONFIG_KIND
        if not isinstance(data, Mapping):
            found = type(data).__name__
            raise ConfigError(source, [("", f"expected a mapping of field: value, got a {found}")])
        try:
            return _adapter(cls).validate_python(dict(data))
        except ValidationError as error:
            raise ConfigError(source, _problems(cls, error.errors())) from None

    @classmethod
    def from_yaml(cls, path_or_text: Path | str) -> Self:
        """Read a ``.yaml`` file (a Path, or a one-line name ending in .yaml/.yml), else YAML text."""
        text = str(path_or_text)
        if isinstance(path_or_text, Path) or ("\n" not in text and text.endswith((".yaml", ".yml"))):
            data, source = _read_yaml_file(path_or_text)
            return cls.from_dict(data, source=source)
        return cls.from_yaml_text(text)

    @classmethod
    def from_yaml_text(cls, text: str, source: str = "YAML text") -> Self:
        """Read YAML text (an upload, an edited config); ``source`` names it in errors."""
        return cls.from_dict(_parse_yaml(text, source), source=source)

    def to_yaml(self, path: Path | str | None = None) -> str:
        """The config as YAML text (field order kept); also written to ``path`` when given."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    # ------------------------------------------------------------------ forms
    @classmethod
    def form_fields(cls) -> dict[str, FormField]:
        """The fields a form shows (all but ``metadata={"ui": False}``), in declaration order."""
        hints = _hints(cls)
        described = {}
        for field in dataclasses.fields(cls):  # type: ignore[arg-type]
            if not field.metadata.get("ui", True):
                continue
            choices = tuple(field.metadata.get("choices", ()))
            described[field.name] = FormField(
                name=field.name,
                kind=_form_kind(hints[field.name], choices),
                default=_default(field),
                help=field.metadata.get("help"),
                choices=choices,
                group=field.metadata.get("group"),
                widget=field.metadata.get("widget"),
            )
        return described

    @classmethod
    def template_yaml(cls) -> str:
        """Every field with its default as YAML (``null`` where one is required): a config to edit by hand."""
        defaults = {f.name: _default(f) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        filled = {name: None if value is dataclasses.MISSING else value for name, value in defaults.items()}
        return yaml.safe_dump(filled, sort_keys=False, allow_unicode=True)

    # ------------------------------------------------------------------ command line
    @classmethod
    def flag_fields(cls) -> list[dataclasses.Field]:
        """Fields a flag can set: scalars and lists of scalars (nested specs and mappings need a YAML)."""
        scalars = (str, int, float, bool)
        flags = []
        for field in dataclasses.fields(cls):  # type: ignore[arg-type]
            plain = _without_none(_hints(cls)[field.name])
            is_list = typing.get_origin(plain) is list
            if plain in scalars or (is_list and _without_none(typing.get_args(plain)[0]) in scalars):
                flags.append(field)
        return flags

    @classmethod
    def add_flags(cls, parser: argparse.ArgumentParser, *, skip: Iterable[str] = ()) -> None:
        """One ``--field-name`` (alias ``--field_name``; ``--no-field-name`` for a bool) per flag field.

        Flags are read as text and converted by :meth:`from_flags` through the same validation as a YAML
        file; an absent flag stays ``None`` so that it does not override the YAML.
        """
        group = parser.add_argument_group(f"{cls.CONFIG_KIND} fields (override the YAML)")
        hints = _hints(cls)
        for field in cls.flag_fields():
            if field.name in skip:
                continue
            plain = _without_none(hints[field.name])
            names = [f"--{field.name.replace('_', '-')}"]
            names += [f"--{field.name}"] if "_" in field.name and plain is not bool else []
            default = _default(field)
            shown = "required" if default is dataclasses.MISSING else f"default: {default!r}"
            help_text = f"{field.metadata.get('help', '')} ({shown})".replace("%", "%%").strip()
            options: dict[str, Any] = {"dest": field.name, "default": None, "help": help_text}
            if plain is bool:
                options["action"] = argparse.BooleanOptionalAction
            else:
                options["metavar"] = type_name(plain).upper()
                if typing.get_origin(plain) is list:
                    options.update(nargs="+", metavar=type_name(typing.get_args(plain)[0]).upper())
                if "choices" in field.metadata:
                    options.update(choices=[str(c) for c in field.metadata["choices"]], metavar=None)
            group.add_argument(*names, **options)

    @classmethod
    def from_flags(cls, args: argparse.Namespace, yaml_path: Path | str | None = None) -> Self:
        """The config from a YAML file (optional) with the flags given on the command line on top."""
        data, source = _read_yaml_file(yaml_path) if yaml_path is not None else ({}, "")
        given = {f.name: getattr(args, f.name, None) for f in cls.flag_fields()}
        flags = {name: value for name, value in given.items() if value is not None}
        if flags:
            source = f"{source} + command-line flags" if source else "command-line flags"
        return cls.from_dict({**data, **flags}, source=source or None)
