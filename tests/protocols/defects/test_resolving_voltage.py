"""A coarse converter that hides switches at the read voltage: the die is classified on its
second read voltage's reads (issue 22).

7 bits over 1 mA: one code is 15.6 uA. At 0.1 V a 1t1r-20k die reads about 1.5 codes (P) and
0.85 (AP), so half the good devices read one code after both writes; at 0.2 V, 3.0 and 1.7
codes. Classified at 0.1 V, 30 % of such a die was UNCERTAIN and no stuck call was made."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.protocols import CharacterizationPlan, DefectCode, MemorySink, characterize_die
from mtj_hil.protocols.defects import reads
from mtj_hil.protocols.defects.resolving_voltage import (
    classify_at_second_voltage,
    mean_state_codes,
)
from mtj_hil.sim import SimulatedChip, load_profile

LSB = 2e-3 / 2**7  # A: 7 bits over +-1 mA


def _reads(level_p: np.ndarray, level_ap: np.ndarray, volts: float, lsb: float | None):
    """Reads ``(3 cycles, 1 read, devices)`` (S) of devices at the given conductances,
    through a converter of step ``lsb`` (A; None: not quantised)."""
    rng = np.random.default_rng(1)

    def read(g: np.ndarray) -> np.ndarray:
        i = g * volts * (1 + 0.005 * rng.standard_normal((3, 1, g.size)))
        return (i if lsb is None else np.round(i / lsb) * lsb) / volts

    return read(level_p), read(level_ap)


@pytest.fixture(scope="module")
def levels():
    rng = np.random.default_rng(0)
    g_p = np.exp(np.log(1 / 4292) + 0.05 * rng.standard_normal(2000))
    return g_p, g_p * 4292 / 7519


def test_coarse_reads_choose_the_voltage_that_shows_the_switch(levels):
    low = _reads(*levels, 0.1, LSB)
    high = _reads(*levels, 0.2, LSB)
    step, codes_low = mean_state_codes(*low)
    assert step == pytest.approx(LSB / 0.1, rel=1e-9)
    assert 0.2 < codes_low < 0.8  # about half the good devices read one code
    assert mean_state_codes(*high)[1] > 0.9
    use, why = classify_at_second_voltage(low, high)
    assert use and "second read voltage" in why
    # 8 bits: one code apart at 0.1 V, three at 0.2 V
    assert classify_at_second_voltage(_reads(*levels, 0.1, LSB / 2), _reads(*levels, 0.2, LSB / 2))[
        0
    ]


def test_fine_or_unquantised_reads_stay_at_the_read_voltage(levels):
    # 9 bits: P and AP 2.6 codes apart at 0.1 V already; no converter: never
    assert classify_at_second_voltage(
        _reads(*levels, 0.1, LSB / 4), _reads(*levels, 0.2, LSB / 4)
    ) == (False, "")
    assert classify_at_second_voltage(_reads(*levels, 0.1, None), _reads(*levels, 0.2, LSB)) == (
        False,
        "",
    )
    # ...nor where the second voltage hides the switch as much (a read at the same
    # voltage)
    low = _reads(*levels, 0.1, LSB)
    assert not classify_at_second_voltage(low, _reads(*levels, 0.1, LSB))[0]


SEVEN_BITS = load_profile("1t1r-20k").replace(read={"adc_bits": 7})


def _characterise():
    chip = SimulatedChip.from_lot(SEVEN_BITS, 9001, 3)
    return chip, characterize_die(chip, MemorySink(), CharacterizationPlan().resolved(chip.layout))


def test_a_seven_bit_die_is_classified_at_its_second_voltage():
    chip, result = _characterise()
    truth = chip.die.defect
    assert (result.codes == DefectCode.UNCERTAIN).mean() <= 1e-3
    for code in (DefectCode.STUCK_P, DefectCode.STUCK_AP, DefectCode.SHORT):
        assert (truth == code).sum() >= 10
        assert (result.codes[truth == code] == code).mean() >= 0.95
    sure = np.isin(result.codes, (1, 2, 3, 4)) & (result.confidence >= 0.95)
    assert (result.codes[sure] == truth[sure]).mean() >= 0.99
    assert result.model["classified_at"] == "second read voltage"
    assert any("second read voltage" in w for w in result.warnings)
    # the maps stay at the read voltage (about 1 / 4292 ohm at P), the thresholds with them
    good = result.codes == DefectCode.GOOD
    assert 0.7 / 4292 < np.median(result.g_p[good]) < 1.4 / 4292
    t = result.thresholds
    assert t.median_g_ap < t.state_g < t.median_g_p < 1.4 / 4292


def test_without_the_choice_the_seven_bit_die_is_left_uncertain(monkeypatch):
    # the mutation: classified at 0.1 V, the switches hidden within one code
    monkeypatch.setattr(reads, "classify_at_second_voltage", lambda low, high: (False, ""))
    _, result = _characterise()
    assert (result.codes == DefectCode.UNCERTAIN).mean() > 0.05
