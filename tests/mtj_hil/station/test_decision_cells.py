"""Decision reads on a die where a few cells sit on or near the threshold: those cells are
left out of the rule and of the trials (named in the record), the rest of the array reads as
decisions; with no share allowed the whole array keeps precision reads, as before."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from mtj_hil.protocols import CellState
from mtj_hil.protocols.defects.codes import DefectCode
from mtj_hil.protocols.sequence import run_on_host, run_sequence
from mtj_hil.protocols.switching.procedure import SwitchingPlan
from mtj_hil.protocols.switching.trials import Trials
from mtj_hil.station.connect import open_station
from mtj_hil.station.files import station_from_dict

from .conftest import PULSE, STATION, one_point_plan


def _plan(share: float, precision_margin: float = 2.0) -> SwitchingPlan:
    return one_point_plan(decision_exclude=share, precision_margin=precision_margin)


@pytest.fixture
def spread_chip(station_dict):
    """A 1t1r-wide-spread die on the virtual lab of a firmware 1.3 board (one threshold for
    the die: a few of its cells lie near it, a 5 ms integration cannot read 35 of them
    within 1e-6)."""
    data = copy.deepcopy(station_dict)
    data["die"]["profile"] = "1t1r-wide-spread"
    data["virtual_lab"]["board_firmware"] = "1.3.0"
    with open_station(station_from_dict(data, STATION)) as chip:
        yield chip


def test_cells_no_integration_serves_are_left_out_and_named(spread_chip):
    chip = spread_chip
    plan = _plan(0.1)
    runner = Trials(chip, 0, plan)
    rule = runner.choose_decisions()
    assert rule is not None and rule.integration is not None  # decisions for the array
    left = np.zeros(runner.shape, bool)
    left[tuple(np.array(rule.left_out).T)] = True
    assert 0 < rule.unserved <= left.sum() <= rule.allowed == 62  # 10 % of 625
    assert sum(rule.why.values()) == left.sum()
    assert np.array_equal(runner.left_out, left)
    # the left-out cells are those whose true margin is small; none far from the threshold
    die = chip.lab.die
    v, thr = plan.read_voltage, chip.layout.threshold_g
    margin = np.minimum(1 / die.r_p[0] - thr, thr - 1 / die.r_ap[0]) * v  # A
    assert margin[left].max() < 2e-6 < np.median(margin[~left])
    # they never count in the trials, every other verified cell does
    trials, switched = runner.run(CellState.AP, PULSE, 2)
    assert trials[left].sum() == 0 and switched[left].sum() == 0
    assert (trials[~left] == 2).mean() > 0.9


def test_no_share_allowed_keeps_precision_reads_for_the_whole_array(spread_chip):
    """Share 0 and no precision margin: the rule as it was (all or nothing); with a
    precision margin, the cells a precision read misreads too often are left out."""
    runner = Trials(spread_chip, 0, _plan(0.0, precision_margin=0.0))
    rule = runner.choose_decisions()
    assert rule.integration is None and rule.left_out == () and rule.allowed == 0
    assert rule.unserved > 0 and not runner.left_out.any()
    trials, _ = runner.run(CellState.AP, PULSE, 1)
    assert runner.t_dec is None and trials.sum() > 0.9 * trials.size
    runner = Trials(spread_chip, 0, _plan(0.0))
    rule = runner.choose_decisions()
    assert rule.integration is None and 0 < len(rule.left_out) < rule.unserved
    assert set(rule.why) <= {"no margin", "precision margin"}
    assert sum(rule.why.values()) == len(rule.left_out) == runner.left_out.sum()
    trials, _ = runner.run(CellState.AP, PULSE, 1)
    assert trials[runner.left_out].sum() == 0


def test_board_and_host_check_the_same_cells(spread_chip):
    """A trial's write checks neither the left-out cells nor the unresponsive ones, on the
    board (a firmware 1.3 sequence) and on the host (one call at a time) alike."""
    runner = Trials(spread_chip, 0, _plan(0.1))
    runner.choose_decisions()
    assert runner.left_out.any()
    write = runner._write(CellState.P)
    skip = runner.unresponsive[CellState.P] | runner.left_out
    reports = [run(spread_chip, 0, [write])[0] for run in (run_sequence, run_on_host)]
    for report in reports:
        assert np.array_equal(report.selected, ~skip)
        assert not (report.residual & skip).any()
        valid = runner._verified(CellState.P, report)
        assert not (valid & runner.left_out).any()


def test_an_open_output_line_costs_its_own_cells_only(station_dict):
    """An output line open across the array has no verified cell, so no noise estimate.
    Its cells are left out; the other lines keep their decisions. (One such line used to
    make every line's noise unknown: the whole array was left out of the trials.)"""
    with open_station(station_from_dict(station_dict, STATION)) as chip:
        die = chip.lab.die
        die.defect[0][:, 7] = DefectCode.OPEN
        die.invalidate_tables(0)
        runner = Trials(chip, 0, _plan(0.1))
        rule = runner.choose_decisions()
        assert rule.integration is not None and np.isfinite(rule.sigma)
        assert not runner.left_out[:, np.arange(25) != 7].any()
        trials, _ = runner.run(CellState.AP, PULSE, 1)
        good = die.defect[0] == DefectCode.GOOD
        assert trials[:, 7].sum() == 0 and trials[good].mean() > 0.97
