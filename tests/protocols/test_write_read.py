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


class _BlindColumn(SimulatedChip):
    """A die whose sense line 0 gives NaN (a reading the instrument could not make)."""

    def read(self, array, voltages):
        currents = super().read(array, voltages)
        currents[:, 0] = np.nan
        return currents


@pytest.mark.parametrize("bit", [False, True], ids=["to-AP", "to-P"])
def test_cells_that_cannot_be_read_are_never_reported_written(profile_1t1r, bit):
    # NaN compared as "not P": cells of an unreadable line counted as written to AP
    # without a pulse (and, for P, as stuck)
    rates = {"short_rate": 0, "open_rate": 0, "stuck_p_rate": 0, "stuck_ap_rate": 0}
    chip = _BlindColumn.from_lot(profile_1t1r.replace(defects=rates), 0, 3)
    chip.die.state[0][:] = not bit  # every cell starts in the other state
    report = write_weights(chip, 0, np.full((25, 25), bit))
    assert report.residual[:, 0].all()  # unverified: given up, reported
    assert not report.residual[:, 1:].any()
    assert report.errors == 25
    assert (chip.die.state[0][:, 0] == bit).all()  # ...yet they were pulsed to the target


@pytest.mark.parametrize("repeats", [1.0, 2.0, True, "2"], ids=repr)
def test_a_map_with_repeats_that_are_no_whole_number_reads_nothing(chip, repeats):
    # repeats=2.0 read the die (its clock and read disturb moved on), then failed in reshape
    calls = chip.read_calls
    with pytest.raises(InvalidRequest, match="repeats must be a whole number"):
        conductance_map(chip, 0, 0.1, repeats=repeats)
    assert chip.read_calls == calls


@pytest.mark.parametrize("step", [float("inf"), float("nan"), -0.1], ids=repr)
def test_an_escalation_step_that_is_no_finite_voltage_is_refused_before_any_read(chip, step):
    # inf or NaN made the first round's amplitude NaN: a SafetyViolation after the first read
    calls = chip.read_calls
    with pytest.raises(InvalidRequest, match="escalation step"):
        write_weights(chip, 0, np.ones((25, 25), bool), escalation_step=step)
    assert chip.read_calls == calls


@pytest.mark.parametrize(
    "pulse", [Pulse("0.5", 1e-6), Pulse(0.5 + 0j, 1e-6), None, (0.5, 1e-6)], ids=repr
)
def test_a_malformed_pulse_is_an_invalid_request_and_applies_nothing(chip, pulse):
    from mtj_hil.protocols.chip import CellState

    calls, state = chip.program_calls, chip.die.state[0].copy()
    with pytest.raises(InvalidRequest, match="pulse must be Pulse"):
        chip.program(0, np.ones((25, 25), bool), CellState.AP, pulse)
    assert chip.program_calls == calls
    assert np.array_equal(chip.die.state[0], state)
