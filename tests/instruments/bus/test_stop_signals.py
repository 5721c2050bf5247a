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


class _SignalledWhileFinalised:
    """An object whose finaliser is running when ``sig`` arrives (as a Ctrl-C landing in a
    WeakValueDictionary's callback did in a real run): Python drops what it raises."""

    def __init__(self, sig: int) -> None:
        self.sig = sig

    def __del__(self) -> None:
        os.kill(os.getpid(), self.sig)
        for _ in range(10_000):  # the handler runs here, inside the finaliser
            pass


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_that_lands_in_a_finaliser_still_stops_the_run(sig, capsys):
    # the StopSignal was dropped there, and every later signal was then refused as
    # "already stopping": only SIGKILL could end the run
    loops = 0
    with pytest.raises(StopSignal) as info, stop_signals_raise():
        _SignalledWhileFinalised(sig)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the measurement goes on...
            loops += 1
    assert info.value.signum == sig and loops > 0  # ...until the signal is sent again
    assert "already stopping" not in capsys.readouterr().err


def test_a_signal_ignored_before_the_run_stays_ignored():
    # nohup ignores SIGHUP so a run survives logout: the run re-armed it and was aborted
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with stop_signals_raise():
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.05)
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)
