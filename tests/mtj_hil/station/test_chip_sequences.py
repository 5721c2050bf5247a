"""Protocol sequences through InstrumentChip: on the board (firmware 1.3), or one command at a
time on an older board (said once), with the same answers and the board left safe on faults."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from mtj_hil.errors import FallbackWarning
from mtj_hil.instruments.controller import ControllerError
from mtj_hil.instruments.errors import InstrumentError
from mtj_hil.protocols import CellState, CharacterizationPlan, MemorySink, Pulse, characterize_die
from mtj_hil.protocols.read import conductance_map
from mtj_hil.protocols.sequence import (
    KnownMap,
    PulseAll,
    ReadMap,
    ReadStates,
    WriteAll,
    run_sequence,
)
from mtj_hil.runs.jobs.characterization import run_characterization
from mtj_hil.runs.store import load_characterization
from mtj_hil.sim import SimulatedChip
from mtj_hil.station import chip_seq


def _old_firmware(chip) -> None:
    """Make the lab's board a firmware 1.2 board and let the driver see it."""
    board = chip.lab.board
    board.firmware, board.has_sequences, board.pipelined = "1.2.0", False, False
    chip.controller.identify()


def test_a_characterisation_runs_as_one_sequence_per_array_with_the_same_calls(lab_chip):
    plan = CharacterizationPlan(arrays=(0, 1))
    clock, board = lab_chip.lab.clock, lab_chip.lab.board
    t0, f0 = clock.transactions, board.frames
    measured = characterize_die(lab_chip, MemorySink(), plan)
    reference = characterize_die(SimulatedChip.from_lot("1t1r-20k", 0, 7), MemorySink(), plan)
    on_board = board.frames - f0
    # SEL, NEW, ADD.., RUN for the first array; SEL, RUN for the second, whose sequence is
    # the same and stays in the board's buffer (one command at a time: ~190); the cells
    # declared on the wrong side before each write but the first (a bitmap each) make the
    # one upload an ADD frame longer
    assert on_board <= 9
    # the rest is the SMUs' health check at each of the two array boundaries (queries only)
    assert clock.transactions - t0 - on_board <= 2 * 30
    np.testing.assert_array_equal(measured.codes, reference.codes)
    np.testing.assert_array_equal(measured.codes, lab_chip.lab.die.defect[:2])


def test_an_old_board_runs_the_steps_one_command_at_a_time_and_says_so_once(lab_chip, caplog):
    _old_firmware(lab_chip)
    steps = [WriteAll(CellState.P), ReadMap(0.1), PulseAll(CellState.AP, Pulse(1.0, 1e-6))]
    with (
        caplog.at_level(logging.WARNING, logger="mtj_hil.station.chip"),
        pytest.warns(FallbackWarning, match="1.2.0 runs no board-side sequences") as warned,
    ):
        first = run_sequence(lab_chip, 0, steps)
        run_sequence(lab_chip, 1, steps)
    said = [r for r in caplog.records if "no board-side sequences" in r.getMessage()]
    assert len(said) == 1 and "1.2.0" in said[0].getMessage()
    assert len(warned) == 1
    assert first[0].residual.sum() < 10 and first[1].shape == (1, 25, 25)
    assert (lab_chip.lab.die.state[0] == CellState.AP).mean() > 0.98  # the pulse was applied


def test_board_and_host_paths_give_the_same_write_reports(lab_chip):
    steps = [
        PulseAll(CellState.AP, Pulse(1.0, 1e-6)),
        WriteAll(CellState.P, rounds=3),
        ReadMap(0.1, repeats=2),
    ]
    on_board = run_sequence(lab_chip, 4, steps)
    transactions = lab_chip.lab.clock.transactions
    lab_chip.use_sequences = False
    on_host = run_sequence(lab_chip, 4, steps)
    assert lab_chip.lab.clock.transactions - transactions > 8
    for a, b in ((on_board[1], on_host[1]),):
        assert a.rounds >= 1 and b.rounds >= 1
        assert a.initial_errors > 600 and b.initial_errors > 600
        np.testing.assert_array_equal(a.residual, b.residual)  # the stuck devices
    assert np.median(np.abs(on_board[2] / on_host[2] - 1)) < 0.01


