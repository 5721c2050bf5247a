"""The controller driver checks the station's envelope itself, so a script that talks to
``chip.controller`` directly (bypassing ``InstrumentChip``) is still refused at the driver."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.instruments.errors import SafetyViolation

pytestmark = pytest.mark.slow  # each test opens the virtual-lab station


def test_a_station_connects_its_envelope_to_the_controller_driver(lab_chip):
    assert lab_chip.controller.envelope is lab_chip.envelope


@pytest.mark.parametrize(
    ("amplitude", "width"),
    [(1.3, 1e-7), (0.05, 1e-7), (0.8, 1e-9), (0.8, 1e-4)],
    ids=["above-max-amplitude", "below-min-amplitude", "too-short", "too-long"],
)
def test_a_pulse_outside_the_station_envelope_is_refused_at_the_driver(lab_chip, amplitude, width):
    """The board itself would take 1.3 V (its ceiling is 3.3 V); the station allows 1.2 V."""
    board = lab_chip.lab.board
    before = len(board.pulses)
    lab_chip.controller.select_array(0)
    with pytest.raises(SafetyViolation):
        lab_chip.controller.pulse(amplitude, width, "POS")
    assert len(board.pulses) == before, "the refused pulse reached the board"


def test_read_voltages_above_the_station_envelope_are_refused_at_the_driver(lab_chip):
    board = lab_chip.lab.board
    before = list(board.read_levels)
    lab_chip.controller.select_array(0)
    volts = np.zeros(lab_chip.layout.rows)
    volts[0] = 0.5  # the station allows 0.3 V, the board 3.3 V
    with pytest.raises(SafetyViolation):
        lab_chip.controller.set_read_voltages(volts)
    with pytest.raises(SafetyViolation):
        lab_chip.controller.scan(0.5)
    assert board.read_levels == before
