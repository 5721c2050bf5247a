"""The host's deadline for a ``SEQ RUN`` (docs/chip-protocol.md section 10.3) covers the
slowest run its steps can make, including rows converted again on larger ranges after
saturating: a healthy board is never given up on as one that stopped answering."""

from __future__ import annotations

from mtj_hil.instruments.controller.sequence import Enable, Range, Scan
from mtj_hil.sim.die import DefectCode

EVERY = tuple(range(25))


def test_a_run_whose_rows_all_saturate_ends_within_the_hosts_deadline(lab, monkeypatch):
    """A short on output line 0 of every row: each row of a scan on the 1e-5 A range
    saturates and is converted again on 1e-4 and 1e-3 A (three times the scan time). The
    deadline was twice the run without those conversions: the modelled board took 12.7 s
    for ten such scans against a deadline of 12.2 s."""
    board, ctrl = lab
    board.die.defect[0][:, 0] = int(DefectCode.SHORT)
    ctrl.select_array(0)
    deadlines: list[float] = []
    real_timeout = ctrl._operation_timeout
    monkeypatch.setattr(
        ctrl, "_operation_timeout", lambda *a: deadlines.append(real_timeout(*a)) or deadlines[-1]
    )
    took: list[float] = []
    real_run = board._seq_run
    monkeypatch.setattr(board, "_seq_run", lambda: took.append((out := real_run()).duration) or out)
    frames = ctrl.run_sequence([Enable(EVERY, EVERY), Range(1e-5), *[Scan(0.3)] * 10])
    assert all(r.lsb[0] > 2 * 1e-4 / 4096 for r in frames)  # converted again, up to 1e-3 A
    (duration,) = took
    assert duration < deadlines[-1], (duration, deadlines[-1])
