"""JSON text that every JSON parser reads.

Python's ``json`` writes a float that is not finite as the bare words ``NaN``, ``Infinity``
and ``-Infinity``, which JSON (RFC 8259, section 6) does not have: JavaScript's
``JSON.parse``, Go, Java and R's strict parsers stop at them. Text written for other
people's tools goes through :func:`dumps` (or :func:`strict_text`): a number that is not
finite is written as ``null``, JSON's "no value".
"""

from __future__ import annotations

import json
import math
from typing import Any


def finite(value: Any) -> Any:
    """``value`` with every float that is not finite (NaN, +-inf), however deeply nested in
    dicts, lists and tuples, replaced by None (JSON ``null``); everything else as it is."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def dumps(value: Any, **options: Any) -> str:
    """``json.dumps`` of ``value`` as strict JSON (see :func:`finite`); ``options`` are
    ``json.dumps``'s (``default``, ``indent`` ...)."""
    return json.dumps(finite(value), allow_nan=False, **options)


def strict_text(text: str) -> str:
    """``text`` unchanged, unless it is a JSON object or list holding a number that is not
    finite: then the same JSON with ``null`` in its place (:func:`dumps`)."""
    if not text.lstrip().startswith(("{", "[")):
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:
        return dumps(value)
    return text
