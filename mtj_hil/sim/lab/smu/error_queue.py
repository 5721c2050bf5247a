"""The error queue of a virtual SMU and the standard event bit each error sets."""

from __future__ import annotations

from collections import deque

__all__ = ["ErrorQueue", "event_bit"]


class ErrorQueue(deque[tuple[int, str]]):
    """The instrument's pending errors, oldest first; calling it returns a copy (a list)."""

    def __call__(self) -> list[tuple[int, str]]:
        return list(self)


def event_bit(code: int) -> int:
    """The standard event status bit (``*ESR?``) an error of ``code`` sets (IEEE 488.2
    11.5.1; SCPI-99 21.8): command errors (-100s) bit 5 CME, execution errors (-200s) bit 4
    EXE, device-specific errors (-300s) bit 3 DDE, query errors (-400s) bit 2 QYE. Of the
    instruments' own positive codes, the 2400's +800s are execution errors (User's Manual
    Table B-1: bit 4), the others device-dependent (bit 3); 0 sets none."""
    if -199 <= code <= -100:
        return 1 << 5
    if -299 <= code <= -200 or 800 <= code <= 899:
        return 1 << 4
    if -499 <= code <= -400:
        return 1 << 2
    return 1 << 3 if code else 0
