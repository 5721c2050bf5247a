"""A sequence the board would refuse is refused by the host first, whole, naming the step:
not only pulses and read voltages but every step as written (ranges, integrations, bit
maps, line indices, codes), so no partial upload ever reaches the board."""

from __future__ import annotations

import pytest

from mtj_hil.instruments.controller.sequence import (
    CheckMask,
    Enable,
    Integration,
    Known,
    PulseStep,
    Range,
    Scan,
    SequenceRefused,
    WriteVerify,
)
from mtj_hil.instruments.errors import InstrumentError, SafetyViolation

from .conftest import BENCH_ENVELOPE

EVERY = tuple(range(25))
THR = (2400,) * 25
WIDTHS = tuple(round(1e-7 * (i + 1), 10) for i in range(40))


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (Range(5e-4), "converter range"),
        (Range(float("nan")), "nan"),
        (Integration(1.0), "integration"),
        (Integration(float("inf")), "inf"),
        (Known(0.1, (False,) * 10), "mask"),
        (CheckMask((True,) * 626), "mask"),
        (Enable((25,), EVERY), "line index 25"),
        (WriteVerify("POS", 1e-6, 0.1, True, (1.0,), (5000,) * 25), "code 5000"),
        (PulseStep("UP", 1.0, 1e-6), "polarity"),
        # 40 rounds of their own widths: a token longer than one SEQ ADD frame carries
        (WriteVerify("POS", 1e-7, 0.1, True, (1.0,) * 40, THR, widths=WIDTHS), "SEQ ADD frame"),
        # every round has its own width, but the step's width goes on the wire as well
        (WriteVerify("POS", 1.0, 0.1, True, (1.0,), THR, widths=(1e-6,)), "width 1.0 s"),
        (PulseStep("POS", "1.0", 1e-6), "not a number"),
        (Scan(None), "finite"),
    ],
)
def test_a_step_the_board_would_refuse_is_refused_before_any_byte_is_sent(lab, bad, reason):
    board, ctrl = lab
    ctrl.envelope = BENCH_ENVELOPE
    ctrl.select_array(0)
    good = [Enable(EVERY, EVERY), Range(1e-4), PulseStep("POS", 1.0, 1e-6), Scan(0.1)]
    frames, pulses = board.frames, len(board.pulses)
    with pytest.raises(
        SafetyViolation, match=rf"step 2 \({type(bad).__name__}\).*{reason}"
    ) as info:
        ctrl.run_sequence([*good[:2], bad, *good[2:]])
    assert isinstance(info.value, SequenceRefused) and info.value.index == 2
    assert board.frames == frames and len(board.pulses) == pulses  # nothing went out
    assert len(ctrl.run_sequence(good)) == 1  # the board's buffer was never touched


_BOARD = dict(vpulse_max=1.0, width_min=1e-8, width_max=1e-3, vread_min=0.0, vread_max=0.3)


@pytest.mark.parametrize(
    ("step", "reason"),
    [
        (PulseStep("POS", 1.01, 1e-6), "amplitude"),
        (PulseStep("POS", float("nan"), 1e-6), "amplitude"),
        (PulseStep("NEG", -0.5, 1e-6), "amplitude"),
        (PulseStep("POS", 0.5, 2e-3), "width"),
        (PulseStep("POS", 0.5, float("inf")), "width"),
        (Scan(0.31), "read voltage"),
        (Scan(float("nan")), "read voltage"),
        (Known(-0.01, (True,)), "read voltage"),
        (WriteVerify("POS", 1e-6, 0.1, True, (0.5, 1.5), THR), "amplitude"),
        (WriteVerify("POS", 1e-6, 0.4, True, (0.5,), THR), "read voltage"),
    ],
)
def test_the_boards_own_limits_refuse_a_step_without_a_station_envelope(step, reason):
    """With no envelope the board's limits alone stand between a step and the die."""
    from mtj_hil.instruments.controller.sequence import check_steps

    with pytest.raises(SequenceRefused, match=reason) as info:
        check_steps([Scan(0.1), step], **_BOARD)
    assert info.value.index == 1
    check_steps([PulseStep("POS", 1.0, 1e-3), PulseStep("NEG", 0.0, 1e-8), Scan(0.3)], **_BOARD)


def test_a_scan_beyond_the_boards_read_limits_is_refused_by_the_driver(lab):
    """No station envelope: the driver's own check of the board's limits refuses it (the
    board would answer with an error; the driver never lets it get that far)."""
    board, ctrl = lab
    lim = ctrl.identity.limits
    frames, pulses = board.frames, len(board.pulses)
    for volts in (lim.vread_max + 0.01, lim.vread_min - 0.01):
        with pytest.raises(SafetyViolation, match="read voltage"):
            ctrl.scan(volts)
    assert board.frames == frames and len(board.pulses) == pulses  # nothing went out


def test_a_sequence_longer_than_the_boards_buffer_is_refused_before_upload(lab):
    board, ctrl = lab
    ctrl.select_array(0)
    frames = board.frames
    steps = [Scan(0.1)] * (ctrl.identity.sequence_steps + 1)
    with pytest.raises(InstrumentError, match="buffer"):
        ctrl.run_sequence(steps)
    assert board.frames == frames  # nothing went out


@pytest.mark.parametrize(
    ("after", "reason"),
    [
        ([Enable((), ()), Scan(0.1)], "no input line"),
        (
            [Enable((0,), ()), PulseStep("NEG", 1.0, 1e-6)],
            "a pulse with no input or no output line",
        ),
        ([Enable((), EVERY), WriteVerify("POS", 1e-6, 0.1, True, (1.0,), THR)], "no input line"),
    ],
)
def test_a_step_needing_lines_the_run_left_disabled_is_refused_before_upload(lab, after, reason):
    """The board would stop the run there (E06), after the pulse before it."""
    board, ctrl = lab
    ctrl.envelope = BENCH_ENVELOPE
    ctrl.select_array(0)
    frames, pulses = board.frames, len(board.pulses)
    steps = [Enable(EVERY, EVERY), PulseStep("POS", 1.0, 1e-6), *after]
    with pytest.raises(SequenceRefused, match=rf"step 3 \({type(after[1]).__name__}\): {reason}"):
        ctrl.run_sequence(steps)
    assert board.frames == frames and len(board.pulses) == pulses
