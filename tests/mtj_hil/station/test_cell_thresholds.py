"""Per-cell thresholds through InstrumentChip on the virtual lab: on a low-TMR die the
switching trials' decisions serve the array only when each device is judged by its own
levels, which a firmware 1.4 board (threshold maps) allows and a 1.3 board does not."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from mtj_hil.instruments.errors import SafetyViolation
from mtj_hil.protocols import CellState
from mtj_hil.protocols.chip import Pulse
from mtj_hil.protocols.sequence import (
    PulseAll,
    ReadStates,
    cell_thresholds,
    run_on_host,
    run_sequence,
)
from mtj_hil.protocols.switching.trials import Trials
from mtj_hil.station.connect import open_station
from mtj_hil.station.files import station_from_dict

from .conftest import PULSE, STATION, one_point_plan

PLAN = one_point_plan()


@pytest.fixture(params=["1.4.0", "1.3.0"])
def low_tmr_chip(request, station_dict):
    """A 1t1r-low-tmr die on the virtual lab, its board at the firmware of the param."""
    data = copy.deepcopy(station_dict)
    data["die"]["profile"] = "1t1r-low-tmr"
    data["virtual_lab"]["board_firmware"] = request.param
    with open_station(station_from_dict(data, STATION)) as chip:
        yield chip


def test_decisions_serve_a_low_tmr_array_only_with_a_threshold_map(low_tmr_chip):
    chip = low_tmr_chip
    maps = chip.controller.identity.firmware == "1.4.0"
    assert cell_thresholds(chip) == maps
    runner = Trials(chip, 0, PLAN)
    rule = runner.choose_decisions()
    if not maps:  # one threshold for the die: too many cells on or across it
        # no integration reads enough cells within the bound: decisions (if any) hold the
        # cells to the precision margin only
        assert rule.standard == "precision margin" or rule.integration is None
        assert rule.unserved > rule.allowed
        assert rule.integration is None or rule.misread > rule.bound
        assert np.ndim(runner.threshold) == 0 and rule.thresholds == "die"
        return
    assert rule.integration is not None and rule.worst_margin > 0
    assert rule.thresholds == "per device" and rule.standard == "bound"
    assert len(rule.left_out) <= 0.02 * runner.left_out.size
    # each device's threshold lies between its own true levels
    die = chip.lab.die
    unresponsive = runner.unresponsive[CellState.P] | runner.unresponsive[CellState.AP]
    use = (die.defect[0] == 0) & ~runner.left_out & ~unresponsive
    thr = runner.threshold
    assert np.all((1 / die.r_ap[0][use] < thr[use]) & (thr[use] < 1 / die.r_p[0][use]))
    # trials by decisions count every served device, and their outcomes are the truth
    trials, switched = runner.run(CellState.P, Pulse(1.2, 1e-6), 2)
    assert (trials[use] == 2).mean() > 0.97 and switched[use].sum() > 0
    assert runner.known.dtype == bool  # the last trial's decisions: the states as they are
    np.testing.assert_array_equal(runner.known[use], die.state[0][use])


def test_board_and_host_judge_each_cell_by_the_same_threshold(station_dict):
    """The map's codes are each cell's threshold through the calibration, as a line's code
    is: a decision on the board and a precision read judged on the host agree on every cell
    far from its threshold."""
    data = copy.deepcopy(station_dict)
    data["die"]["profile"] = "1t1r-low-tmr"
    with open_station(station_from_dict(data, STATION)) as chip:
        die = chip.lab.die
        own = 0.5 * (1 / die.r_p[2] + 1 / die.r_ap[2])
        (board,) = run_sequence(chip, 2, [ReadStates(threshold=own, integration=1e-3)])
        (host,) = run_on_host(chip, 2, [ReadStates(threshold=own)])
        truth = die.state[2]
        good = die.defect[2] == 0
        assert np.array_equal(board[good], truth[good])
        assert np.array_equal(host[good], truth[good])


def test_two_maps_in_one_sequence_or_a_map_on_a_1_3_board_are_refused_before_a_pulse(
    station_dict,
):
    data = copy.deepcopy(station_dict)
    data["virtual_lab"]["board_firmware"] = "1.3.0"
    steps = [ReadStates(threshold=np.full((25, 25), 1.8e-4), integration=1e-3)]
    refused = pytest.raises(SafetyViolation, match="need a board with threshold maps")
    with open_station(station_from_dict(data, STATION)) as chip, refused:
        run_sequence(chip, 0, steps)
    data["virtual_lab"]["board_firmware"] = "1.4.0"
    with open_station(station_from_dict(data, STATION)) as chip:
        pulses = len(chip.lab.board.pulses)
        other = ReadStates(threshold=np.full((25, 25), 1.9e-4), integration=1e-3)
        with pytest.raises(SafetyViolation, match="step 2: a second threshold map"):
            run_sequence(chip, 0, [*steps, PulseAll(CellState.P, PULSE), other])
        assert len(chip.lab.board.pulses) == pulses


def test_devices_the_dies_threshold_cannot_verify_count_when_judged_by_their_own(
    station_dict,
):
    """On an early-process die a third of the good devices have a level across the die's
    one threshold: its write-verify gives up on them and they counted as unresponsive in
    every trial. Judged by their own midpoint they switch like the rest and count."""
    data = copy.deepcopy(station_dict)
    data["die"]["profile"] = "1t1r-early-process"
    with open_station(station_from_dict(data, STATION)) as chip:
        runner = Trials(chip, 0, PLAN)
        rule = runner.choose_decisions()
        die = chip.lab.die
        good = die.defect[0] == 0
        thr = chip.layout.threshold_g
        across = good & ((1 / die.r_p[0] < thr) | (1 / die.r_ap[0] > thr))
        assert across.sum() > 0.25 * good.sum()  # what the die's threshold cannot verify
        unresponsive = runner.unresponsive[CellState.P] | runner.unresponsive[CellState.AP]
        assert (good & ~unresponsive).sum() > 0.98 * good.sum()
        # the rule leaves out at most 10 % (the plan's decision_exclude) of the array more
        # than precision reads would: the devices too near their own threshold
        counted = good & ~unresponsive & ~runner.left_out
        assert len(rule.left_out) <= rule.allowed + 5 and counted.sum() > 0.88 * good.sum()
        own = runner.threshold
        assert np.all(((1 / die.r_ap[0] < own) & (own < 1 / die.r_p[0]))[counted])
        trials, _ = runner.run(CellState.P, Pulse(1.2, 1e-6), 1)
        assert trials[across & counted].mean() > 0.97  # they verify and count
