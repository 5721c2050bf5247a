"""Errors and warnings of the calibration package."""

from __future__ import annotations


class CalibrationError(Exception):
    """A calibration could not be made or used; the message names the part at fault.

    Raised by a procedure before anything is recorded, so the previous calibration stays in
    force; raised when selecting a record under ``strict`` where a warning would otherwise
    be given.
    """


class CalibrationWarning(UserWarning):
    """A calibration record is applied although it is stale or from other instruments, or
    none could be found."""
