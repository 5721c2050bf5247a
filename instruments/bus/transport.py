"""Transport helpers shared by the instrument drivers.

Small and generic on purpose: works with a pyserial port, a pymeasure adapter or any object
with similar ``write``/``read`` methods.

* :func:`port_lock` - one re-entrant lock per physical port, keyed by a normalised name;
  hold it across the write *and* the read of a transaction.
* :func:`defer_sigint` - postpone Ctrl-C (and the stop signals of
  :mod:`~mtj_hil.instruments.bus.signals`) until a transaction has finished, then raise.
* :func:`transaction` - both of the above together.
* :func:`measurement_timeout`, :func:`serial_transfer_time`, :func:`scaled_timeout` - compute
  timeouts from what the instrument is asked to do instead of using one large constant.
* :func:`call_with_retries` - bounded retries with a resynchronisation hook, ending in an
  :class:`~mtj_hil.instruments.errors.InstrumentTimeout` that names the port and the command.
* :func:`drain_input` - discard whatever is waiting in a port's input buffer.
"""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from mtj_hil.instruments.bus.signals import STOP_SIGNALS, raise_requested_stop
from mtj_hil.instruments.errors import InstrumentError, InstrumentTimeout

__all__ = [
    "call_with_retries",
    "defer_sigint",
    "drain_input",
    "measurement_timeout",
    "normalise_port_name",
    "port_lock",
    "scaled_timeout",
    "serial_transfer_time",
    "transaction",
]

T = TypeVar("T")

# --------------------------------------------------------------------------------------------
# Port locks
# --------------------------------------------------------------------------------------------

_registry_guard = threading.Lock()
_port_locks: dict[str, threading.RLock] = {}

_WINDOWS_COM = re.compile(r"^(?:\\\\\.\\)?(com\d+)$", re.IGNORECASE)


def normalise_port_name(name: str) -> str:
    """Return a canonical key for a port or VISA resource name.

    Two spellings of the same physical port give the same key: surrounding blanks are
    stripped, Windows ``COM3`` / ``com3`` / ``\\\\.\\COM3`` all map to ``COM3``, VISA
    resource names are upper-cased (VISA is case-insensitive) and a redundant ``::INSTR``
    suffix is dropped. POSIX device paths and URLs otherwise keep their case.
    """
    key = name.strip()
    match = _WINDOWS_COM.match(key)
    if match:
        return match.group(1).upper()
    if "::" in key:
        key = key.upper()
        if key.endswith("::INSTR"):
            key = key[: -len("::INSTR")]
        return key
    return key


def port_lock(name: str) -> threading.RLock:
    """Return the process-wide re-entrant lock of the port ``name`` (created on first use).

    Every driver talking to the same physical port gets the same lock object, whatever
    spelling of the name it was given (see :func:`normalise_port_name`).
    """
    key = normalise_port_name(name)
    with _registry_guard:
        lock = _port_locks.get(key)
        if lock is None:
            lock = threading.RLock()
            _port_locks[key] = lock
        return lock


# --------------------------------------------------------------------------------------------
# Ctrl-C deferral
# --------------------------------------------------------------------------------------------

_deferral = threading.local()


@contextmanager
def defer_sigint() -> Iterator[None]:
    """Postpone SIGINT (Ctrl-C), and the stop signals SIGTERM, SIGHUP and SIGQUIT where a
    Python handler is installed for them (:mod:`mtj_hil.instruments.bus.signals`), until the
    block has finished; then raise ``KeyboardInterrupt`` (or call that handler).

    Use it around a write+read so that an interrupted script never leaves a request on the
    wire without having read its reply. Only the main thread can install signal handlers:
    in any other thread, and when nested inside another ``defer_sigint``, this is a no-op.
    If the previous handler was a custom callable it is called instead of raising; if it
    was ``SIG_IGN`` the signal is dropped. A stop signal left at its default action (not
    handled in Python) is not deferred.
    """
    if threading.current_thread() is not threading.main_thread() or getattr(
        _deferral, "active", False
    ):
        yield
        return
    previous: dict[int, Any] = {}
    for sig in STOP_SIGNALS:
        handler = signal.getsignal(sig)
        if sig == signal.SIGINT and handler is None:  # installed from C code: cannot restore
            yield
            return
        if sig == signal.SIGINT or callable(handler):
            previous[sig] = handler
    received: list[tuple[int, Any]] = []

    def _remember(signum: int, frame: Any) -> None:
        received.append((signum, frame))

    for sig in previous:
        signal.signal(sig, _remember)
    _deferral.active = True
    try:
        yield
    finally:
        _deferral.active = False
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for signum, frame in received:
            handler = previous[signum]
            if handler is signal.SIG_IGN:
                continue
            if callable(handler) and handler is not signal.default_int_handler:
                handler(signum, frame)
            else:
                raise KeyboardInterrupt


