"""Property: whatever plan a caller tries, nothing outside the envelope reaches the wire."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtj_hil.instruments.controller import decode_frame
from mtj_hil.instruments.errors import SafetyViolation
from mtj_hil.protocols import CellState, Pulse
from mtj_hil.protocols.errors import InvalidRequest
from mtj_hil.sim.lab.lab import VirtualLab
from mtj_hil.sim.lab.server import LineServer
from mtj_hil.station.connect import open_station
from mtj_hil.station.files import station_from_dict

from .conftest import STATION

pytestmark = pytest.mark.slow


class Wire:
    """Every frame the board received, decoded, in order."""

    def __init__(self, handler):
        self.handler = handler
        self.frames = []
        self.lock = threading.Lock()

    def __call__(self, line: bytes):
        if line:
            with self.lock:
                self.frames.append(decode_frame(line + b"\n"))
        return self.handler(line)


@pytest.fixture(scope="module")
def wired_chip():
    import tomllib

    lab = VirtualLab("1t1r-20k", 0, 3)
    wire = Wire(lab.board.handle)
    lab.board_server = LineServer(wire, encoding=None, name="wired-board")
    with lab:
        data = tomllib.loads(STATION.read_text())
        data["controller"]["url"] = lab.controller_url
        data["smu"]["sense"]["resource"] = lab.smu_resource
        del data["virtual_lab"]
        with open_station(station_from_dict(data, STATION)) as chip:
            yield chip, lab, wire


program_op = st.tuples(
    st.just("program"),
    st.integers(0, 31),
    st.integers(0, 2**32 - 1),
    st.sampled_from([CellState.P, CellState.AP]),
    st.floats(0.0, 2.0),
    st.floats(-9.5, -2.5),
)
read_op = st.tuples(
    st.just("read"),
    st.integers(0, 31),
    st.integers(0, 2**32 - 1),
    st.integers(1, 3),
    st.floats(0.0, 0.5),
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=st.lists(st.one_of(program_op, read_op), min_size=1, max_size=5))
def test_no_command_on_the_wire_exceeds_the_envelope(wired_chip, plan):
    chip, lab, wire = wired_chip
    env = chip.envelope
    for op in plan:
        before = len(wire.frames)
        smu_before = len(lab.smu.history)
        try:
            if op[0] == "program":
                _, array, seed, state, amplitude, log_width = op
                mask = np.random.default_rng(seed).random((25, 25)) < 0.2
                chip.program(array, mask, state, Pulse(amplitude, 10**log_width))
            else:
                _, array, seed, batch, peak = op
                volts = np.random.default_rng(seed).uniform(0, peak, (batch, 25))
                chip.read(array, volts)
        except (SafetyViolation, InvalidRequest):
            assert len(wire.frames) == before, "a refused plan must send nothing"
            assert len(lab.smu.history) == smu_before
    for frame in wire.frames:
        if frame.verb == "PULSE":
            amplitude, width = float(frame.args[1]), float(frame.args[2])
            assert env.min_pulse_amplitude - 5e-4 <= amplitude <= env.max_pulse_amplitude
            assert env.min_pulse_width <= width <= env.max_pulse_width
        elif frame.verb == "VREAD":
            assert max(float(v) for v in frame.args) <= env.max_read_voltage
        elif frame.verb == "SCAN":
            assert float(frame.args[0]) <= env.max_read_voltage
    assert all(abs(applied[0]) <= env.max_read_voltage for applied in lab.smu.history)
    assert lab.die.defect.max() < 5 and not _broken(lab)


def _broken(lab) -> bool:
    """No device was destroyed: breakdown would have turned a good device into a short."""
    from mtj_hil.sim.die import make_die

    fresh = make_die(lab.die.profile, 0, 3)
    return bool((lab.die.defect != fresh.defect).any())
