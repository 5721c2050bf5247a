"""Exceptions raised by the training package."""

from __future__ import annotations


class TrainingError(RuntimeError):
    """Training, placement or evaluation could not do what was asked.

    Raised for example when a network does not fit on a die, when a die model and a
    placement disagree in shape, or when a training configuration is invalid.
    """


class DatasetError(TrainingError, ValueError):
    """A data set is unusable: NaN values, labels out of range, mismatched shapes,
    or missing / malformed files."""
