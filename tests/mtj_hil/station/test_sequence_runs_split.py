"""A protocol sequence longer than the board's buffer is split into runs that each fit it
with the prefix the run starts with (lines, range, integration, check mask and the host's
latest view of the cells at each write-verify voltage of the run)."""

from __future__ import annotations

from mtj_hil.protocols import CellState, Pulse
from mtj_hil.protocols.sequence import PulseAll, WriteAll, run_sequence
from mtj_hil.protocols.write import WriteReport
from mtj_hil.station import chip_seq

VOLTS = (0.05, 0.08, 0.1, 0.12, 0.15, 0.2, 0.25)


def test_a_run_with_write_verifies_at_many_voltages_keeps_room_for_their_prefix(
    lab_chip, monkeypatch
):
    """Seven write-verify voltages and a thousand cheap pulses: the first run's prefix
    holds a known map per voltage, more than the six steps the split kept free, so the
    valid sequence was refused whole ("1026 steps exceeds the board's buffer of 1024")."""
    steps = [WriteAll(CellState.P, read_voltage=v, decide=True, integration=1e-4) for v in VOLTS]
    steps += [PulseAll(CellState.AP, Pulse(1.0, 1e-6))] * 1010
    board = lab_chip.lab.board
    pulses = len(board.pulses)
    runs: list[list[tuple[int, int]]] = []
    split = chip_seq._chunks
    monkeypatch.setattr(chip_seq, "_chunks", lambda *a: runs.append(split(*a)) or runs[-1])
    out = run_sequence(lab_chip, 4, steps)
    assert len(runs[0]) == 2  # more than one run
    assert [type(r) for r in out[: len(VOLTS)]] == [WriteReport] * len(VOLTS)
    assert len(out) == len(steps) and len(board.pulses) - pulses >= 1010
