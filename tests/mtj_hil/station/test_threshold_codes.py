"""Threshold codes of board-side sequences: the searched codes equal the definition (the
count of codes whose calibrated conductance is at or below the threshold, less one), for
per-line and per-cell thresholds, odd values, and calibrations that do not rise."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from mtj_hil.calibration.correction import ReadPathCorrection
from mtj_hil.station.chip_seq_util import code_conductances, threshold_codes

ROWS, COLS, BITS = 5, 4, 12


def _chip(correction: ReadPathCorrection | None) -> SimpleNamespace:
    """The parts of an instrument chip that threshold codes read."""
    limits = SimpleNamespace(adc_bits=BITS)
    return SimpleNamespace(
        controller=SimpleNamespace(identity=SimpleNamespace(limits=limits)),
        layout=SimpleNamespace(rows=ROWS, cols=COLS),
        correction=correction,
    )


def _by_definition(chip, array: int, thr, volts: float, full_scale: float) -> tuple[int, ...]:
    """The count of codes at or below each threshold, less one, clipped to the codes."""
    zero, lsb = 1 << (BITS - 1), 2.0 * full_scale / (1 << BITS)
    currents = np.repeat(((np.arange(1 << BITS) - zero) * lsb)[:, None], COLS, axis=1)
    if chip.correction is not None:
        currents = chip.correction.correct(array, currents)
    g = currents / volts
    if np.ndim(thr) == 0:
        below = (g <= thr).sum(axis=0) - 1
    else:
        below = (g[:, None, :] <= np.asarray(thr, float)[None]).sum(axis=0).ravel() - 1
    return tuple(int(c) for c in np.clip(below, 0, (1 << BITS) - 1))


CORRECTIONS = {
    "none": None,
    "calibrated": ReadPathCorrection(
        converter_gain=np.array([1.02, 0.97, 1.0, 1.05]),
        converter_offset=np.array([2e-9, -1e-9, 0.0, 5e-10]),
    ),
    # a line whose gain came out negative or zero: it falls with the code, or is NaN/inf
    "hostile": ReadPathCorrection(
        converter_gain=np.array([-1.0, 0.0, 1.0, 1e-300]),
        converter_offset=np.array([0.0, 1e-9, 0.0, 0.0]),
    ),
}


@pytest.mark.parametrize("name", list(CORRECTIONS))
def test_searched_codes_equal_the_count_of_codes_at_or_below(name: str) -> None:
    chip = _chip(CORRECTIONS[name])
    rng = np.random.default_rng(3)
    volts, full_scale = 0.1, 1e-5
    g = code_conductances(chip, 0, volts, full_scale)
    picks = g[rng.integers(0, g.shape[0], 12), 0]  # thresholds exactly on a code
    odd = [0.0, -1.0, np.inf, -np.inf, np.nan, 1e-30, *picks]
    for thr in [*odd, *rng.uniform(-2e-4, 2e-4, 20)]:
        assert threshold_codes(chip, 0, thr, volts, full_scale) == _by_definition(
            chip, 0, thr, volts, full_scale
        ), thr
    maps = rng.uniform(-2e-4, 2e-4, (ROWS, COLS))
    maps.ravel()[:7] = odd[:7]
    maps[-1] = picks[:COLS]
    assert threshold_codes(chip, 1, maps, volts, full_scale) == _by_definition(
        chip, 1, maps, volts, full_scale
    )


def test_a_new_calibration_gets_a_new_code_table() -> None:
    chip = _chip(CORRECTIONS["calibrated"])
    before = threshold_codes(chip, 0, 5e-5, 0.1, 1e-5)
    chip.correction = ReadPathCorrection(
        converter_gain=np.full(COLS, 2.0), converter_offset=np.zeros(COLS)
    )
    after = threshold_codes(chip, 0, 5e-5, 0.1, 1e-5)
    assert after == _by_definition(chip, 0, 5e-5, 0.1, 1e-5)
    assert after != before
