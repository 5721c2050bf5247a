"""A switching run without floor trials recommends no pulse: the write-error floor (near
1e-3 on the default die) bounds the WER any pulse reaches, and without it the fit alone
promised 1.6e-20 at 0.939 V x 10 ns where a run with floor trials finds no pulse at all."""

from __future__ import annotations

import numpy as np

from mtj_hil.protocols.chip import Limits
from mtj_hil.protocols.switching.analysis import WerCurve, recommend
from mtj_hil.protocols.switching.fit import FloorEstimate

LIMITS = Limits(0.3, 0.1, 1.2, 1e-8, 1e-5)


def _curve() -> WerCurve:
    amps, widths = np.array([0.5, 0.9]), np.array([1e-8, 1e-7])
    med = np.array([[1e-2, 1e-20], [1e-3, 1e-25]])
    return WerCurve(amps, widths, med, med / 2, med * 2)


def _floor(trials: int, failures: int = 0) -> FloorEstimate:
    if not trials:
        return FloorEstimate(float("nan"), 0.0, 1.0, 0, 0)
    return FloorEstimate(failures / trials, 0.0, 0.04, failures, trials)


def test_a_direction_without_floor_trials_recommends_nothing_and_says_why():
    curves = {"AP": _curve(), "P": _curve()}
    rec = recommend(curves, LIMITS, 1e-6, {"AP": _floor(0), "P": _floor(64)})
    assert not rec.found
    assert "write-error floor was not measured (AP" in rec.statement
    assert "0.9 V x 1e-08 s" in rec.statement  # what the fit alone gives, named as such


def test_with_measured_floors_the_pulse_is_recommended():
    curves = {"AP": _curve(), "P": _curve()}
    rec = recommend(curves, LIMITS, 1e-6, {"AP": _floor(64), "P": _floor(64)})
    assert rec.found and (rec.amplitude, rec.width) == (0.9, 1e-8)
