"""SIGTERM, SIGHUP and SIGQUIT take Ctrl-C's path: raised as StopSignal, held back during a
bus transaction, and only once (the shutdown after the first cannot be cut short)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from mtj_hil.instruments.bus.signals import StopSignal, stop_signals_raise
from mtj_hil.instruments.bus.transport import transaction


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT])
def test_stop_signal_waits_for_the_transaction_then_raises(sig):
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    steps = []
    with pytest.raises(StopSignal) as info, stop_signals_raise():
        with transaction("test://stop"):
            steps.append("write")
            os.kill(os.getpid(), sig)
            time.sleep(0.05)
            steps.append("read")
        steps.append("after")
    assert steps == ["write", "read"]
    assert info.value.exit_code == 128 + sig
    assert isinstance(info.value, KeyboardInterrupt)
    assert {s: signal.getsignal(s) for s in before} == before


def test_a_second_signal_does_not_cut_the_shutdown_short(capsys):
    cleaned = []
    with pytest.raises(StopSignal), stop_signals_raise():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # e.g. systemd repeating itself
            time.sleep(0.05)
            cleaned.append(True)
    assert cleaned == [True]
    assert "already stopping safely" in capsys.readouterr().err
