"""Tests of instruments/transport.py: port locks, Ctrl-C deferral, timeouts, retries."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from mtj_hil.instruments.bus.transport import (
    call_with_retries,
    defer_sigint,
    drain_input,
    measurement_timeout,
    normalise_port_name,
    port_lock,
    scaled_timeout,
    serial_transfer_time,
    transaction,
)
from mtj_hil.instruments.errors import InstrumentError, InstrumentTimeout

# --- port locks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("COM3", "com3"),
        (" COM3 ", r"\\.\COM3"),
        ("GPIB0::24::INSTR", "gpib0::24"),
        ("/dev/ttyACM0", "/dev/ttyACM0 "),
    ],
)
def test_same_port_same_lock(a, b):
    assert normalise_port_name(a) == normalise_port_name(b)
    assert port_lock(a) is port_lock(b)


def test_different_ports_different_locks():
    assert port_lock("/dev/ttyACM0") is not port_lock("/dev/ttyACM1")
    assert port_lock("/dev/ttyACM0") is not port_lock("/dev/TTYACM0")  # POSIX is case-sensitive


def test_lock_serialises_two_threads_transactions():
    """Each 'transaction' writes a request, waits, reads its reply; nothing may interleave."""
    wire: list[str] = []
    errors: list[BaseException] = []

    class Port:
        pending: str | None = None

        def write(self, who: str) -> None:
            assert self.pending is None, f"{who} wrote while {self.pending} awaited its reply"
            self.pending = who
            wire.append(f"w{who}")

        def read(self, who: str) -> None:
            assert self.pending == who
            self.pending = None
            wire.append(f"r{who}")

    port = Port()

    def worker(who: str) -> None:
        try:
            for _ in range(20):
                with transaction("test://lock-port"):
                    port.write(who)
                    time.sleep(0.001)  # give the other thread every chance to interleave
                    port.read(who)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in "AB"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert not errors
    assert len(wire) == 80
    for i in range(0, 80, 2):
        assert wire[i][1] == wire[i + 1][1] and wire[i][0] == "w" and wire[i + 1][0] == "r"
    assert {w[1] for w in wire} == {"A", "B"}


def test_lock_is_reentrant():
    with transaction("test://reentrant"), transaction("test://reentrant"):
        pass


def test_lock_blocks_other_thread_until_released():
    lock = port_lock("test://blocking")
    acquired = threading.Event()
    with lock:
        t = threading.Thread(target=lambda: (lock.acquire(), acquired.set(), lock.release()))
        t.start()
        assert not acquired.wait(0.05)
    assert acquired.wait(2)
    t.join()


# --- SIGINT deferral ----------------------------------------------------------------------


@pytest.mark.usefixtures("python_sigint")
def test_sigint_deferred_until_block_end():
    before = signal.getsignal(signal.SIGINT)
    steps: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        with defer_sigint():
            steps.append("write")
            signal.raise_signal(signal.SIGINT)
            time.sleep(0.05)  # the handler runs here; it must not raise
            steps.append("read")
        steps.append("after")  # never reached: KeyboardInterrupt at block exit
    assert steps == ["write", "read"]
    assert signal.getsignal(signal.SIGINT) is before


def test_no_sigint_no_exception_and_handler_restored():
    before = signal.getsignal(signal.SIGINT)
    with defer_sigint():
        pass
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.usefixtures("python_sigint")
def test_nested_deferral_raises_once_at_outer_exit():
    steps: list[str] = []
    with pytest.raises(KeyboardInterrupt), defer_sigint():
        with defer_sigint():
            signal.raise_signal(signal.SIGINT)
            time.sleep(0.05)
        steps.append("inner done")
    assert steps == ["inner done"]


def test_custom_previous_handler_called_instead_of_raising():
    calls: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: calls.append(signum))
    try:
        with defer_sigint():
            signal.raise_signal(signal.SIGINT)
            time.sleep(0.05)
            assert calls == []
        assert calls == [signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("python_sigint")
def test_transaction_defers_sigint():
    done = []
    with pytest.raises(KeyboardInterrupt), transaction("test://sigint"):
        signal.raise_signal(signal.SIGINT)
        time.sleep(0.05)
        done.append(True)
    assert done == [True]


def test_deferral_is_noop_outside_main_thread():
    result: list[object] = []

    def worker() -> None:
        with defer_sigint():
            result.append(signal.getsignal(signal.SIGINT))

    before = signal.getsignal(signal.SIGINT)
    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert result == [before]


# --- timeouts -----------------------------------------------------------------------------


def test_measurement_timeout_arithmetic():
    # 100 points x 1 NPLC at 50 Hz = 2 s, x1.5 = 3 s, + 1 command x 50 ms
    assert measurement_timeout(100, 1.0, 50.0) == pytest.approx(3.05)
    # 60 Hz, 10 NPLC, 12 points, 3 commands of 0.1 s, no extra factor
    assert measurement_timeout(
        12, 10, 60.0, per_command_s=0.1, commands=3, safety_factor=1.0
    ) == pytest.approx(2.3)
    assert measurement_timeout(0, 1) == pytest.approx(0.05)
    assert measurement_timeout(200, 1) == pytest.approx(2 * measurement_timeout(100, 1) - 0.05)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"points": -1, "nplc": 1},
        {"points": 1, "nplc": -1},
        {"points": 1, "nplc": 1, "line_frequency_hz": 0},
        {"points": 1, "nplc": 1, "safety_factor": 0},
    ],
)
def test_measurement_timeout_rejects_nonsense(kwargs):
    with pytest.raises(ValueError):
        measurement_timeout(**kwargs)


def test_serial_and_scaled_timeout_arithmetic():
    assert serial_transfer_time(11520, 115200) == pytest.approx(1.0)
    assert serial_transfer_time(10, 9600, bits_per_char=11) == pytest.approx(110 / 9600)
    assert scaled_timeout(0.01) == pytest.approx(2 * 0.01 + 0.05)
    assert scaled_timeout(
        2e-3, bytes_out=100, bytes_in=1052, baudrate=115200, margin_s=0.0, safety_factor=1.0
    ) == pytest.approx(2e-3 + 0.1)
    with pytest.raises(ValueError):
        scaled_timeout(-1)
    with pytest.raises(ValueError):
        serial_transfer_time(1, 0)


# --- retries --------------------------------------------------------------------------------


def test_retries_succeed_after_timeouts_with_resync_between_tries():
    log: list[str] = []
    outcomes = [InstrumentTimeout("t1"), InstrumentTimeout("t2"), "reply"]

    def attempt() -> str:
        log.append("try")
        out = outcomes.pop(0)
        if isinstance(out, BaseException):
            raise out
        return out

    result = call_with_retries(
        attempt, port="COM7", command="READ", retries=2, resync=lambda: log.append("resync")
    )
    assert result == "reply"
    assert log == ["try", "resync", "try", "resync", "try"]


def test_retries_exhausted_raise_timeout_naming_port_and_command():
    calls = []

    def attempt() -> None:
        calls.append(1)
        raise TimeoutError("nothing")

    with pytest.raises(InstrumentTimeout, match=r"COM7: no valid reply to MEAS after 3 tries"):
        call_with_retries(attempt, port="COM7", command="MEAS", retries=2)
    assert len(calls) == 3


def test_retries_on_other_errors_end_in_instrument_error():
    class Garbled(InstrumentError):
        pass

    def attempt() -> None:
        raise Garbled("bad checksum")

    with pytest.raises(InstrumentError, match="bad checksum") as info:
        call_with_retries(attempt, port="p", command="X", retries=1, retry_on=(Garbled,))
    assert not isinstance(info.value, InstrumentTimeout)
    assert isinstance(info.value.__cause__, Garbled)


def test_unlisted_errors_propagate_at_once():
    calls = []

    def attempt() -> None:
        calls.append(1)
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        call_with_retries(attempt, port="p", command="X", retries=5)
    assert calls == [1]


def test_failed_resync_uses_up_a_try():
    tries = []

    def attempt() -> None:
        tries.append(1)
        raise InstrumentTimeout("t")

    def resync() -> None:
        raise InstrumentTimeout("sync lost")

    with pytest.raises(InstrumentTimeout, match="sync lost"):
        call_with_retries(attempt, port="p", command="X", retries=2, resync=resync)
    assert tries == [1]


def test_negative_retries_rejected():
    with pytest.raises(ValueError):
        call_with_retries(lambda: None, port="p", command="X", retries=-1)


# --- drain --------------------------------------------------------------------------------


def test_drain_input_uses_the_available_method():
    calls: list[str] = []

    class Serialish:
        def reset_input_buffer(self) -> None:
            calls.append("serial")

    class Adapterish:
        def flush_read_buffer(self) -> None:
            calls.append("adapter")

    class Visaish:
        def clear(self) -> None:
            calls.append("visa")

    for obj in (Serialish(), Adapterish(), Visaish(), object()):
        drain_input(obj)
    assert calls == ["serial", "adapter", "visa"]