@contextmanager
def transaction(port_name: str) -> Iterator[None]:
    """Hold the port's lock and defer Ctrl-C for the duration of one transaction.

    The lock is taken first, so a Ctrl-C while waiting for another thread's transaction
    still interrupts immediately. A stop requested for this thread from elsewhere
    (:func:`~mtj_hil.instruments.bus.signals.request_stop`) is raised before the
    transaction starts.
    """
    raise_requested_stop()
    with port_lock(port_name), defer_sigint():
        yield


# --------------------------------------------------------------------------------------------
# Timeouts
# --------------------------------------------------------------------------------------------


def measurement_timeout(
    points: int,
    nplc: float,
    line_frequency_hz: float = 50.0,
    *,
    per_command_s: float = 0.05,
    commands: int = 1,
    safety_factor: float = 1.5,
) -> float:
    """Timeout in seconds for an integrating measurement.

    ``safety_factor * points * nplc / line_frequency_hz + commands * per_command_s``:
    the integration time of all points (one power-line cycle lasts ``1/line_frequency_hz``
    seconds) scaled by a safety factor, plus a fixed margin per command exchanged.

    Raises:
        ValueError: a negative count or time, or a non-positive line frequency or factor.
    """
    if points < 0 or nplc < 0 or per_command_s < 0 or commands < 0:
        raise ValueError("points, nplc, per_command_s and commands must be >= 0")
    if line_frequency_hz <= 0 or safety_factor <= 0:
        raise ValueError("line_frequency_hz and safety_factor must be > 0")
    return safety_factor * points * nplc / line_frequency_hz + commands * per_command_s


def serial_transfer_time(n_bytes: int, baudrate: float, bits_per_char: int = 10) -> float:
    """Seconds needed to move ``n_bytes`` over an asynchronous serial line.

    ``bits_per_char`` is 10 for 8N1 (start + 8 data + stop).

    Raises:
        ValueError: negative byte count or non-positive baud rate.
    """
    if n_bytes < 0 or baudrate <= 0:
        raise ValueError("n_bytes must be >= 0 and baudrate > 0")
    return n_bytes * bits_per_char / baudrate


def scaled_timeout(
    operation_s: float,
    *,
    bytes_out: int = 0,
    bytes_in: int = 0,
    baudrate: float | None = None,
    margin_s: float = 0.05,
    safety_factor: float = 2.0,
) -> float:
    """Timeout in seconds for one request/reply exchange.

    ``safety_factor * (operation_s + transfer time of bytes_out + bytes_in) + margin_s``.
    The transfer time is counted only when ``baudrate`` is given.

    Raises:
        ValueError: negative times or a non-positive safety factor.
    """
    if operation_s < 0 or margin_s < 0 or safety_factor <= 0:
        raise ValueError("operation_s and margin_s must be >= 0, safety_factor > 0")
    wire = serial_transfer_time(bytes_out + bytes_in, baudrate) if baudrate else 0.0
    return safety_factor * (operation_s + wire) + margin_s


# --------------------------------------------------------------------------------------------
# Retries
# --------------------------------------------------------------------------------------------


def call_with_retries(
    attempt: Callable[[], T],
    *,
    port: str,
    command: str,
    retries: int = 2,
    resync: Callable[[], None] | None = None,
    retry_on: tuple[type[BaseException], ...] = (InstrumentTimeout, TimeoutError),
) -> T:
    """Call ``attempt()`` up to ``retries + 1`` times.

    After a failure of a type in ``retry_on`` (and before the next try) ``resync()`` is
    called, e.g. to drain the input and send a SYNC; a ``retry_on`` failure of the resync
    itself only uses up that try. Other exceptions propagate at once.

    Raises:
        InstrumentTimeout: the last try timed out; the message names port, command and tries.
        InstrumentError: the last try failed with another ``retry_on`` error (e.g. a garbled
            reply); same message, the last error is chained as ``__cause__``.
        ValueError: ``retries`` is negative.
    """
    if retries < 0:
        raise ValueError("retries must be >= 0")
    tries = retries + 1
    last: BaseException | None = None
    for i in range(tries):
        if i > 0 and resync is not None:
            try:
                resync()
            except retry_on as exc:
                last = exc
                continue
        try:
            return attempt()
        except retry_on as exc:
            last = exc
    message = f"{port}: no valid reply to {command} after {tries} tries (last error: {last})"
    if isinstance(last, InstrumentTimeout | TimeoutError):
        raise InstrumentTimeout(message) from last
    raise InstrumentError(message) from last


def drain_input(connection: Any) -> None:
    """Discard pending input of a pyserial port, a pymeasure adapter or a VISA resource.

    Uses the first of ``reset_input_buffer()`` (pyserial), ``flush_read_buffer()``
    (pymeasure adapters) or ``clear()`` (pyvisa) that the object has; does nothing otherwise.
    """
    for name in ("reset_input_buffer", "flush_read_buffer", "clear"):
        method = getattr(connection, name, None)
        if callable(method):
            method()
            return
