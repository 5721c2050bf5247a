"""A sequence run on the host (the simulated chip, a board without sequence firmware) is
checked whole against the die's limits before its first step: a read voltage or pulse of
any step outside them is refused naming the step, and nothing is pulsed or read; a sequence
exactly at the limits runs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mtj_hil.protocols import CellState, Pulse
from mtj_hil.protocols.errors import InvalidRequest
from mtj_hil.protocols.sequence import (
    KnownMap,
    KnownStates,
    PulseAll,
    ReadMap,
    ReadStates,
    WriteAll,
    run_on_host,
    run_sequence,
)
from mtj_hil.sim import SimulatedChip

P, AP = CellState.P, CellState.AP
UP = math.inf


@pytest.fixture(scope="module")
def chip() -> SimulatedChip:
    return SimulatedChip.from_lot("1t1r-20k", 0, 0)


def beyond(chip: SimulatedChip) -> dict[str, object]:
    """One step past each of the die's limits."""
    lim = chip.layout.limits
    shape = (chip.layout.rows, chip.layout.cols)
    over_read = math.nextafter(lim.max_read_voltage, UP)
    return {
        "PulseAll amplitude": PulseAll(P, Pulse(math.nextafter(lim.max_pulse_amplitude, UP), 1e-6)),
        "PulseAll width": PulseAll(P, Pulse(1.0, math.nextafter(lim.max_pulse_width, UP))),
        "PulseAll least amplitude": PulseAll(AP, Pulse(lim.min_pulse_amplitude / 2, 1e-6)),
        "PulseAll NaN": PulseAll(AP, Pulse(math.nan, 1e-6)),
        "WriteAll pulse": WriteAll(P, pulse=Pulse(lim.max_pulse_amplitude + 0.1, 1e-6)),
        "WriteAll plan": WriteAll(P, plan=(Pulse(1.0, 1e-6), Pulse(1.0, 2 * lim.max_pulse_width))),
        "WriteAll read": WriteAll(P, read_voltage=over_read),
        "ReadMap": ReadMap(over_read),
        "ReadStates": ReadStates(over_read),
        "KnownMap": KnownMap(over_read, np.zeros(shape)),
        "KnownStates": KnownStates(over_read, np.zeros(shape, bool)),
    }


GOOD = [PulseAll(AP, Pulse(1.0, 1e-6)), ReadMap(0.1), WriteAll(P), ReadStates(0.1)] * 2


@pytest.mark.parametrize("run", [run_on_host, run_sequence], ids=["run_on_host", "run_sequence"])
@pytest.mark.parametrize("bad", list(beyond(SimulatedChip.from_lot("1t1r-20k", 0, 0))))
def test_a_last_step_beyond_the_limits_refuses_the_whole_sequence(chip, run, bad):
    step = beyond(chip)[bad]
    before = chip.program_calls, chip.read_calls
    with pytest.raises(InvalidRequest) as info:
        run(chip, 1, [*GOOD, step])
    text = str(info.value)
    assert f"sequence refused before anything was applied: step {len(GOOD)} " in text
    assert f"({type(step).__name__}): " in text
    assert (chip.program_calls, chip.read_calls) == before  # not the earlier steps either


def test_a_sequence_exactly_at_the_limits_runs(chip):
    lim = chip.layout.limits
    at_limits = [
        PulseAll(AP, Pulse(lim.max_pulse_amplitude, lim.max_pulse_width)),
        PulseAll(P, Pulse(lim.min_pulse_amplitude, lim.min_pulse_width)),
        ReadMap(lim.max_read_voltage),
        WriteAll(P, plan=(Pulse(1.0, 1e-6), Pulse(lim.max_pulse_amplitude, 1e-6))),
    ]
    before = chip.program_calls
    out = run_on_host(chip, 2, at_limits)
    assert out[2].shape == (1, chip.layout.rows, chip.layout.cols)
    assert chip.program_calls > before
