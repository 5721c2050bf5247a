"""Errors and warnings of the calibration package."""

from __future__ import annotations

from mtj_hil.errors import ConfigError, StoreError


class CalibrationError(Exception):
    """A calibration could not be made or used; the message names the part at fault.

    Raised by a procedure before anything is recorded, so the previous calibration stays in
    force; raised when selecting a record under ``strict`` where a warning would otherwise
    be given.
    """


class RecordWriteError(CalibrationError, StoreError):
    """A calibration record could not be written (full disk, read-only file system, ...);
    the message names the file and the cause. Nothing of the record is left behind. A
    :class:`~mtj_hil.errors.StoreError` too, so ``mtj-hil`` exits with 4 (a file problem)."""


class RecordFileError(CalibrationError, ConfigError):
    """A calibration record file is unreadable or malformed (unknown or missing key, wrong
    type): a configuration error (exit code 3) that is also a :class:`CalibrationError`, so
    listing a folder skips the file with a warning."""


class CalibrationWarning(UserWarning):
    """A calibration record is applied although it is stale or from other instruments, or
    none could be found."""
