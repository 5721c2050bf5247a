"""What the values of a run file's root attributes must be: the format marker, texts that
UTF-8 can carry, a format version that is a whole number."""

from __future__ import annotations

import numbers
from typing import Any

FORMAT = "mtj-hil-run"
"""The root ``format`` attribute of every run file."""


def is_run_format(value: Any) -> bool:
    """Whether a root ``format`` attribute says "mtj-hil run file" (whatever its type: an
    array there is not compared element by element)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return isinstance(value, str) and value == FORMAT


def is_text(value: Any) -> bool:
    """Whether an attribute's value is a text that UTF-8 can carry (h5py gives bytes for a
    fixed-length string; undecodable bytes become surrogates no writer can encode)."""
    try:
        if isinstance(value, bytes):
            value.decode("utf-8")
        elif isinstance(value, str):
            value.encode("utf-8")
        else:
            return False
    except UnicodeError:
        return False
    return True


def format_version_of(value: Any) -> int | None:
    """A ``format_version`` attribute as the whole number >= 0 it must be (numpy integers,
    and floats such as ``1.0`` as older writers may store them), else None (``1.5``, ``-1``,
    text, an array)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    if value != int(value) or value < 0:
        return None
    return int(value)
