"""The level and the bias signature as two views of a device that does not switch: a device
is a conflict only where the signature's own evidence is against the level's class."""

from __future__ import annotations

import numpy as np

from mtj_hil.protocols.defects.diagnostics import view_conflicts

WEIGHTS = np.array([0.98, 5e-3, 2.5e-4, 3e-3, 3e-3])  # shorts 20 x more common than opens


def _ll(*classes: float) -> np.ndarray:
    return np.array([classes], float)


def test_an_ohmic_open_is_no_conflict_though_shorts_are_more_common():
    # the level is sure of OPEN; the signature is ohmic, as likely a short as an open: its
    # weights alone would call it SHORT with posterior ~0.95
    level = _ll(-12.0, -220.0, -0.7, -26.0, -15.0)
    bias = _ll(-4.0, 5.75, 5.42, -5.6, -39.0)
    assert not view_conflicts(level, bias, WEIGHTS, np.array([True]))[0]


def test_a_signature_against_the_level_is_a_conflict():
    # the level is sure of STUCK_P, the signature (the AP one) is sure of STUCK_AP
    level = _ll(-10.0, -30.0, -40.0, -1.0, -12.0)
    bias = _ll(-20.0, -30.0, -30.0, -15.0, 4.0)
    assert view_conflicts(level, bias, WEIGHTS, np.array([True]))[0]
    # ...but only on devices that do not switch
    assert not view_conflicts(level, bias, WEIGHTS, np.array([False]))[0]
