"""The defect classes, declared once: every classifier, store, report and model uses these."""

from __future__ import annotations

from enum import IntEnum


class DefectCode(IntEnum):
    """What a device is, as decided from its measured behaviour (stored as uint8)."""

    GOOD = 0
    SHORT = 1
    OPEN = 2
    STUCK_P = 3
    STUCK_AP = 4
    UNCERTAIN = 5
    """The evidence cannot settle the class (see ``DefectMap.best_guess`` and ``confidence``)."""


DEFECT_CLASSES = (
    DefectCode.GOOD,
    DefectCode.SHORT,
    DefectCode.OPEN,
    DefectCode.STUCK_P,
    DefectCode.STUCK_AP,
)
"""The classes a device can truly be, in the order of a posterior's last axis (UNCERTAIN is
a verdict, not a class)."""
DEFECTS = DEFECT_CLASSES[1:]
"""The defective classes: SHORT, OPEN, STUCK_P, STUCK_AP."""
