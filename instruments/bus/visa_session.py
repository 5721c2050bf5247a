"""Every VISA transaction of the SMU drivers goes through here.

* :func:`open_visa_adapter` opens a resource with the chosen VISA library (``"@py"`` =
  pyvisa-py, ``"@ivi"`` = an installed NI-VISA / Keysight VISA, or a library path). A GPIB or
  USB resource without its optional support package installed fails with an error naming the
  extra to install (``pip install "mtj-hil[gpib]"`` / ``"mtj-hil[usb]"``); a library that
  cannot be loaded raises :class:`VisaLibraryError`. No pyvisa exception escapes.
* :class:`GuardedVisa` (a mixin for pymeasure ``Instrument`` subclasses) and
  :class:`GuardedChannel` (for their channels) wrap ``write``, ``read`` and ``ask``: the
  port lock is held across a query's write *and* read, Ctrl-C is deferred until the
  transaction ends, and a timeout or I/O error triggers a recovery (the session reopened
  when the link was lost, device clear, the model's abort command, input flush, replies
  brought back in step, error-queue drain) before one :class:`~mtj_hil.instruments.errors.InstrumentError` (or ``InstrumentTimeout``)
  naming the instrument, its resource and the command.
* :meth:`GuardedVisa.io_timeout` raises the timeout for work whose duration is known
  (``points * NPLC / line frequency`` plus a margin, see
  :func:`~mtj_hil.instruments.bus.transport.measurement_timeout`).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from mtj_hil.instruments.bus.raw_socket import device_clear, send_at_once
from mtj_hil.instruments.bus.transport import transaction
from mtj_hil.instruments.errors import InstrumentError, InstrumentTimeout

__all__ = [
    "EXTRAS",
    "GuardedChannel",
    "GuardedVisa",
    "VisaLibraryError",
    "device_clear",
    "missing_extra",
    "open_visa_adapter",
]

log = logging.getLogger(__name__)

#: Bus prefix -> (import name(s) of the pyvisa-py support package, extra that installs it).
EXTRAS: dict[str, tuple[tuple[str, ...], str]] = {
    "GPIB": (("gpib_ctypes", "gpib"), "gpib"),
    "USB": (("usb",), "usb"),
}

#: Seconds allowed to each recovery step after a failed transaction.
RECOVERY_TIMEOUT_S = 1.0

#: Replies read at most while resynchronising (more: the stream is given up as lost).
MAX_RESYNC_REPLIES = 64


class VisaLibraryError(InstrumentError):
    """The VISA library named by the station cannot be loaded."""


def _transport_errors() -> tuple[type[BaseException], ...]:
    import pyvisa

    return (pyvisa.errors.Error, OSError, EOFError, UnicodeDecodeError)


def _is_timeout(exc: BaseException) -> bool:
    import pyvisa

    if isinstance(exc, pyvisa.errors.VisaIOError):
        return exc.error_code == pyvisa.constants.StatusCode.error_timeout
    return isinstance(exc, TimeoutError)


def _connection_lost(exc: BaseException) -> bool:
    """True when ``exc`` says the link itself is gone (the peer reset or closed it), not
    that one exchange failed."""
    import pyvisa

    if isinstance(exc, pyvisa.errors.VisaIOError):
        return exc.error_code == pyvisa.constants.StatusCode.error_connection_lost
    return isinstance(exc, ConnectionError)


def missing_extra(resource: str, visa_library: str) -> str | None:
    """The extra to install for ``resource`` under pyvisa-py, or ``None`` if nothing is missing.

    Only pyvisa-py (``"@py"``) needs Python packages for GPIB (gpib-ctypes or linux-gpib's
    ``gpib``) and USB (pyusb); a vendor VISA brings its own drivers.
    """
    if visa_library != "@py":
        return None
    bus = resource.strip().upper()
    for prefix, (modules, extra) in EXTRAS.items():
        if bus.startswith(prefix) and not any(importlib.util.find_spec(m) for m in modules):
            return extra
    return None


def load_visa_library(visa_library: str = "@py") -> None:
    """Load the VISA library ``visa_library`` (nothing is opened on any bus).

    Raises:
        VisaLibraryError: it cannot be loaded (the message names it and what to give).
    """
    import pyvisa

    try:
        pyvisa.ResourceManager(visa_library)
    except (ValueError, OSError, pyvisa.errors.Error) as exc:
        raise VisaLibraryError(
            f"VISA library {visa_library!r} cannot be loaded ({exc}); use '@py' (pyvisa-py), "
            "'@ivi' (an installed NI-VISA or Keysight VISA) or the path of a VISA library"
        ) from exc


def open_visa_adapter(
    resource: str,
    *,
    name: str,
    visa_library: str = "@py",
    timeout_s: float = 5.0,
    termination: str = "\n",
) -> Any:
    """Open ``resource`` and return a pymeasure ``VISAAdapter``.

    Raises:
        VisaLibraryError: the VISA library cannot be loaded (message names it).
        InstrumentError: the bus support package is missing (message names the extra), or the
            resource cannot be opened (message names instrument and resource).
    """
    from pymeasure.adapters import VISAAdapter

    extra = missing_extra(resource, visa_library)
    if extra is not None:
        raise InstrumentError(
            f"{name} at {resource}: pyvisa-py needs the {extra.upper()} support package for this "
            f'resource; install it with: pip install "mtj-hil[{extra}]"'
        )
    load_visa_library(visa_library)
    try:
        adapter = VISAAdapter(
            resource,
            visa_library=visa_library,
            read_termination=termination,
            write_termination=termination,
            timeout=int(timeout_s * 1000),
        )
        send_at_once(adapter.connection)
        return adapter
    except ValueError as exc:  # pyvisa-py: a session type whose support is missing
        text = str(exc)
        hint = next(
            (f' (pip install "mtj-hil[{x}]")' for p, (_, x) in EXTRAS.items() if p in text.upper()),
            "",
        )
        raise InstrumentError(f"{name} at {resource}: cannot open: {text}{hint}") from exc
    except _transport_errors() as exc:
        raise InstrumentError(f"{name} at {resource}: cannot open: {exc}") from exc


class GuardedVisa:
    """Mixin (put it first in the bases) guarding every VISA transaction of an instrument.

    The class may set :attr:`ABORT_COMMAND` (sent during recovery) and must provide
    ``errors()`` (drain the error queue). The resource label shown in messages is
    ``self.resource_label`` (set by :meth:`_init_guard`, default: the adapter's resource).
    """

    ABORT_COMMAND: str | None = ":ABOR"
    time_scale: float = 1.0
    """Wall seconds per second of the instrument's own time: every work and recovery timeout
    (computed for real time) is stretched by it; more than 1 for an instrument slower than
    real time (a paced virtual lab's)."""

    def _init_guard(self, resource_label: str | None = None) -> None:
        adapter = getattr(self, "adapter", None)
        conn = getattr(adapter, "connection", None)
        self.resource_label = resource_label or str(
            getattr(conn, "resource_name", None) or adapter or "?"
        )
        self._port_key = self.resource_label
        self._recovering = False
        self._last_command = ""
        self._sync_idn: str | None = None
        self._idn_unanswered = 0  # resynchronising *IDN? queries whose answers are not read
        self._out_of_step: str | None = None
        self._lost = False

    # -- wire -----------------------------------------------------------------------------

    @contextmanager
    def _io(self, command: str, *, query: bool = True) -> Iterator[None]:
        """One transaction: port lock, deferred Ctrl-C, errors turned into InstrumentError.
        A query on a session whose replies may be out of step (:meth:`_resynchronise`) is
        preceded by a resynchronisation; a write goes out regardless (an output-off must)."""
        if not hasattr(self, "_port_key"):
            self._init_guard()
        if self._recovering:  # recovery steps see raw errors and handle them themselves
            try:
                yield
            except _transport_errors() as exc:
                # a recovery query (the error-queue drain) that timed out may still be
                # answered: that reply would be read as the next query's
                if query and self._out_of_step is None:
                    what = "timeout" if _is_timeout(exc) else "I/O error"
                    self._out_of_step = f"the recovery's {what} on {command!r}"
                raise
            return
        with transaction(self._port_key):
            if query and self._out_of_step is not None:
                self._resync_or_refuse(command)
            try:
                yield
            except InstrumentError:
                raise
            except _transport_errors() as exc:
                self._fail(command, exc)

    def _resync_or_refuse(self, command: str) -> None:
        """Resynchronise before ``command``, or refuse it: its reply could be an older one."""
        cause = self._out_of_step
        self._recovering = True
        try:
            with self.io_timeout(RECOVERY_TIMEOUT_S, at_least=False):
                self._resynchronise()
        except Exception as exc:  # noqa: BLE001 - refused below, naming the cause
            raise InstrumentError(
                f"{getattr(self, 'name', 'instrument')} at {self.resource_label}: {command!r} "
                f"not sent: the instrument's replies are out of step since {cause} and it did "
                f"not answer a resynchronising *IDN? ({type(exc).__name__}); a reply read now "
                "could be an older query's"
            ) from exc
        finally:
            self._recovering = False

    def _resynchronise(self) -> None:
        """Bring the replies back in step after a failed transaction (raw I/O, inside a
        recovery). A reply that arrives after its query timed out would otherwise be read
        as the answer to the next query, and every reply after it as the one before's
        (a raw socket has no device clear to discard it; over GPIB or USBTMC a reply may
        still be under way when the clear is sent). The instrument answers queries in the
        order it receives them (IEEE 488.2, section 6 "message exchange control"), so
        ``*IDN?`` is sent and replies are read until its answer, the identity read when the
        session opened (no other query of the drivers answers it), comes; anything before
        it is discarded, and the input is drained once more in case a query timed out was
        ``*IDN?`` itself. Without a known identity nothing is sent.

        An earlier resynchronisation whose ``*IDN?`` went unanswered (the instrument still
        busy) is answered later too: as many answers as ``*IDN?`` queries sent are read. An
        instrument slower than the drain's wait (a paced virtual lab) otherwise had the next
        query read an older ``*IDN?``'s answer, and each query after it the one before's.
        When no answer comes in time after at least one did, the rest were discarded (a
        device clear or a reset) and the replies are in step.

        Raises:
            InstrumentError: no answer in :data:`MAX_RESYNC_REPLIES` replies; pyvisa and
                OS errors as they come (the caller names them).
        """
        expected = self._sync_idn
        if expected is None:
            self._out_of_step = None
            return
        super().write("*IDN?")  # type: ignore[misc]
        self._idn_unanswered += 1
        answered = False
        for _ in range(MAX_RESYNC_REPLIES):
            try:
                reply = super().read()  # type: ignore[misc]
            except _transport_errors() as exc:
                if not (answered and _is_timeout(exc)):
                    raise
                self._idn_unanswered = 0  # the older queries' answers are not coming
                break
            if reply.strip() == expected:
                answered = True
                self._idn_unanswered -= 1
                if self._idn_unanswered <= 0:
                    break
        else:
            raise InstrumentError(f"no *IDN? answer among {MAX_RESYNC_REPLIES} replies")
        conn = getattr(getattr(self, "adapter", None), "connection", None)
        if conn is not None and hasattr(conn, "clear"):
            device_clear(conn)
        self._out_of_step = None

    def _fail(self, command: str, exc: BaseException) -> None:
        timeout = _is_timeout(exc)
        what = "no reply in time" if timeout else f"I/O error ({type(exc).__name__}: {exc})"
        self._out_of_step = f"the {what.split(' (')[0]} to {command!r}"
        self._lost = self._lost or _connection_lost(exc)
        recovery = self.recover()
        message = (
            f"{getattr(self, 'name', 'instrument')} at {self.resource_label}: {what} to "
            f"{command!r}; {recovery}"
        )
        log.error("%s", message)
        raise (InstrumentTimeout if timeout else InstrumentError)(message) from exc

    def recover(self) -> str:
        """Reopen a lost link, device clear, abort, flush input, bring the replies back in
        step, drain the error queue; each step best effort. A step that finds the link gone
        (the instrument closed or reset the connection) has the session reopened and the
        steps run once more.

        Returns a short account of what worked, for the error message.
        """
        if not hasattr(self, "_port_key"):
            self._init_guard()
        done: list[str] = []
        self._recovering = True
        try:
            for _ in range(2):
                if self._lost:
                    try:
                        self.reconnect()
                        done.append("reconnected")
                    except Exception as exc:  # noqa: BLE001 - recovery is best effort
                        done.append(f"reconnection failed ({type(exc).__name__}: {exc})")
                        break
                if not self._recovery_steps(done):
                    break
            if self._out_of_step is not None and self._sync_idn is not None:
                done.append("error queue not read (replies out of step)")
                return ", ".join(done)
            with self.io_timeout(RECOVERY_TIMEOUT_S, at_least=False):
                try:
                    errors = self.errors()  # type: ignore[attr-defined]
                    done.append(
                        "error queue: "
                        + ("empty" if not errors else "; ".join(f"{c} {m}" for c, m in errors))
                    )
                except Exception as exc:  # noqa: BLE001
                    done.append(f"error queue unreadable ({type(exc).__name__})")
        finally:
            self._recovering = False
        return ", ".join(done)

    def _recovery_steps(self, done: list[str]) -> bool:
        """Device clear, abort, input flush and resynchronisation, each tried; their
        outcomes go to ``done``. True when one of them found the link gone."""
        lost = False
        with self.io_timeout(RECOVERY_TIMEOUT_S, at_least=False):
            conn = getattr(getattr(self, "adapter", None), "connection", None)
            steps: list[tuple[str, str, Any]] = []
            if conn is not None and hasattr(conn, "clear"):
                steps.append(("device cleared", "device clear", lambda: device_clear(conn)))
            for command in self.abort_commands():
                steps.append(("aborted", "abort", lambda c=command: self._raw_write(c)))
            if conn is not None and hasattr(conn, "clear"):
                steps.append(("input flushed", "input flush", lambda: device_clear(conn)))
            if self._out_of_step is not None and self._sync_idn is not None:
                steps.append(("replies in step", "resynchronisation", self._resynchronise))
            for worked, name, step in steps:
                try:
                    step()
                    done.append(worked)
                except Exception as exc:  # noqa: BLE001 - recovery is best effort
                    done.append(f"{name} failed ({type(exc).__name__})")
                    if _connection_lost(exc):
                        self._lost = lost = True
                        break
        return lost

    def reconnect(self) -> None:
        """Open the resource again after the link was lost (the instrument reset the
        connection, e.g. a LAN socket dropped by a network glitch or by the instrument's own
        LAN stack): the instrument itself may still be sourcing, and only a new session can
        switch it off. Same resource, library, terminations and timeout; the replies stay
        out of step until :meth:`_resynchronise` has run.

        Raises:
            pyvisa or OS errors: the resource cannot be opened again (the caller names them).
        """
        adapter = getattr(self, "adapter", None)
        old = getattr(adapter, "connection", None)
        manager = getattr(adapter, "manager", None)
        if old is None or manager is None:
            raise InstrumentError("no VISA session to reopen")
        new = manager.open_resource(
            old.resource_name,
            open_timeout=int(RECOVERY_TIMEOUT_S * 1000),
            read_termination=old.read_termination,
            write_termination=old.write_termination,
            timeout=old.timeout,
        )
        with suppress(Exception):  # the old session is dead already
            old.close()
        send_at_once(new)
        adapter.connection = new
        self._lost = False
        self._idn_unanswered = 0  # a new session: the old one's replies are gone with it
        self._out_of_step = self._out_of_step or "the session was reopened"
        who = getattr(self, "name", "instrument")
        log.warning("%s at %s: link lost, session reopened", who, self.resource_label)

    def abort_commands(self) -> list[str]:
        """Commands that stop whatever the instrument is doing (sent during recovery)."""
        return [self.ABORT_COMMAND] if self.ABORT_COMMAND else []

    def _raw_write(self, command: str) -> None:
        super().write(command)  # type: ignore[misc]

    def write(self, command: str, **kwargs: Any) -> None:
        """Guarded ``write`` (see the module docstring)."""
        self._last_command = command
        with self._io(command, query=False):
            super().write(command, **kwargs)  # type: ignore[misc]

    def read(self, **kwargs: Any) -> str:
        """Guarded ``read``; errors name the command the reply was for."""
        with self._io(getattr(self, "_last_command", "") or "read"):
            return super().read(**kwargs)  # type: ignore[misc]

    def ask(self, command: str, query_delay: float | None = None) -> str:
        """Write and read as one transaction (lock held and Ctrl-C deferred across both).
        The session's first ``*IDN?`` answer is kept to resynchronise on."""
        with self._io(command):
            reply = super().ask(command, query_delay)  # type: ignore[misc]
        if command == "*IDN?" and self._sync_idn is None and reply.strip():
            self._sync_idn = reply.strip()
        return reply  # type: ignore[no-any-return]

    # -- timeouts and lifetime ------------------------------------------------------------

    @contextmanager
    def io_timeout(self, seconds: float, *, at_least: bool = True) -> Iterator[None]:
        """Inside the block, allow ``seconds`` (times :attr:`time_scale`) of work on top of
        the base timeout (or exactly that without ``at_least``); the previous value is restored
        afterwards."""
        conn = getattr(getattr(self, "adapter", None), "connection", None)
        previous = getattr(conn, "timeout", None)
        if conn is None or previous is None:
            yield
            return
        wanted = seconds * self.time_scale * 1000.0
        if at_least:
            wanted += float(previous)
        try:
            conn.timeout = wanted
        except Exception:  # noqa: BLE001 - a dead session: keep going, the I/O will fail
            yield
            return
        try:
            yield
        finally:
            # the session may have been reopened meanwhile (:meth:`reconnect`)
            current = getattr(getattr(self, "adapter", None), "connection", None) or conn
            with suppress(Exception):
                current.timeout = previous

    def close_session(self) -> bool:
        """Close the VISA session; True when it closed cleanly. Never raises."""
        adapter = getattr(self, "adapter", None)
        try:
            if adapter is not None and hasattr(adapter, "close"):
                adapter.close()
            return True
        except Exception as exc:  # noqa: BLE001 - closing must never raise
            log.warning("%s: closing the session failed: %r", getattr(self, "name", "?"), exc)
            return False


class GuardedChannel:
    """Mixin for pymeasure ``Channel`` subclasses of a :class:`GuardedVisa` instrument: a
    channel query is one guarded transaction of the parent."""

    @property
    def resource_label(self) -> str:
        """The parent instrument's resource label (names the channel's port in errors)."""
        return self.parent.resource_label  # type: ignore[attr-defined,no-any-return]

    def ask(self, command: str, query_delay: float | None = None) -> str:
        full = self.insert_id(command)  # type: ignore[attr-defined]
        with self.parent._io(full):  # type: ignore[attr-defined]
            return super().ask(command, query_delay)  # type: ignore[misc]
