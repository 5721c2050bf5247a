"""Schemas of the files people write: typed fields, ranges, allowed keys, declared once.

A :class:`FileSchema` is a list of :class:`Section`\\ s, each a list of :class:`Field`\\ s.
:func:`check_section` validates one TOML table against its section: unknown keys (with the
closest allowed key), wrong types, values out of range or not among the choices each raise
one error naming the file, the key and what is allowed. The same objects render the file
formats' documentation (:mod:`mtj_hil.schema.markdown`) and the effective settings with
where each came from (:func:`settings`).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mtj_hil.errors import ConfigError


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""Default of a field that must be given."""

KINDS = ("int", "float", "bool", "str", "int list", "float list", "str list", "table", "any")
"""Value types a field may declare (TOML: integer, float or integer, boolean, string,
arrays of them, an inline table, or anything its own ``check`` accepts)."""


@dataclass(frozen=True)
class Field:
    """One key of a section.

    Attributes:
        name: the key.
        kind: one of :data:`KINDS`.
        doc: what it means (one sentence, units named in ``unit``).
        default: the value when the key is absent (:data:`REQUIRED`: it must be given).
        unit: SI unit of a number (``"V"``, ``"A"``, ``"s"``, ...), empty if none.
        lo, hi: inclusive bounds of a number (of every item of a list), None = open.
        lo_open, hi_open: make ``lo`` / ``hi`` exclusive.
        choices: the only values allowed (strings or numbers), empty = any.
        also: values accepted besides the declared kind (e.g. ``"auto"``).
        check: ``check(value) -> problem or None`` for what a range cannot say.
        allowed: how ``check`` describes what is allowed (for messages and docs).
        nonempty: a list must hold at least one item.
        distinct: a list must not hold an item twice (each is measured or used once).
        finite: a number must be finite (set False where nan / inf mean "not known").
    """

    name: str
    kind: str
    doc: str
    default: Any = REQUIRED
    unit: str = ""
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[Any, ...] = ()
    also: tuple[Any, ...] = ()
    check: Callable[[Any], str | None] | None = None
    allowed: str = ""
    nonempty: bool = False
    finite: bool = True
    distinct: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"field {self.name}: kind {self.kind!r} is not one of {KINDS}")

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def describe(self) -> str:
        """What the field allows, in words (``a number in (0, 3] A``)."""
        if self.allowed:
            return self.allowed
        if self.choices:
            text = "one of " + ", ".join(_show(c) for c in self.choices)
        else:
            text = {
                "int": "an integer",
                "float": "a number",
                "bool": "true or false",
                "str": "a string",
                "int list": "a list of integers",
                "float list": "a list of numbers",
                "str list": "a list of strings",
                "table": "a table",
                "any": "a value",
            }[self.kind]
            text += _range_text(self)
            if self.distinct:
                text += ", each once"
        if self.also:
            text = " or ".join(_show(a) for a in self.also) + " or " + text
        return text


def _show(value: Any) -> str:
    return (
        f'"{value}"'
        if isinstance(value, str)
        else f"{value:g}"
        if isinstance(value, float)
        else str(value)
    )


def _range_text(f: Field) -> str:
    unit = f" {f.unit}" if f.unit else ""
    if f.lo is not None and f.hi is not None:
        left, right = "(" if f.lo_open else "[", ")" if f.hi_open else "]"
        return f" in {left}{f.lo:g}, {f.hi:g}{right}{unit}"
    if f.lo is not None:
        return f" {'>' if f.lo_open else '>='} {f.lo:g}{unit}"
    if f.hi is not None:
        return f" {'<' if f.hi_open else '<='} {f.hi:g}{unit}"
    return f" ({f.unit})" if f.unit else ""


@dataclass(frozen=True)
class Section:
    """One table of a file.

    Attributes:
        name: how messages and docs name it: ``"station"``, ``"smu.<name>"``, ``"task"``;
            empty for the file's top-level keys.
        doc: what it is for.
        fields: its keys.
        required: the file must have it.
        named: the file holds a table of such sections, one per user-chosen name
            (``[smu.sense]``, ``[smu.drive]``).
        many: an array of tables (``[[task]]``).
        title: how the documentation heads it, when not by its name (e.g.
            ``[[task]] with kind = "switching"``).
    """

    name: str
    doc: str
    fields: tuple[Field, ...]
    required: bool = True
    named: bool = False
    many: bool = False
    title: str = ""

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def header(self) -> str:
        """``[station]``, ``[smu.<name>]``, ``[[task]]`` or ``top level``."""
        if not self.name:
            return "top level"
        return f"[[{self.name}]]" if self.many else f"[{self.name}]"


