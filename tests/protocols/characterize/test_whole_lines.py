"""Whole lines and arrays that read OPEN are named, with what tells a die's open line from
a dead converter channel or driver (``protocols/defects/whole_lines.py``)."""

from __future__ import annotations

import numpy as np

from mtj_hil.protocols import CharacterizationPlan, MemorySink, characterize_die
from mtj_hil.protocols.defects.codes import DefectCode
from mtj_hil.protocols.defects.whole_lines import whole_line_warnings
from mtj_hil.sim import SimulatedChip

OPEN, GOOD = DefectCode.OPEN, DefectCode.GOOD


class DeadConverterLine(SimulatedChip):
    """A die read through a converter whose channel of one output line stopped answering:
    that line reads no current, in whichever array is selected."""

    dead = 7

    def read(self, array, voltages):
        currents = super().read(array, voltages)
        currents[..., self.dead] = 0.0
        return currents


def _whole_line(warnings: list[str]) -> list[str]:
    return [w for w in warnings if "OPEN along" in w or "whole" in w or "throughout" in w]


def test_a_dead_converter_channel_is_told_from_an_open_line_of_the_die():
    """A converter channel that died after calibration read as an output line OPEN in every
    array, 25 x N devices recorded OPEN without a word about the read path."""
    chip = DeadConverterLine(SimulatedChip.from_lot("1t1r-20k", 0, 3).die)
    plan = CharacterizationPlan(arrays=(0, 5, 9), cycles=2, remeasure_cycles=0)
    result = characterize_die(chip, MemorySink(), plan)
    assert (result.codes[:, :, 7] == OPEN).all()
    said = _whole_line(result.warnings)
    assert len(said) == 1, result.warnings
    assert "output line 7 reads OPEN along its whole length in all 3 arrays" in said[0]
    assert "converter channel of output line 7" in said[0]


def test_a_healthy_die_gets_no_whole_line_warning():
    result = characterize_die(
        SimulatedChip.from_lot("1t1r-20k", 0, 3),
        MemorySink(),
        CharacterizationPlan(arrays=(0, 5, 9), cycles=2, remeasure_cycles=0),
    )
    assert _whole_line(result.warnings) == []


def _codes(n_arrays: int = 3) -> np.ndarray:
    return np.full((n_arrays, 5, 4), GOOD)


def test_lines_open_in_one_array_only_are_the_die_s():
    codes = _codes()
    codes[1, :, 2] = OPEN  # an output line of array 1 (the die's array 11)
    codes[2, 3, :] = OPEN  # an input line of array 2
    said = whole_line_warnings(codes, [4, 11, 20])
    assert said == [
        "whole output lines read OPEN: array 11 output line 2 (open lines on the die, or "
        "their contacts)",
        "whole input lines read OPEN: array 20 input line 3 (open lines on the die, or "
        "their contacts)",
    ]


def test_an_input_line_open_in_every_array_points_at_its_driver():
    codes = _codes()
    codes[:, 1, :] = OPEN
    (said,) = whole_line_warnings(codes, [0, 1, 2])
    assert said.startswith("input line 1 reads OPEN along its whole length in all 3 arrays")
    assert "the driver of input line 1" in said


def test_a_dead_array_is_named_once_not_as_lines():
    codes = _codes()
    codes[0] = OPEN
    codes[2, :, 0] = OPEN
    said = whole_line_warnings(codes, [3, 4, 5])
    assert said[0].startswith("array 3 read OPEN throughout: a dead array, or no contact")
    assert said[1].startswith("whole output lines read OPEN: array 5 output line 0 ")
    assert len(said) == 2  # the dead array's lines are not listed, nor common to the rest


def test_one_array_cannot_tell_and_says_how_to():
    codes = _codes(1)
    codes[0, :, 3] = OPEN
    (said,) = whole_line_warnings(codes, [8])
    assert "array 8 output line 3" in said
    assert "a dead converter channel reads the same: measure a second array" in said


def test_a_long_list_is_cut_short():
    codes = np.full((1, 3, 10), OPEN)
    codes[0, 0, 0] = GOOD  # not a dead array: output lines 1..9 and input lines 1, 2 are open
    said = whole_line_warnings(codes, [0])
    assert "array 0 output line 6 and 3 more" in said[0]
    assert said[1].startswith("whole input lines read OPEN: array 0 input line 1, array 0 input")
