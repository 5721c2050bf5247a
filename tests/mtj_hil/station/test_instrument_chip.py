"""The hardware backend end to end against the virtual lab: same protocols, same answers."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.instruments.errors import InstrumentError, SafetyViolation
from mtj_hil.protocols import (
    CellState,
    CharacterizationPlan,
    Chip,
    DefectCode,
    MemorySink,
    Pulse,
    characterize_die,
    conductance_map,
)
from mtj_hil.runs.jobs.characterization import run_characterization
from mtj_hil.runs.store import load_characterization
from mtj_hil.sim import SimulatedChip
from mtj_hil.station.chip import rectangles
from mtj_hil.station.connect import open_station
from mtj_hil.station.files import station_from_dict

from .conftest import STATION


@pytest.mark.slow
def test_instrument_chip_is_a_chip(lab_chip):
    assert isinstance(lab_chip, Chip)
    assert lab_chip.layout.n_devices == 20_000
    info = lab_chip.describe()
    assert info["instruments"]["smu:sense"].startswith("KEITHLEY")
    assert info["station"]["name"] == "virtual-lab"


@pytest.mark.slow
def test_maps_and_defect_calls_agree_with_the_in_process_simulator(lab_chip, capsys):
    plan = CharacterizationPlan(arrays=(0, 1, 2, 3))
    measured = characterize_die(lab_chip, MemorySink(), plan)
    reference = characterize_die(SimulatedChip.from_lot("1t1r-20k", 0, 7), MemorySink(), plan)
    good = (measured.codes == 0) & (reference.codes == 0)
    rel = np.abs(measured.g_p[good] / reference.g_p[good] - 1)
    disagree = measured.codes != reference.codes
    # A device may only be classified differently if it sits within noise of a threshold.
    t = reference.thresholds
    near = np.zeros_like(disagree)
    for thr in (t.state_g, t.short_g, t.open_g):
        for g in (reference.g_p, reference.g_ap):
            near |= np.abs(np.log(np.maximum(g, 1e-12) / thr)) < 0.05
    with capsys.disabled():
        print(
            f"\nvirtual lab vs in-process simulator, 4 arrays: {int(disagree.sum())} of "
            f"{disagree.size} devices classified differently ({int(near.sum())} within 5 % "
            f"of a threshold); median |dG_P|/G_P {np.median(rel):.4f}"
        )
    assert not (disagree & ~near).any()
    assert np.median(rel) < 0.01
    np.testing.assert_array_equal(measured.codes, lab_chip.lab.die.defect[:4])


@pytest.mark.slow
def test_plan_outside_the_envelope_sends_nothing(lab_chip):
    board, smu = lab_chip.lab.board, lab_chip.lab.smu
    frames, smu_lines = board.frames, len(smu.transcript)
    cells = np.ones((25, 25), bool)
    with pytest.raises(SafetyViolation, match="amplitude"):
        lab_chip.program(0, cells, CellState.P, Pulse(1.3, 1e-6))
    with pytest.raises(SafetyViolation, match="width"):
        lab_chip.program(0, cells, CellState.P, Pulse(1.0, 1e-3))
    volts = np.zeros((100, 25))
    volts[99, 3] = 0.31  # the last vector of a batch is out of bounds: nothing is read
    with pytest.raises(SafetyViolation, match="read voltage"):
        lab_chip.read(0, volts)
    assert board.frames == frames
    assert len(smu.transcript) == smu_lines
    assert board.pulses == []


@pytest.mark.slow
def test_program_writes_exactly_the_selected_cells(lab_chip):
    die = lab_chip.lab.die
    die.state[5] = False
    mask = np.zeros((25, 25), bool)
    mask[[1, 1, 4, 7], [2, 9, 2, 20]] = True
    lab_chip.program(5, mask, CellState.P, Pulse(1.1, 1e-5))
    good = die.defect[5] == DefectCode.GOOD
    assert (die.state[5] & good).sum() <= 4
    assert not (die.state[5] & ~mask).any()
    assert sum(n for _, n, *_ in lab_chip.lab.board.pulses) == 4


@pytest.mark.parametrize("seed", range(5))
def test_rectangles_cover_a_mask_exactly(seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((25, 25)) < rng.uniform(0.01, 0.9)
    cover = np.zeros_like(mask, dtype=int)
    for rows, cols in rectangles(mask):
        cover += np.outer(rows, cols)
    np.testing.assert_array_equal(cover, mask.astype(int))
    assert len(rectangles(np.ones((25, 25), bool))) == 1


@pytest.mark.slow
def test_outputs_are_off_after_a_normal_exit_and_after_an_exception(station_dict):
    station = station_from_dict(station_dict, STATION)
    with open_station(station) as chip:
        lab = chip.lab
        chip.read(0, np.full((1, 25), 0.1))
        assert lab.smu.output
    assert not lab.smu.output
    assert lab.board._state.route == "OFF"
    with pytest.raises(RuntimeError), open_station(station) as chip:
        lab = chip.lab
        chip.read(0, np.full((1, 25), 0.1))
        raise RuntimeError("operator error")
    assert not lab.smu.output
    assert lab.board._state.route == "OFF"
    with pytest.raises(KeyboardInterrupt), open_station(station) as chip:
        lab = chip.lab
        raise KeyboardInterrupt
    assert not lab.smu.output


@pytest.mark.slow
def test_smu_read_path_measures_the_same_conductances(station_dict):
    station_dict["station"]["read_path"] = "smu"
    with open_station(station_from_dict(station_dict, STATION)) as chip:
        vectors = np.zeros((2, 25))
        vectors[0, 3] = vectors[1, 17] = 0.1
        currents = chip.read(2, vectors)
        truth = chip.lab.die.conductance(2)[[3, 17]] * 0.1
        ok = truth > 1e-6
        np.testing.assert_allclose(currents[ok], truth[ok], rtol=0.03)
        # one transaction per line and vector, plus routing: the slow, precise path
        assert chip.lab.smu.points_measured == 50


@pytest.mark.slow
def test_instrument_that_stops_answering_aborts_and_resume_finishes(station_dict, tmp_path):
    station = station_from_dict(station_dict, STATION)
    out = tmp_path / "run.h5"
    plan = CharacterizationPlan(arrays=(0, 1, 2, 3), cycles=2)
    die_id = "sim:1t1r-20k:lot0:die7"
    with open_station(station) as chip:
        board = chip.lab.board

        def hang_after_two(done, total, array):
            if done == 2:
                board.faults.dead = True

        with pytest.raises(InstrumentError, match="timeout"):
            run_characterization(chip, out, die_id=die_id, plan=plan, progress=hang_after_two)
        lab = chip.lab
    assert not lab.smu.output
    partial = load_characterization(out)
    assert partial.attrs["status"] == "aborted"
    assert "instrument error" in partial.attrs["status_reason"]
    assert partial.arrays_done == [0, 1]
    with open_station(station) as chip:
        run_characterization(chip, out, die_id=die_id, plan=plan, resume=True)
        frames = chip.lab.board.frames
    done = load_characterization(out)
    assert done.attrs["status"] == "completed"
    assert done.arrays_done == [0, 1, 2, 3]
    np.testing.assert_array_equal(done.codes, lab.die.defect[:4])
    assert frames < 1000  # only the two unfinished arrays were measured again


@pytest.mark.slow
def test_conductance_map_through_the_lab(lab_chip):
    g = conductance_map(lab_chip, 6, repeats=2)
    truth = lab_chip.lab.die.conductance(6)
    ok = truth > 1e-6
    np.testing.assert_allclose(g.mean(axis=0)[ok], truth[ok], rtol=0.03)


@pytest.mark.slow
def test_smu_read_through_a_board_whose_watchdog_fired_is_refused_not_returned(station_dict):
    """A board watchdog shorter than one SMU measurement (modelled time): the reading taken
    after the board went safe is refused with the watchdog named, and the cached board
    state is dropped so the next call re-routes."""
    from mtj_hil.instruments.controller import HostWatchdogFired

    station_dict["station"]["read_path"] = "smu"
    with open_station(station_from_dict(station_dict, STATION)) as chip:
        chip.lab.board.watchdog_s = 1e-4  # s of modelled time: less than one integration
        chip.controller.keepalive_s = 0.0  # check after every measurement
        vectors = np.zeros((1, 25))
        vectors[0, 3] = 0.1
        with pytest.raises(HostWatchdogFired, match="STAT flag bit 4"):
            chip.read(2, vectors)
        assert chip._route is None and chip._array is None  # cache forgotten
        chip.lab.board.watchdog_s = 60.0
        chip.controller.reset()
        currents = chip.read(2, vectors)  # re-selects and re-routes from scratch
        truth = chip.lab.die.conductance(2)[3] * 0.1
        ok = truth > 1e-6
        np.testing.assert_allclose(currents[0][ok], truth[ok], rtol=0.03)
