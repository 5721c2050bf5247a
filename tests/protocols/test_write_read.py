"""Write-verify and conductance maps on the simulated die."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.instruments.errors import SafetyViolation
from mtj_hil.protocols import InvalidRequest, Pulse, conductance_map, write_weights
from mtj_hil.protocols.defects.detect import DefectCode
from mtj_hil.sim import SimulatedChip


def test_conductance_map_matches_the_die(chip):
    g = conductance_map(chip, 4, repeats=3)
    assert g.shape == (3, 25, 25)
    truth = chip.die.conductance(4)
    np.testing.assert_allclose(g.mean(axis=0), truth, rtol=0.03, atol=1e-7)


def test_random_patterns_leave_errors_only_on_defective_cells(profile_1t1r):
    prof = profile_1t1r.replace(
        defects={"short_rate": 0.01, "open_rate": 0.01, "stuck_p_rate": 0.01, "stuck_ap_rate": 0.01}
    )
    chip = SimulatedChip.from_lot(prof, 2, 0)
    rng = np.random.default_rng(0)
    for array in range(8):
        bits = rng.random((25, 25)) < 0.5
        report = write_weights(chip, array, bits)
        defect = chip.die.defect[array]
        assert not (report.residual & (defect == DefectCode.GOOD)).any()
        # Every defective cell whose fixed conductance contradicts its bit is reported.
        reads_p = (defect == DefectCode.SHORT) | (defect == DefectCode.STUCK_P)
        reads_ap = (defect == DefectCode.OPEN) | (defect == DefectCode.STUCK_AP)
        expected = (reads_p & ~bits) | (reads_ap & bits)
        np.testing.assert_array_equal(report.residual, expected)
        good = defect == DefectCode.GOOD
        np.testing.assert_array_equal(chip.die.state[array][good], bits[good])
        assert report.rounds <= 5
        assert report.pulses >= report.initial_errors


def test_write_touches_only_selected_cells(chip):
    before = chip.die.state[2].copy()
    selected = np.zeros((25, 25), bool)
    selected[:5] = True
    bits = ~before
    write_weights(chip, 2, bits, selected=selected)
    np.testing.assert_array_equal(chip.die.state[2][5:], before[5:])


def test_escalation_stays_within_the_limits(chip):
    report = write_weights(
        chip, 0, np.ones((25, 25), bool), pulse=Pulse(1.15, 1e-6), max_rounds=5, escalation_step=0.1
    )
    assert all(a <= chip.layout.limits.max_pulse_amplitude for a in report.amplitudes)


def test_plan_outside_the_limits_is_refused_before_any_pulse(chip):
    before = chip.die.state.copy()
    with pytest.raises(InvalidRequest, match="amplitude 2 V lies outside"):
        write_weights(chip, 0, np.ones((25, 25), bool), pulse=Pulse(2.0, 1e-6))
    with pytest.raises(InvalidRequest, match="width"):
        write_weights(chip, 0, np.ones((25, 25), bool), pulse=Pulse(1.0, 1e-3))
    assert chip.program_calls == 0 and chip.read_calls == 0
    np.testing.assert_array_equal(chip.die.state, before)


@pytest.mark.parametrize(
    ("bits", "match"),
    [
        (np.ones((25, 24), bool), "shape"),
        (np.full((25, 25), 2), "0/1"),
        (np.full((25, 25), 0.5), "0/1"),
    ],
)
def test_bad_bit_patterns_are_refused(chip, bits, match):
    with pytest.raises(InvalidRequest, match=match):
        write_weights(chip, 0, bits)
    assert chip.program_calls == 0


def test_chip_envelope_is_the_last_line_of_defence(chip):
    with pytest.raises(SafetyViolation):
        chip.program(0, np.ones((25, 25), bool), 1, Pulse(5.0, 1e-6))
