"""Exceptions raised by the application layer (configuration, run files), and the wording
of counts in the messages that report them."""

from __future__ import annotations


class ConfigError(ValueError):
    """A profile, station file or command option is malformed or out of range.

    The message names the file (if any), the key and what is allowed.
    """


class StoreError(RuntimeError):
    """A run file cannot be created, opened, resumed or read (foreign, damaged, exists)."""


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun`` as a message says them: ``"1 run"``, ``"3 runs"``, ``"0 runs"``.

    ``plural`` is the plural form when it is not ``noun + "s"``."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