@dataclass(frozen=True)
class FileSchema:
    """A file kind: its sections in order (the top-level keys as the section named "")."""

    kind: str
    doc: str
    sections: tuple[Section, ...]
    error: type[Exception] = ConfigError

    def section(self, name: str) -> Section:
        return next(s for s in self.sections if s.name == name)

    def top_names(self) -> tuple[str, ...]:
        """Every name allowed at the top level: top-level keys and section heads."""
        names: list[str] = []
        for s in self.sections:
            if not s.name:
                names += s.keys
            else:
                head = s.name.split(".")[0]
                if head not in names:
                    names.append(head)
        return tuple(names)


def closest(key: str, allowed: Iterable[str]) -> str | None:
    """The allowed key most like ``key`` (difflib), or None when none is alike at all."""
    allowed = list(allowed)
    match = difflib.get_close_matches(key, allowed, n=1, cutoff=0.5)
    if match:
        return match[0]
    lowered = {a.lower(): a for a in allowed}
    match = difflib.get_close_matches(key.lower(), list(lowered), n=1, cutoff=0.4)
    return lowered[match[0]] if match else None


def unknown_key_message(src: str, where: str, key: str, header: str, allowed: Iterable[str]) -> str:
    """``FILE: where.key is not a key of [section]; closest match: k; allowed: ...``."""
    allowed = list(allowed)
    near = closest(str(key), allowed)
    hint = f"; closest match: {near}" if near else ""
    dotted = f"{where}.{key}" if where else str(key)
    return (
        f"{src}: {dotted} is not a key of {header}{hint}; allowed: "
        f"{', '.join(allowed) if allowed else '(none)'}"
    )


def check_unknown(
    raw: Mapping[str, Any],
    allowed: Iterable[str],
    src: str,
    where: str,
    header: str,
    error: type[Exception] = ConfigError,
) -> None:
    """Raise ``error`` for the first key of ``raw`` not in ``allowed`` (closest match named)."""
    allowed = list(allowed)
    for key in raw:
        if key not in allowed:
            raise error(unknown_key_message(src, where, key, header, allowed))


def check_value(f: Field, value: Any) -> tuple[Any, str | None]:
    """``(value as used, None)`` or ``(value, problem)`` for one field's value."""
    if f.also and any(value == a and type(value) is type(a) for a in f.also):
        return value, None
    if f.kind == "any":
        problem = f.check(value) if f.check else None
        return value, problem
    if f.kind in ("int list", "float list", "str list"):
        if not isinstance(value, list):
            return value, f"must be {f.describe()}, got {value!r}"
        if f.nonempty and not value:
            return value, f"must not be empty; allowed: {f.describe()}"
        out = []
        item = dataclasses.replace(f, kind=f.kind.split()[0], check=None, also=(), allowed="")
        for v in value:
            used, problem = check_value(item, v)
            if problem:
                return value, f"holds {v!r}: must be {f.describe()}"
            out.append(used)
        if f.distinct:
            twice = next((v for i, v in enumerate(out) if v in out[:i]), None)
            if twice is not None:
                return value, f"holds {twice!r} twice: must be {f.describe()}"
        value = out
    else:
        value, problem = _scalar(f, value)
        if problem:
            return value, problem
    if f.check is not None:
        problem = f.check(value)
        if problem:
            return value, problem
    return value, None


def checked(f: Field, value: Any, label: str | None = None) -> Any:
    """``value`` as ``f`` takes it (an integer given as ``3.0`` or a numpy integer becomes
    ``3``), for settings given in code rather than in a file (e.g. a spec dataclass).

    Raises:
        ConfigError: ``"<label> <problem>"`` (``label`` defaults to the field's name), saying
            what is allowed.
    """
    used, problem = check_value(f, _plain(value))
    if problem:
        raise ConfigError(f"{label or f.name} {problem}")
    return used


