"""Exceptions raised by the instrument layer."""

from __future__ import annotations


class InstrumentError(RuntimeError):
    """An instrument did not do what it was asked: no answer, an error reply, a bad reading."""


class InstrumentTimeout(InstrumentError):
    """An instrument did not answer within the allowed time (after any retries)."""


class SafetyViolation(ValueError):
    """A voltage, current, pulse or address outside the safety envelope was requested.

    Raised before anything is sent to an instrument; the message names the quantity, the
    requested value and the allowed range.
    """


class InstrumentStateLost(InstrumentError):
    """An instrument left the state a run relies on while the run was going: it was reset or
    power-cycled, its output dropped (an interlock or over-temperature trip), a setting
    changed, or another instrument now answers at its address. Readings taken since are not
    trusted; the message names what happened."""


class UnsafeShutdown(InstrumentError):
    """A shutdown that could not confirm the bench safe: the controller board did not
    confirm its lines at 0 V, or an SMU output was not confirmed off. The message says what
    was and was not confirmed and what to check by hand; ``during`` is the exception the
    shutdown followed (``None``: the work had finished)."""

    def __init__(self, message: str, during: BaseException | None = None) -> None:
        super().__init__(message)
        self.during = during