def test_a_known_map_saves_the_initial_read(lab_chip):
    g = run_sequence(lab_chip, 5, [WriteAll(CellState.AP), ReadMap(0.1)])[1][0]
    conversions = lab_chip.lab.board.conversions
    report = run_sequence(lab_chip, 5, [KnownMap(0.1, g), WriteAll(CellState.AP)])[1]
    assert report.rounds >= 0
    # no initial scan; with stuck devices all rounds run, each one scan of 25 rows
    assert lab_chip.lab.board.conversions - conversions == 25 * report.rounds


def test_a_run_aborted_on_the_board_leaves_it_safe_and_the_run_resumable(
    lab_chip, tmp_path, station_dict
):
    board = lab_chip.lab.board
    out = tmp_path / "char.h5"
    plan = CharacterizationPlan(arrays=(0, 1, 2))
    board.faults.abort_run_at_step = None
    calls = {"runs": 0}
    real = board._seq_run

    def run_and_abort_second_array():
        calls["runs"] += 1
        if calls["runs"] == 2:
            board.faults.abort_run_at_step = 5
        return real()

    board._seq_run = run_and_abort_second_array
    with pytest.raises(ControllerError, match="E10"):
        run_characterization(lab_chip, out, die_id="abort-test", plan=plan)
    s = board._state
    assert s.route == "OFF" and not s.vread.any() and not s.rows.any()
    assert lab_chip.closed  # the run closed the chip: board reset, SMU output off
    assert not lab_chip.lab.smu.output


def test_a_resumed_run_records_each_array_once(station_dict, tmp_path):
    from mtj_hil.station.connect import open_station
    from mtj_hil.station.files import station_from_dict

    from .conftest import STATION

    out = tmp_path / "char.h5"
    plan = CharacterizationPlan(arrays=(0, 1, 2))
    with open_station(station_from_dict(station_dict, STATION)) as chip:
        chip.lab.board.faults.drop_run_at_step = None
        real = chip.lab.board._seq_run
        count = {"n": 0}

        def drop_on_second():
            count["n"] += 1
            if count["n"] == 2:
                chip.lab.board.faults.drop_run_at_step = 3
            return real()

        chip.lab.board._seq_run = drop_on_second
        with pytest.raises(InstrumentError):
            run_characterization(chip, out, die_id="drop-test", plan=plan)
    assert load_characterization(out).arrays_done == [0]  # array 1 was lost, not half-stored
    with open_station(station_from_dict(station_dict, STATION)) as chip:
        runs = []
        real = chip.lab.board._seq_run
        chip.lab.board._seq_run = lambda: runs.append(1) or real()
        run_characterization(chip, out, die_id="drop-test", plan=plan, resume=True)
    assert len(runs) == 2  # arrays 1 and 2 only: array 0 is not measured again
    done = load_characterization(out)
    assert done.arrays_done == [0, 1, 2] and done.codes.shape == (3, 25, 25)


def test_a_sequence_split_into_runs_is_refused_whole_naming_the_callers_step(lab_chip):
    from mtj_hil.instruments.errors import SafetyViolation

    board = lab_chip.lab.board
    pulse = PulseAll(CellState.AP, Pulse(1.0, 1e-6))
    many = ReadMap(0.1, repeats=100)  # ~42 s of scans: more than one run on the board
    cases = [
        ([pulse, many, ReadMap(0.5)], SafetyViolation, r"step 2 \(ReadMap\): read voltage 0.5"),
        ([pulse, many, ReadMap(0.1, integration=1.0)], SafetyViolation, r"step 2 .*integration"),
        ([pulse, WriteAll(CellState.P, read_voltage=0.5)], SafetyViolation, r"step 1 \(WriteAll\)"),
        ([pulse, many, WriteAll(CellState.P, rounds=100)], InstrumentError, r"step 2 \(WriteAll\)"),
    ]
    for steps, error, match in cases:
        frames, pulses, reads = board.frames, len(board.pulses), board.conversions
        with pytest.raises(error, match=match):
            run_sequence(lab_chip, 3, steps)
        # nothing was sent: not the runs before the one holding the bad step, not a SEL
        assert (board.frames, len(board.pulses), board.conversions) == (frames, pulses, reads)


def test_an_empty_sequence_sends_nothing_and_leaves_the_board_state_known(lab_chip):
    board = lab_chip.lab.board
    frames = board.frames
    assert run_sequence(lab_chip, 0, []) == []
    assert board.frames == frames  # not even SEL
    # the chip's view of the board is still true: a read enables its lines as before
    g = conductance_map(lab_chip, 0, 0.1)
    assert g.shape == (1, 25, 25) and np.isfinite(g).all()


