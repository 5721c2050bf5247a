"""Exceptions raised by the application layer (configuration, run files)."""

from __future__ import annotations


class ConfigError(ValueError):
    """A profile, station file or command option is malformed or out of range.

    The message names the file (if any), the key and what is allowed.
    """


class StoreError(RuntimeError):
    """A run file cannot be created, opened, resumed or read (foreign, damaged, exists)."""
