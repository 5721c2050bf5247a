"""A die read at the noise floor (a read voltage typed a thousand times too small, a lifted
probe) is refused, not classified: reads of no current scatter about 0 A, and with one
cycle the noise cannot be measured, so the scatter passed for switching and half the die
was called OPEN, the rest GOOD, with resistances of about 1 ohm."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.protocols import CharacterizationPlan, DefectCode, MemorySink, characterize_die
from mtj_hil.protocols.defects.detect import classify_reads
from mtj_hil.protocols.defects.diagnostics import FLOOR_SHARE, at_noise_floor
from mtj_hil.protocols.errors import ProtocolError
from mtj_hil.sim import SimulatedChip


@pytest.mark.parametrize("cycles", [1, 3])
def test_a_die_read_far_below_its_noise_is_refused_naming_the_read_voltage(cycles):
    chip = SimulatedChip.from_lot("1t1r-20k", 0, 0)
    plan = CharacterizationPlan(arrays=(0,), cycles=cycles, read_voltage=1e-6)
    with pytest.raises(ProtocolError, match="at or below 0 S") as err:
        characterize_die(chip, MemorySink(), plan)
    assert "raise the read voltage" in str(err.value) and "probe" in str(err.value)


def _die(rng: np.random.Generator, open_share: float) -> tuple[np.ndarray, np.ndarray]:
    """Reads ``(3, 1, 2, 25, 25)`` (S) of two arrays of good junctions, the first
    ``open_share`` of whose rows are open lines reading 2 nA of noise at 0.1 V."""
    shape = (3, 1, 2, 25, 25)
    g_p = 2.3e-4 * np.exp(0.05 * rng.standard_normal(shape[2:]))
    after_p = g_p * (1 + 0.005 * rng.standard_normal(shape))
    after_ap = g_p / 1.75 * (1 + 0.005 * rng.standard_normal(shape))
    rows = int(round(open_share * 25))
    for after in (after_p, after_ap):
        after[..., :rows, :] = 2e-8 * rng.standard_normal((*shape[:-2], rows, 25))
    return after_p, after_ap


def test_a_die_with_open_lines_is_still_classified():
    after_p, after_ap = _die(np.random.default_rng(5), 0.2)  # a fifth of the rows open
    result = classify_reads(after_p, after_ap)
    assert (result.codes[:, 5:] == DefectCode.GOOD).mean() > 0.98
    assert not (result.codes[:, :5] == DefectCode.GOOD).any()


def test_a_die_whose_live_part_reads_well_is_classified_however_much_is_dead():
    """Dead arrays and open lines read about 0 S, their offsets below it; the live devices
    stand far above: the die is classified (its dead part OPEN), not refused as noise."""
    after_p, after_ap = _die(np.random.default_rng(5), 0.6)
    result = classify_reads(after_p, after_ap)
    assert (result.codes[:, 15:] == DefectCode.GOOD).mean() > 0.98
    assert not (result.codes[:, :15] == DefectCode.GOOD).any()


def test_a_die_of_noise_about_zero_is_refused():
    rng = np.random.default_rng(6)
    shape = (3, 1, 2, 25, 25)
    after_p = 2e-8 * rng.standard_normal(shape) + 1e-9  # a faint signal under the noise
    after_ap = 2e-8 * rng.standard_normal(shape) + 5e-10
    with pytest.raises(ProtocolError, match="at or below 0 S"):
        classify_reads(after_p, after_ap)


def test_the_share_is_the_limit_and_small_samples_are_not_judged():
    ok = np.ones(100, bool)
    g = np.full(100, 1e-6)  # live devices no more than 10x the scatter below 0
    g[: int(FLOOR_SHARE * 100)] = -1e-6
    assert at_noise_floor(ok, g) is None  # at the share: classified
    g[: int(FLOOR_SHARE * 100) + 1] = -1e-6
    message = at_noise_floor(ok, g)
    assert message is not None and "21 of 100 devices" in message
    g[g > 0] = 1e-4  # the live devices stand 100x above it: dead lines, not noise
    assert at_noise_floor(ok, g) is None
    assert at_noise_floor(ok[:10], g[:10]) is None  # too few devices to say
    assert at_noise_floor(~ok, g) is None  # none valid (saturated, NaN): other checks
