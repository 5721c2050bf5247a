"""Arguments a script passes to the protocol layer are refused up front, naming the argument,
with the project's own error (``InvalidRequest`` and its ``SettingRefused``): never a pulse
first and the refusal at the verify read, never a raw TypeError from deep inside, never a
value silently turned into another (a row 1.5 traced as row 1, ``True`` written as P)."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.protocols import (
    CharacterizationPlan,
    Pulse,
    check_plan,
    conductance_map,
    write_weights,
)
from mtj_hil.protocols.errors import InvalidRequest, SettingRefused
from mtj_hil.protocols.switching.procedure import SwitchingPlan
from mtj_hil.protocols.switching.procedure import check_plan as check_switching_plan
from mtj_hil.sim import SimulatedChip


@pytest.fixture
def chip():
    return SimulatedChip.from_lot("passive-15x15")


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ({"read_voltage": 0.0}, "below 1e-06 V"),
        ({"read_voltage": 5.0}, "above the largest read voltage of the safety envelope"),
        ({"read_voltage": "0.1"}, "must be a number"),
        ({"max_rounds": 2.5}, "max_rounds must be a whole number"),
        ({"max_rounds": True}, "max_rounds must be a whole number"),
        ({"max_rounds": 10**9}, "max_rounds must be a whole number 1..1000"),
        ({"escalation_step": "x"}, "escalation step"),
        ({"pulse": (0.5, 1e-6)}, "pulse must be a Pulse"),
        ({"pulse": Pulse("0.5", 1e-6)}, "pulse must be a Pulse"),
        ({"plan": [(0.5, 1e-6)]}, "pulse must be a Pulse"),
        ({"plan": []}, "plan holds no pulse"),
    ],
)
def test_write_weights_refuses_before_any_pulse(chip, given, words):
    known = np.full((15, 15), 1e-9)  # every cell reads AP: all need a pulse
    with pytest.raises(InvalidRequest, match=words):
        write_weights(chip, 0, np.ones((15, 15), bool), known_conductance=known, **given)
    assert chip.program_calls == 0


@pytest.mark.parametrize("volts", [1e-300, 1e-320, float("inf"), True, "0.1"])
def test_a_conductance_map_is_not_read_at_a_voltage_that_gives_no_conductance(chip, volts):
    with pytest.raises(InvalidRequest, match="read voltage"):
        conductance_map(chip, 0, volts)
    assert chip.read_calls == 0


@pytest.mark.parametrize(
    ("given", "setting"),
    [
        ({"arrays": 3}, "arrays"),
        ({"read_voltage": "0.1"}, "read_voltage"),
        ({"bias_read_voltage": "0.2"}, "bias_read_voltage"),
        ({"pulse": (0.5, 1e-6)}, "pulse"),
        ({"pulse": Pulse(True, 1e-6)}, "pulse"),
        ({"reads": 10**9}, "reads"),
        ({"cycles": 10**12}, "cycles"),
        ({"remeasure_cycles": 101}, "remeasure_cycles"),
    ],
)
def test_a_characterisation_plan_is_refused_naming_the_field(chip, given, setting):
    with pytest.raises(SettingRefused) as err:
        check_plan(chip.layout, CharacterizationPlan(**given))
    assert err.value.setting == setting


@pytest.mark.parametrize(
    ("given", "setting"),
    [
        ({"min_active": float("nan")}, "min_active"),
        ({"min_active": 5.0}, "min_active"),
        ({"disturb_voltage": 0.0}, "disturb_voltage"),
        ({"loop_width": 0.0}, "loop_width"),
        ({"read_voltage": float("inf")}, "read_voltage"),
        ({"verify_rounds": -3}, "verify_rounds"),
        ({"loop_steps": 10**9}, "loop_steps"),
        ({"loop_devices": ((0, 1),)}, "loop_devices"),
        ({"loop_devices": (0, 1, 2)}, "loop_devices"),
        ({"loop_devices": ((0, 1.5, 2),)}, "loop_devices"),
        ({"loop_devices": ((0, True, 2),)}, "loop_devices"),
        ({"set_pulse": (0.5, 1e-6)}, "set_pulse"),
    ],
)
def test_a_switching_plan_is_refused_naming_the_field(chip, given, setting):
    plan = SwitchingPlan(arrays=(0,), amplitudes=(0.9,), widths=(1e-6,), **given)
    with pytest.raises(SettingRefused) as err:
        check_switching_plan(chip.layout, plan)
    assert err.value.setting == setting


@pytest.mark.parametrize("shape", [(0,), (0, 3), (0, 0)])
def test_an_empty_cell_list_of_the_wrong_shape_is_refused(chip, shape):
    with pytest.raises(InvalidRequest, match=r"expected \(n, 2\)"):
        chip.program(0, np.empty(shape, int), 1, chip.layout.nominal_pulse)
    chip.program(0, np.empty((0, 2), int), 1, chip.layout.nominal_pulse)  # no cell: fine


@pytest.mark.parametrize("state", [True, 1.0, 2, "P"])
def test_a_state_that_is_not_a_cell_state_is_refused(chip, state):
    with pytest.raises(InvalidRequest, match="state must be CellState"):
        chip.program(0, np.ones((15, 15), bool), state, chip.layout.nominal_pulse)
    assert chip.program_calls == 0


@pytest.mark.parametrize(
    "given", [{"threshold": "x"}, {"threshold": True}, {"known_conductance": "x"}]
)
def test_write_weights_refuses_maps_that_are_not_numbers(chip, given):
    with pytest.raises(InvalidRequest, match="must hold numbers"):
        write_weights(chip, 0, np.zeros((15, 15), bool), **given)
    assert chip.program_calls == 0


@pytest.mark.parametrize(
    "given",
    [{"cycles": 2.5}, {"reads": float("nan")}, {"verify_rounds": 3.5}, {"verify_rounds": 10**9}],
)
def test_measure_switching_refuses_counts_that_are_not_whole(chip, given):
    from mtj_hil.protocols.defects.detect import measure_switching

    with pytest.raises(InvalidRequest, match="cycles|reads|verify_rounds"):
        measure_switching(chip, 0, **given)
    assert chip.program_calls == 0


@pytest.mark.parametrize("state", [True, 1.0])
def test_a_sequence_refuses_a_state_that_is_not_a_cell_state(chip, state):
    from mtj_hil.protocols.sequence import WriteAll, run_sequence

    with pytest.raises(InvalidRequest, match="state must be CellState"):
        run_sequence(chip, 0, [WriteAll(state)])
    assert chip.program_calls == 0


def test_a_sequence_refuses_a_read_voltage_below_a_microvolt(chip):
    from mtj_hil.protocols.sequence import ReadMap, run_sequence

    with pytest.raises(InvalidRequest, match="at least 1e-06 V"):
        run_sequence(chip, 0, [ReadMap(1e-9)])
    assert chip.read_calls == 0