def test_runs_after_the_first_are_timed_with_the_integration_their_prefix_sets(
    lab_chip, monkeypatch
):
    """A long sequence of short-integration reads is split into runs; a later run gets its
    integration from the prefix it starts with, so it is checked with that prefix (timed
    alone, at the longest integration, it would seem too long for the board and the whole
    sequence would be refused)."""
    board = lab_chip.lab.board
    trial = [PulseAll(CellState.AP, Pulse(1.0, 1e-6)), ReadStates(0.1, integration=1e-3)]
    pulses = len(board.pulses)
    runs: list[list[tuple[int, int]]] = []
    split = chip_seq._chunks
    monkeypatch.setattr(chip_seq, "_chunks", lambda *a: runs.append(split(*a)) or runs[-1])
    out = run_sequence(lab_chip, 2, trial * 600)
    assert len(runs[0]) > 1, "the sequence must take several runs on the board"
    assert len(out) == 1200 and len(board.pulses) - pulses == 600


def test_a_1_3_board_without_the_seq_capability_is_told_what_is_missing(lab_chip):
    """Firmware 1.3 but no ``seq`` in IDN: not "they need firmware 1.3", which it has."""
    board = lab_chip.lab.board
    board.firmware, board.has_threshold_map = "1.3.0", False
    board.has_sequences = False  # IDN leaves out seq; fw stays 1.3.0
    lab_chip.controller.identify()
    assert lab_chip.controller.identity.firmware == "1.3.0"
    with pytest.raises(InstrumentError) as info:
        lab_chip.controller.check_sequence([])
    assert "does not list the seq capability" in str(info.value)
    assert "need firmware 1.3" not in str(info.value)
    with pytest.warns(FallbackWarning) as warned:
        run_sequence(lab_chip, 0, [ReadMap(0.1)])
    said = str(warned[0].message)
    assert "does not list the seq capability" in said and "need firmware 1.3" not in said


def test_a_1_3_board_whose_lim_gives_no_t_seqmax_runs_the_steps_one_at_a_time(lab_chip):
    """Without ``t_seqmax`` the host cannot time or split runs as the board allows: it took
    no limit, sent a 42 s run whole and the board refused it (E05, above its 30 s)."""
    board = lab_chip.lab.board
    real = board._cmd_lim
    board._cmd_lim = lambda args: ([f for f in real(args)[0] if "t_seqmax" not in f], 0.0)
    lab_chip.controller.identify()
    assert not lab_chip.controller.has_sequences
    with pytest.warns(FallbackWarning, match="does not give t_seqmax") as warned:
        (maps,) = run_sequence(lab_chip, 0, [ReadMap(0.1, repeats=100)])
    assert len(warned) == 1 and maps.shape == (100, 25, 25)


def _report_buffer(lab_chip, steps: int) -> None:
    """The virtual board reports a sequence buffer of ``steps`` (``IDN seq``)."""
    board = lab_chip.lab.board
    real = board._cmd_idn
    board._cmd_idn = lambda args: (
        [f"seq={steps}" if f.startswith("seq=") else f for f in real(args)[0]],
        0.0,
    )
    lab_chip.controller.identify()


@pytest.mark.parametrize("steps", [1, 6])
def test_a_1_3_board_whose_buffer_holds_no_run_runs_the_steps_one_at_a_time(lab_chip, steps):
    """A buffer (``IDN seq``) smaller than a run's set-up and one step: every sequence was
    refused (no run fits); now the host falls back and says why, once."""
    _report_buffer(lab_chip, steps)
    assert lab_chip.controller.identity.sequence_steps == steps
    assert not lab_chip.controller.has_sequences
    with pytest.warns(FallbackWarning, match=f"buffer holds {steps} steps") as warned:
        (maps,) = run_sequence(lab_chip, 0, [ReadMap(0.1, repeats=3)])
        run_sequence(lab_chip, 1, [ReadMap(0.1)])
    assert len(warned) == 1 and maps.shape == (3, 25, 25)


def test_a_1_3_board_whose_buffer_holds_one_run_runs_sequences(lab_chip):
    """The smallest buffer that holds a run's set-up and one step still runs sequences."""
    from mtj_hil.instruments.controller.sequence import MIN_SEQUENCE_STEPS

    _report_buffer(lab_chip, MIN_SEQUENCE_STEPS)
    assert lab_chip.controller.has_sequences
    (maps,) = run_sequence(lab_chip, 0, [ReadMap(0.1, repeats=3)])
    assert maps.shape == (3, 25, 25)
