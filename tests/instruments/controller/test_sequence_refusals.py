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
from mtj_hil.instruments.errors import SafetyViolation

from .conftest import BENCH_ENVELOPE

EVERY = tuple(range(25))
THR = (2400,) * 25


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
