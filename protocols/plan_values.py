"""Types of a measurement plan's values, checked from the plan's own field annotations.

A plan is a frozen dataclass whose fields say what they hold (``int``, ``float``, ``bool``,
``tuple[int, ...]`` ...). Python does not enforce them, and a value of the wrong type slips
past range checks (``2.0 == 2``, ``True == 1``) to fail later, after a run file was made
(a count used as a repeat, a plan stored as text). :func:`check_plan_types` refuses such
values before anything is applied. numpy scalars and arrays of the right kind are fine:
:func:`make_plain` turns them into the Python numbers and tuples a run file stores.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any

import numpy as np

from mtj_hil.protocols.errors import SettingRefused

_WHOLE = {"int", "tuple[int, ...]", "tuple[int, ...] | None"}
"""Annotations whose values (or items) must be whole numbers."""
_REAL = {"float", "float | None", "tuple[float, ...]"}
"""Annotations whose values (or items) must be real numbers."""
_FLAG = {"bool"}
"""Annotations whose values must be True or False."""
_REAL_OR_WORD = {"float | Literal['auto'] | None": ("auto",)}
"""Annotations whose values must be real numbers, None or one of the words listed."""
_TRIPLES = {"tuple[tuple[int, int, int], ...]"}
"""Annotations whose values must be sequences of three whole numbers each."""
_PULSE = {"Pulse | None"}
"""Annotations whose values must be None or have a real ``amplitude`` (V) and ``width`` (s)."""


def make_plain(plan: Any) -> None:
    """Turn the plan's numpy scalars and arrays (and lists) into Python numbers and tuples,
    in place (for a frozen dataclass's ``__post_init__``); values of other types are left
    for :func:`check_plan_types` to refuse."""
    for f in dataclasses.fields(plan):
        value = getattr(plan, f.name)
        if isinstance(value, np.generic | np.ndarray | list | tuple):
            object.__setattr__(plan, f.name, _plain(value))


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars as Python ones and sequences as tuples."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return tuple(_plain(v) for v in value)
    return value


def is_whole(value: Any) -> bool:
    """Whether ``value`` is an integer (Python or numpy), not a bool or a float."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """Whether ``value`` is a real number (int or float, Python or numpy), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_plan_types(plan: Any) -> None:
    """Refuse a value whose type is not the one its field is annotated with.

    Raises:
        SettingRefused: naming the field, what it must be and what it got.
    """
    for f in dataclasses.fields(plan):
        value = getattr(plan, f.name)
        if value is None and f.type.endswith("| None"):
            continue
        many = f.type.startswith("tuple")
        if f.type in _WHOLE:
            _check(f.name, value, is_whole, "integers" if many else "an integer", many)
        elif f.type in _REAL:
            _check(f.name, value, is_real, "numbers" if many else "a number", many)
        elif f.type in _FLAG and not isinstance(value, bool | np.bool_):
            raise SettingRefused(f.name, f"{f.name} must be True or False, got {value!r}")
        elif f.type in _REAL_OR_WORD and not (
            is_real(value) or (isinstance(value, str) and value in _REAL_OR_WORD[f.type])
        ):
            words = " or ".join(repr(w) for w in _REAL_OR_WORD[f.type])
            raise SettingRefused(f.name, f"{f.name} must be a number or {words}, got {value!r}")
        elif f.type in _TRIPLES:
            for item in _items(f.name, value, "(array, row, col) triples"):
                if isinstance(item, str | bytes) or not hasattr(item, "__iter__"):
                    raise SettingRefused(
                        f.name, f"{f.name} must hold (array, row, col) triples, got {item!r}"
                    )
                if len(item := tuple(item)) != 3 or not all(is_whole(x) for x in item):
                    raise SettingRefused(
                        f.name,
                        f"{f.name} must hold (array, row, col) triples of integers, got {item!r}",
                    )
        elif f.type in _PULSE and not (
            is_real(getattr(value, "amplitude", None)) and is_real(getattr(value, "width", None))
        ):
            raise SettingRefused(
                f.name, f"{f.name} must be a Pulse(amplitude V, width s) of numbers, got {value!r}"
            )


def _check(name: str, value: Any, ok: Any, what: str, many: bool) -> None:
    """Refuse ``value`` (one, or with ``many`` a sequence of them) unless ``ok``."""
    items = _items(name, value, what) if many else [value]
    bad = [v for v in items if not ok(v)]
    if bad:
        raise SettingRefused(name, f"{name} must be {what}, got {bad[0]!r}")


def _items(name: str, value: Any, what: str) -> list[Any]:
    """The items of a sequence value, refusing text and non-sequences."""
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise SettingRefused(name, f"{name} must be a sequence of {what}, got {value!r}")
    return list(value)
