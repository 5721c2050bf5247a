"""The station's DACs drive 0..+V only: a negative read voltage is refused as a bad request
(InvalidRequest, saying so) before anything is sent, within the envelope's bound or not."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.protocols import InvalidRequest


@pytest.mark.parametrize("volts", [-0.05, -1e-6])
def test_a_negative_read_voltage_is_refused_and_nothing_is_sent(lab_chip, volts):
    board, smu = lab_chip.lab.board, lab_chip.lab.smu
    frames, smu_lines = board.frames, len(smu.transcript)
    v = np.zeros((4, 25))
    v[3, 7] = volts  # inside the envelope's +-bound, but below 0 V
    with pytest.raises(InvalidRequest, match=r"0\.\.\+V"):
        lab_chip.read(0, v)
    assert board.frames == frames and len(smu.transcript) == smu_lines
