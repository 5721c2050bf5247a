"""A station limit the wire cannot express exactly (0.2996 V read, 1.1996 V pulse, 1.23456 us
width): a request at the limit passes a check on the float but would go on the wire rounded
(``0.300``, ``1.200``, ``1.235e-06``), beyond it. Every path checks the value as it is sent:
such a request is refused, naming the value and the limit, and nothing above the limit ever
reaches the virtual board; requests whose wire form lies inside still run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mtj_hil.errors import ConfigError
from mtj_hil.instruments.errors import SafetyViolation
from mtj_hil.protocols import CellState, Pulse
from mtj_hil.protocols.sequence import PulseAll, ReadMap, ReadStates, WriteAll, run_sequence
from mtj_hil.station.connect import open_station
from mtj_hil.station.files import station_from_dict

from .conftest import STATION

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::mtj_hil.errors.FallbackWarning"),
]

READ, AMP, WIDTH = 0.2996, 1.1996, 1.23456e-6
P = CellState.P


@pytest.fixture
def odd_chip(station_dict):
    # A station file with such limits is refused when it loads (wire_limits); the driver's
    # own check is the defence for an envelope made another way (a script, the board's LIM).
    station_dict["calibration"]["voltages"] = [0.05, 0.15, 0.29]
    station = station_from_dict(station_dict, STATION)
    odd = dataclasses.replace(
        station.envelope, max_read_voltage=READ, max_pulse_amplitude=AMP, max_pulse_width=WIDTH
    )
    with open_station(dataclasses.replace(station, envelope=odd)) as chip:
        yield chip


def test_a_station_file_with_such_limits_is_refused_when_it_loads(station_dict):
    for key, value, hint in (
        ("max_read_voltage", READ, "e.g. 0.299"),
        ("max_pulse_amplitude", AMP, "e.g. 1.199"),
        ("max_pulse_width", WIDTH, "e.g. 1.234e-06"),
    ):
        data = {**station_dict, "safety": {**station_dict["safety"], key: value}}
        with pytest.raises(ConfigError, match=rf"safety\.{key} = .* is finer than .*{hint}"):
            station_from_dict(data, STATION)


def _firmware(chip, version: str) -> None:
    board = chip.lab.board
    if version != board.firmware:
        board.firmware, board.has_sequences, board.pipelined = version, False, False
        chip.controller.identify()


def _within(chip) -> None:
    """What the board applied never exceeds the station's limits."""
    board = chip.lab.board
    assert all(a <= AMP and w <= WIDTH for *_, a, w in board.pulses), board.pulses
    assert all(v <= READ for v in board.read_levels), board.read_levels
    assert float(np.max(board._state.vread)) <= READ


def _sent(chip) -> tuple[int, int, int]:
    board = chip.lab.board
    return board.frames, len(board.pulses), len(board.read_levels)


def test_the_envelope_is_the_station_limits(odd_chip):
    env = odd_chip.envelope
    assert (env.max_read_voltage, env.max_pulse_amplitude, env.max_pulse_width) == (
        READ,
        AMP,
        WIDTH,
    )


@pytest.mark.parametrize(
    ("pulse", "sent"),
    [(Pulse(AMP, 1e-6), "1.200 V"), (Pulse(1.0, WIDTH), "1.235e-06 s")],
    ids=["amplitude", "width"],
)
def test_a_pulse_at_a_limit_the_wire_rounds_above_is_refused(odd_chip, pulse, sent):
    before = _sent(odd_chip)
    with pytest.raises(SafetyViolation) as info:
        odd_chip.program(0, np.ones((25, 25), bool), P, pulse)
    text = str(info.value)
    assert sent in text and ("1.1996" in text or "1.23456e-06" in text)
    assert _sent(odd_chip)[1:] == before[1:]
    _within(odd_chip)


def test_the_driver_refuses_it_too(odd_chip):
    ctrl = odd_chip.controller
    ctrl.select_array(0)
    with pytest.raises(SafetyViolation, match=r"1\.1996 V.*1\.200 V"):
        ctrl.pulse(AMP, 1e-6, "POS")
    with pytest.raises(SafetyViolation, match=r"0\.2996 V.*0\.300 V"):
        ctrl.scan(READ)
    with pytest.raises(SafetyViolation, match=r"0\.2996 V.*0\.300 V"):
        ctrl.set_read_voltages(np.where(np.arange(25) == 3, READ, 0.0))
    _within(odd_chip)


@pytest.mark.parametrize("block", ["scan", "vread"])
def test_a_read_at_a_limit_the_wire_rounds_above_is_refused(odd_chip, block):
    volts = READ * np.eye(25) if block == "scan" else np.full((1, 25), READ)
    before = _sent(odd_chip)
    with pytest.raises(SafetyViolation, match=r"0\.2996 V goes on the wire as 0\.300 V"):
        odd_chip.read(0, volts)
    assert _sent(odd_chip)[2] == before[2]
    _within(odd_chip)


def test_requests_whose_wire_form_lies_inside_still_run(odd_chip):
    board = odd_chip.lab.board
    odd_chip.program(0, np.ones((25, 25), bool), P, Pulse(1.1994, 1.2345e-6))  # 1.199 V
    assert board.pulses[-1][3:] == (1.199, 1.23e-6)  # the board's 10 ns timebase
    g = odd_chip.read(0, 0.2994 * np.eye(25))  # 0.299 V
    assert g.shape == (25, 25) and board.read_levels[-1] == 0.299
    _within(odd_chip)


@pytest.mark.parametrize("firmware", ["1.3.0", "1.2.0"])
@pytest.mark.parametrize(
    "step",
    [
        PulseAll(P, Pulse(AMP, 1e-6)),
        PulseAll(P, Pulse(1.0, WIDTH)),
        WriteAll(P, plan=(Pulse(1.0, 1e-6), Pulse(AMP, 1e-6)), read_voltage=0.1),
        WriteAll(P, plan=(Pulse(1.0, 1e-6),), read_voltage=READ),
        ReadMap(READ),
        ReadStates(READ),
    ],
    ids=["pulse", "width", "write-plan", "write-read", "read-map", "read-states"],
)
def test_a_sequence_step_the_wire_rounds_above_is_refused_before_anything_is_sent(
    odd_chip, firmware, step
):
    """On the board (firmware 1.3: the SEQ upload is checked) and one command at a time."""
    _firmware(odd_chip, firmware)
    before = _sent(odd_chip)
    with pytest.raises(SafetyViolation, match=r"(1\.200 V|1\.235e-06 s|0\.300 V)"):
        run_sequence(odd_chip, 2, [ReadMap(0.1), step])
    assert _sent(odd_chip) == before  # refused whole: not a frame, not its first step
    _within(odd_chip)