def _plain(value: Any) -> Any:
    """Integers of other types (numpy's) as Python ints, also in a list."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, numbers.Integral) and not isinstance(value, bool | int):
        return int(value)
    return value


def _scalar(f: Field, value: Any) -> tuple[Any, str | None]:
    wrong = f"must be {f.describe()}, got {value!r}"
    if f.kind == "bool":
        return value, None if isinstance(value, bool) else wrong
    if f.kind == "str":
        if not isinstance(value, str):
            return value, wrong
    elif f.kind == "table":
        return value, None if isinstance(value, dict) else wrong
    elif f.kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return value, wrong
        given = value  # an int field's value as written (1e+26), for the message
        if f.kind == "int":
            if isinstance(value, float) and not (math.isfinite(value) and value == int(value)):
                return value, wrong
            value = int(value)
        else:
            if f.finite and not math.isfinite(value):
                return value, wrong
            value = given = float(value)
        if not _in_range(f, value):
            return value, f"= {given!r} is out of range; allowed: {f.describe()}"
    if f.choices and value not in f.choices:
        return value, f"= {value!r} is not allowed; allowed: {', '.join(map(str, f.choices))}"
    return value, None


def _in_range(f: Field, v: float) -> bool:
    if f.lo is not None and (v <= f.lo if f.lo_open else v < f.lo):
        return False
    return not (f.hi is not None and (v >= f.hi if f.hi_open else v > f.hi))


def check_section(
    raw: Any,
    section: Section,
    src: str,
    where: str | None = None,
    error: type[Exception] = ConfigError,
    header: str | None = None,
) -> dict[str, Any]:
    """Validate one table against ``section``; every field's value (defaults filled in).

    ``where`` is the dotted name messages use for the table (default: the section's name,
    e.g. ``smu.sense`` for a named section, ``task[2]`` for an array item); ``header`` how
    they name the section (default ``[where]``).

    Raises:
        error: not a table, an unknown key (closest match named), a missing required key,
            a wrong type or a value out of range, each naming ``src`` and the key.
    """
    where = section.name if where is None else where
    header = header or (f"[{where}]" if where else section.header())
    if not isinstance(raw, dict):
        raise error(f"{src}: {header} must be a table, got {raw!r}")
    check_unknown(raw, section.keys, src, where, header, error)
    out: dict[str, Any] = {}
    for f in section.fields:
        key = f"{where}.{f.name}" if where else f.name
        if f.name not in raw:
            if f.required:
                raise error(f"{src}: {key} is missing; allowed: {f.describe()} ({f.doc})")
            out[f.name] = f.default
            continue
        value, problem = check_value(f, raw[f.name])
        if problem:
            raise error(f"{src}: {key} {problem}")
        out[f.name] = value
    return out


def check_top(data: Mapping[str, Any], schema: FileSchema, src: str) -> None:
    """Refuse top-level keys and sections the file kind does not have.

    Raises:
        schema.error: naming the key and the closest allowed name.
    """
    allowed = schema.top_names()
    for key in data:
        if key not in allowed:
            near = closest(str(key), allowed)
            hint = f"; closest match: {near}" if near else ""
            raise schema.error(
                f"{src}: {key} is neither a section nor a key of a {schema.kind}{hint}; "
                f"allowed: {', '.join(allowed)}"
            )


def settings(raw: Any, section: Section, where: str | None = None) -> list[tuple[str, Any, str]]:
    """``(dotted key, value, "file" or "default")`` for every field of one table."""
    where = section.name if where is None else where
    raw = raw if isinstance(raw, dict) else {}
    out = []
    for f in section.fields:
        key = f"{where}.{f.name}" if where else f.name
        if f.name in raw:
            out.append((key, raw[f.name], "file"))
        else:
            out.append((key, None if f.required else f.default, "default"))
    return out


def with_defaults(
    cls: type, fields: Iterable[Field], skip: Iterable[str] = ()
) -> tuple[Field, ...]:
    """``fields`` with each one's default taken from the dataclass ``cls`` (its declaration
    stays the one source of defaults); checks the fields and the dataclass match.

    Raises:
        ValueError: a field the dataclass lacks, or a dataclass field without a schema field.
    """
    declared = {f.name: f for f in dataclasses.fields(cls)}
    out = []
    for f in fields:
        if f.name not in declared:
            raise ValueError(f"{cls.__name__} has no field {f.name!r}")
        d = declared[f.name]
        if d.default is not dataclasses.MISSING:
            f = dataclasses.replace(f, default=d.default)
        elif d.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            f = dataclasses.replace(f, default=d.default_factory())  # type: ignore[misc]
        out.append(f)
    missing = set(declared) - {f.name for f in out} - set(skip)
    if missing:
        raise ValueError(f"{cls.__name__} fields without a schema field: {sorted(missing)}")
    return tuple(out)
