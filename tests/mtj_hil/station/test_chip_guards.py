"""InstrumentChip's own guards: a sense-SMU reading the instrument flags (compliance) is an
InstrumentError naming the flag, never a current; the board's reported pulse ceiling narrows
the chip's envelope."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from mtj_hil.instruments.errors import InstrumentError
from mtj_hil.station.connect import open_station
from mtj_hil.station.files import station_from_dict

from .conftest import STATION


def test_a_reading_in_compliance_is_refused_naming_the_flag():
    data = tomllib.loads(STATION.read_text())
    data["station"]["read_path"] = "smu"
    with open_station(station_from_dict(data, STATION), apply_calibration=False) as chip:
        vectors = np.zeros((1, 25))
        vectors[0, 3] = 0.1
        chip.lab.smu.force_compliance(1)
        with pytest.raises(InstrumentError, match="not a measurement.*compliance") as err:
            chip.read(2, vectors)
    text = str(err.value)
    # the instrument by role and address, what happened in words, and what to do
    assert text.startswith("SMU sense (keithley2400) at TCPIP::")
    assert "hit its current compliance" in text and "nothing from it was kept" in text
    assert "run the command again" in text


def test_a_board_ceiling_below_the_station_limit_is_the_chips_limit(monkeypatch):
    """The board reports a pulse ceiling (LIM vpulse_max) below the station's and the die's
    limits: the chip's layout says the board's, and a pulse above it is refused by the chip
    before any frame (not part-way, after selecting and routing)."""
    import functools

    import mtj_hil.sim.lab.lab as lab_module
    from mtj_hil.instruments.errors import SafetyViolation
    from mtj_hil.protocols import CellState, Pulse

    monkeypatch.setattr(
        lab_module, "VirtualBoard", functools.partial(lab_module.VirtualBoard, vpulse_max=0.8)
    )
    data = tomllib.loads(STATION.read_text())
    with open_station(station_from_dict(data, STATION), apply_calibration=False) as chip:
        assert chip.layout.limits.max_pulse_amplitude == pytest.approx(0.8)
        frames = chip.lab.board.frames
        with pytest.raises(SafetyViolation, match="amplitude"):
            chip.program(0, np.ones((25, 25), bool), CellState.P, Pulse(1.0, 1e-6))
        assert chip.lab.board.frames == frames and chip.lab.board.pulses == []
