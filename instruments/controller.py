"""Driver for the crossbar test-chip controller board (protocol: docs/chip-protocol.md).

Two layers:

* a pure frame codec in :mod:`instruments.controller_codec` (:func:`crc8`,
  :func:`encode_frame`, :func:`decode_frame`, the value formatters/parsers and
  :func:`ok_frame` / :func:`err_frame`), re-exported here, with no I/O, so that a virtual
  controller serving the same protocol can reuse it on the board side;
* :class:`ChipController`, the host-side driver over pyserial, with sequence numbers, strict
  reply parsing, computed timeouts, bounded retries and resynchronisation.

All quantities of the public API are SI: volts, seconds, amperes.
"""

from __future__ import annotations

import logging
import math
import operator
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from instruments.controller_codec import (
    _ERR_CODE,
    _HEX2,
    ADC_RANGES,
    COMMANDS,
    ERROR_CODES,
    MAX_FRAME_BYTES,
    MAX_REPLY_BYTES,
    PULSE_AMPLITUDE_TOLERANCE_V,
    PULSE_WIDTH_TOLERANCE_S,
    SAFE_BIAS_V,
    ControllerError,
    Frame,
    FrameError,
    _parse_float,
    _parse_int,
    _require,
    crc8,
    decode_codes,
    decode_frame,
    encode_codes,
    encode_frame,
    err_frame,
    format_mask,
    format_seconds,
    format_volts,
    mask_width,
    ok_frame,
    parse_fields,
    parse_mask,
    parse_seconds,
    parse_volts,
)
from instruments.errors import InstrumentError, InstrumentTimeout, SafetyViolation
from instruments.transport import (
    call_with_retries,
    drain_input,
    scaled_timeout,
    transaction,
)

__all__ = [
    "COMMANDS",
    "ERROR_CODES",
    "ADC_RANGES",
    "MAX_FRAME_BYTES",
    "MAX_REPLY_BYTES",
    "SAFE_BIAS_V",
    "ChipController",
    "ChipIdentity",
    "ChipLimits",
    "ControllerError",
    "ControllerStatus",
    "Frame",
    "FrameError",
    "PulseReport",
    "ReadResult",
    "ReplyMismatch",
    "crc8",
    "decode_codes",
    "decode_frame",
    "encode_codes",
    "encode_frame",
    "err_frame",
    "format_mask",
    "format_seconds",
    "format_volts",
    "mask_width",
    "ok_frame",
    "parse_fields",
    "parse_mask",
    "parse_seconds",
    "parse_volts",
]

log = logging.getLogger(__name__)


class ReplyMismatch(InstrumentError):
    """The board's reply to PULSE or SCAN does not describe what was asked (amplitude,
    width, polarity, cell or line count): the host must not assume the request was done."""


def _open_port(url: str, **options: Any) -> Any:
    """Open a pyserial port or URL with the station's options; errors become InstrumentError.

    ``dtr`` / ``rts`` of ``None`` leave the lines as pyserial opens them.
    """
    import serial  # local import: the codec is usable without pyserial

    dtr, rts = options.pop("dtr", None), options.pop("rts", None)
    try:
        port = serial.serial_for_url(url, do_not_open=True, **options)
        if dtr is not None:
            port.dtr = dtr
        if rts is not None:
            port.rts = rts
        port.open()
    except (OSError, ValueError) as exc:
        busy = "busy" in str(exc).lower() or "temporarily unavailable" in str(exc).lower()
        hint = " (in use by another process: the port is opened exclusively)" if busy else ""
        raise InstrumentError(f"controller port {url}: cannot open: {exc}{hint}") from exc
    return port


# ============================================================================================
# Driver
# ============================================================================================

RouteMode = Literal["OFF", "WRITE", "SMU", "ADC"]
Polarity = Literal["POS", "NEG"]


@dataclass(frozen=True)
class ChipLimits:
    """Limits and timing reported by ``LIM`` (volts, seconds)."""

    vpulse_max: float
    width_min: float
    width_max: float
    vread_min: float
    vread_max: float
    adc_bits: int
    t_cmd: float
    t_route: float
    t_pulse: float
    t_dac: float
    t_read: float
    t_int: float = 0.0


@dataclass(frozen=True)
class ChipIdentity:
    """What ``IDN`` and ``LIM`` reported: board, firmware, die geometry and limits.

    ``references`` is the number of on-board reference resistors (``IDN refs``, firmware
    1.2; 0 when the board does not report it).
    """

    model: str
    serial: str
    firmware: str
    die: str
    arrays: int
    rows: int
    cols: int
    limits: ChipLimits
    references: int = 0


@dataclass(frozen=True)
class ControllerStatus:
    """Decoded ``STAT`` reply.

    ``route`` is OFF/WRITE/SMU/ADC, ``smu_line`` and ``input_source`` are set in SMU mode,
    ``last_error`` is ``"E00"`` when no error occurred since the last RST, ``flags`` is the
    fault bitfield (see the protocol), ``temperature_c`` in degrees Celsius.
    """

    busy: bool
    last_error: str
    array: int | None
    route: str
    smu_line: int | None
    input_source: str | None
    rows_mask: npt.NDArray[np.bool_] | None
    cols_mask: npt.NDArray[np.bool_] | None
    temperature_c: float
    flags: int


@dataclass(frozen=True)
class PulseReport:
    """The pulse the board actually applied (after its quantisation)."""

    amplitude_v: float
    width_s: float
    polarity: Polarity
    cells: int


@dataclass(frozen=True)
class ReadResult:
    """One bulk read: raw codes, scale and currents (A) of all output lines."""

    codes: npt.NDArray[np.int64]
    lsb_a: float
    zero_code: int
    currents_a: npt.NDArray[np.float64]
    saturated: npt.NDArray[np.bool_]


def _as_polarity(polarity: Any) -> Polarity:
    if isinstance(polarity, str):
        text = polarity.strip().upper()
        if text in ("POS", "+", "+1"):
            return "POS"
        if text in ("NEG", "-", "-1"):
            return "NEG"
    elif isinstance(polarity, int | np.integer) and not isinstance(polarity, bool):
        if polarity == 1:
            return "POS"
        if polarity == -1:
            return "NEG"
    raise ValueError(f"polarity must be 'POS'/'NEG', '+'/'-' or +1/-1, got {polarity!r}")


def _finite(name: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise SafetyViolation(f"{name} = {v} is not finite")
    return v


class ChipController:
    """Host-side driver of the test-chip controller board.

    Args:
        url: pyserial URL or device (``/dev/ttyACM0``, ``COM3``, ``socket://host:port``,
            ``loop://``); ignored when ``connection`` is given.
        baudrate: serial speed (the board uses 115200 8N1).
        timeout: seconds allowed for commands whose duration is not yet known (SYNC, IDN,
            LIM) and for the resynchronisation handshake.
        retries: extra tries after a timeout or a garbled reply (each preceded by a resync).
        connection: an already open port-like object (``write``, ``read_until``,
            ``reset_input_buffer``, ``timeout`` attribute); used by tests and simulators.
        port_name: key of the port lock; defaults to ``url`` or ``connection.port``.
        identify: run the open handshake (SYNC, IDN, LIM) in the constructor.
        envelope: optional station safety envelope checked in addition to the board's
            limits, any object with ``check_pulse(amplitude_v, width_s)`` and
            ``check_read_voltages(volts)`` raising SafetyViolation (e.g.
            ``instruments.safety.SafetyEnvelope``).
        exclusive: lock the port against other processes (POSIX ``flock``; a second open
            fails with an InstrumentError instead of two programs sharing the board).
        write_timeout: seconds a write may block (a stalled port raises InstrumentTimeout
            instead of hanging a transaction that defers Ctrl-C).
        rtscts, xonxoff: hardware / software flow control.
        dtr, rts: level of the DTR and RTS lines after opening (``None``: pyserial default).

    One driver per physical port: the port lock makes a driver safe to share between
    threads, but two drivers on one port would number their frames independently.

    Raises:
        InstrumentError, InstrumentTimeout: the handshake failed.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        baudrate: int = 115200,
        timeout: float = 0.5,
        retries: int = 2,
        connection: Any = None,
        port_name: str | None = None,
        identify: bool = True,
        envelope: Any = None,
        exclusive: bool = True,
        write_timeout: float | None = 1.0,
        rtscts: bool = False,
        xonxoff: bool = False,
        dtr: bool | None = None,
        rts: bool | None = None,
    ) -> None:
        if connection is None:
            if url is None:
                raise ValueError("give a url or a connection")
            connection = _open_port(
                url,
                baudrate=baudrate,
                timeout=timeout,
                exclusive=exclusive,
                write_timeout=write_timeout,
                rtscts=rtscts,
                xonxoff=xonxoff,
                dtr=dtr,
                rts=rts,
            )
            self._owns_connection = True
        else:
            self._owns_connection = False
        self._conn = connection
        self.baudrate = baudrate
        self.timeout = timeout
        self.retries = retries
        self.envelope = envelope
        self.port_name = port_name or url or str(getattr(connection, "port", None) or id(self))
        self._seq = 0
        self._needs_resync = False
        self._enabled_rows: int | None = None
        self._enabled_cells: int | None = None
        self.identity: ChipIdentity | None = None
        if identify:
            try:
                self.open_session()
            except BaseException:
                self.close()
                raise

    # --- context manager / lifetime ----------------------------------------------------

    def __enter__(self) -> ChipController:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the port if this driver opened it (idempotent)."""
        if self._owns_connection and self._conn is not None:
            self._conn.close()
        self._conn = None

    # --- transport ---------------------------------------------------------------------

    def _next_seq(self) -> int:
        seq = self._seq
        self._seq = (self._seq + 1) & 0xFF
        return seq

    def _connection(self) -> Any:
        if self._conn is None:
            raise InstrumentError(f"{self.port_name}: controller connection is closed")
        return self._conn

    @contextmanager
    def _port_errors(self, command: str) -> Iterator[None]:
        """Turn pyserial / OS errors of the port into InstrumentError naming port and command
        (a write timeout into InstrumentTimeout, so it is retried like a lost reply)."""
        try:
            yield
        except InstrumentError:
            raise
        except OSError as exc:  # serial.SerialException and SerialTimeoutException included
            if type(exc).__name__ == "SerialTimeoutException":
                raise InstrumentTimeout(
                    f"{self.port_name}: write of {command} timed out (port stalled)"
                ) from exc
            raise InstrumentError(f"{self.port_name}: port error during {command}: {exc}") from exc

    def _readline(self, deadline: float, command: str) -> bytes:
        conn = self._connection()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise InstrumentTimeout(f"{self.port_name}: timeout waiting for reply to {command}")
        conn.timeout = remaining
        with self._port_errors(command):
            line = conn.read_until(b"\n", MAX_REPLY_BYTES)
        if line.endswith(b"\n"):
            return bytes(line)
        if len(line) >= MAX_REPLY_BYTES:
            raise FrameError(f"{self.port_name}: reply to {command} longer than allowed")
        raise InstrumentTimeout(
            f"{self.port_name}: timeout waiting for reply to {command} (partial: {line!r})"
        )

    def _resync(self) -> int:
        """Drain input, flush the board's parser with a LF, SYNC; return the board's last seq.

        Returns -1 when the board reports ``last=--``.
        """
        conn = self._connection()
        seq = self._next_seq()
        with self._port_errors("SYNC"):
            drain_input(conn)
            conn.write(b"\n" + encode_frame("SYNC", seq))
        deadline = time.monotonic() + self.timeout
        while True:
            line = self._readline(deadline, "SYNC")
            try:
                frame = decode_frame(line)
            except FrameError:
                continue
            if frame.verb == "OK" and frame.seq == seq and frame.args[:1] == ("SYNC",):
                break
            log.debug("%s: discarded %r while resynchronising", self.port_name, line)
        (last,) = _require(parse_fields(frame.args[1:]), "last")
        self._needs_resync = False
        if last == "--":
            return -1
        if not _HEX2.fullmatch(last):
            raise FrameError(f"invalid last={last!r} in SYNC reply")
        return int(last, 16)

    def _read_reply(self, seq: int, command: str, deadline: float) -> Frame:
        limit = MAX_REPLY_BYTES if command == "SCAN" else MAX_FRAME_BYTES
        frame = decode_frame(self._readline(deadline, command), limit)
        if frame.verb == "ERR" and frame.seq is None:
            raise FrameError(
                f"{self.port_name}: controller could not parse {command}: "
                f"{frame.error_code} {frame.error_message}"
            )
        if frame.verb not in ("OK", "ERR"):
            raise FrameError(f"{self.port_name}: unexpected verb {frame.verb!r} in reply")
        if frame.seq != seq:
            raise FrameError(
                f"{self.port_name}: sequence mismatch for {command}: "
                f"sent {seq:02X}, got {frame.seq:02X}"
            )
        if frame.verb == "OK" and frame.args[:1] != (command,):
            raise FrameError(f"{self.port_name}: reply to {command} names {frame.args[:1]}")
        return frame

    def _operation_timeout(self, operation_s: float, n_out: int, n_in: int) -> float:
        if self.identity is None:
            return self.timeout
        t_cmd = self.identity.limits.t_cmd
        return scaled_timeout(
            t_cmd + operation_s, bytes_out=n_out, bytes_in=n_in, baudrate=self.baudrate
        )

    def _transact(
        self,
        command: str,
        args: Sequence[str] = (),
        operation_s: float = 0.0,
        reply_bytes: int = 64,
    ) -> tuple[str, ...]:
        """Send one command and return the reply fields after the echoed verb.

        Raises:
            ControllerError: ``ERR`` reply to this command.
            InstrumentTimeout: no valid reply after all tries.
            InstrumentError: garbled or mismatched replies after all tries.
        """
        frame_bytes: bytes | None = None
        with transaction(self.port_name):
            if self._needs_resync:
                call_with_retries(
                    self._resync,
                    port=self.port_name,
                    command="SYNC",
                    retries=self.retries,
                    retry_on=(InstrumentTimeout, FrameError),
                )
            seq = self._next_seq()
            frame_bytes = encode_frame(command, seq, args)
            timeout_s = self._operation_timeout(operation_s, len(frame_bytes), reply_bytes)

            def attempt() -> Frame:
                with self._port_errors(command):
                    self._connection().write(frame_bytes)
                    return self._read_reply(seq, command, time.monotonic() + timeout_s)

            try:
                reply = call_with_retries(
                    attempt,
                    port=self.port_name,
                    command=command,
                    retries=self.retries,
                    resync=self._resync,
                    retry_on=(InstrumentTimeout, FrameError),
                )
            except InstrumentError:
                self._needs_resync = True
                raise
        if reply.verb == "ERR":
            raise ControllerError(reply.error_code, reply.error_message, command)
        return reply.args[1:]

    def _transact_echo(self, command: str, args: Sequence[str], operation_s: float = 0.0) -> None:
        fields = self._transact(command, args, operation_s)
        if fields != tuple(args):
            raise FrameError(f"{self.port_name}: {command} reply {fields} does not echo {args}")

    # --- session -------------------------------------------------------------------------

    def open_session(self) -> ChipIdentity:
        """Handshake: SYNC (adopting the board's sequence counter), then :meth:`identify`.

        Raises:
            InstrumentTimeout, InstrumentError: no valid SYNC reply after all tries.
        """
        with transaction(self.port_name):
            self._seq = 0
            last = call_with_retries(
                self._resync,
                port=self.port_name,
                command="SYNC",
                retries=self.retries,
                retry_on=(InstrumentTimeout, FrameError),
            )
            if last >= 0:
                self._seq = (last + 1) & 0xFF
        return self.identify()

    def identify(self) -> ChipIdentity:
        """Query ``IDN`` and ``LIM``; store and return the identity (geometry and limits).

        Raises:
            ControllerError, InstrumentError: refused or malformed replies.
        """
        idn = parse_fields(self._transact("IDN", reply_bytes=128))
        model, sn, fw, die, arrays, rows, cols = _require(
            idn, "model", "sn", "fw", "die", "arrays", "rows", "cols"
        )
        lim = parse_fields(self._transact("LIM", reply_bytes=256))
        v = _require(
            lim,
            "vpulse_max",
            "width_min",
            "width_max",
            "vread_min",
            "vread_max",
            "adc_bits",
        )
        t = _require(lim, "t_cmd", "t_route", "t_pulse", "t_dac", "t_read")
        limits = ChipLimits(
            vpulse_max=min(parse_volts(v[0]), SAFE_BIAS_V),
            width_min=parse_seconds(v[1]),
            width_max=parse_seconds(v[2]),
            vread_min=max(parse_volts(v[3]), -SAFE_BIAS_V),
            vread_max=min(parse_volts(v[4]), SAFE_BIAS_V),
            adc_bits=_parse_int(v[5]),
            t_cmd=parse_seconds(t[0]),
            t_route=parse_seconds(t[1]),
            t_pulse=parse_seconds(t[2]),
            t_dac=parse_seconds(t[3]),
            t_read=parse_seconds(t[4]),
            t_int=parse_seconds(lim["t_int"]) if "t_int" in lim else 0.0,
        )
        identity = ChipIdentity(
            model=model,
            serial=sn,
            firmware=fw,
            die=die,
            arrays=_parse_int(arrays),
            rows=_parse_int(rows),
            cols=_parse_int(cols),
            limits=limits,
            references=_parse_int(idn["refs"]) if "refs" in idn else 0,
        )
        if min(identity.arrays, identity.rows, identity.cols) < 1:
            raise FrameError(f"{self.port_name}: nonsensical geometry in IDN: {idn}")
        self.identity = identity
        return identity

    def _id(self) -> ChipIdentity:
        if self.identity is None:
            raise InstrumentError(f"{self.port_name}: call identify() first")
        return self.identity

    # --- commands ------------------------------------------------------------------------

    def select_array(self, index: int) -> None:
        """Select array ``index`` (0-based). The board clears both masks and routes OFF.

        Raises:
            ValueError: index outside ``0..arrays-1`` (nothing is sent).
        """
        ident = self._id()
        i = operator.index(index)
        if not 0 <= i < ident.arrays:
            raise ValueError(f"array index {i} outside 0..{ident.arrays - 1}")
        self._enabled_rows = self._enabled_cells = None
        self._transact_echo("SEL", (str(i),), operation_s=ident.limits.t_route)
        self._enabled_rows = self._enabled_cells = 0  # SEL clears both masks

    def _indices(self, lines: Any, n: int, what: str) -> list[int]:
        arr = np.asarray(lines)
        if arr.dtype == bool:
            if arr.shape != (n,):
                raise ValueError(f"{what} mask must have shape ({n},), got {arr.shape}")
            return [int(i) for i in np.flatnonzero(arr)]
        if arr.size == 0:
            return []
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{what} must be a boolean mask or a list of line indices")
        out = [int(i) for i in arr]
        bad = [i for i in out if not 0 <= i < n]
        if bad:
            raise ValueError(f"{what} index {bad[0]} outside 0..{n - 1}")
        return sorted(set(out))

    def enable_lines(self, rows: Any, cols: Any) -> None:
        """Enable input lines ``rows`` and output lines ``cols`` of the selected array.

        Each is a boolean array of length rows/cols of the die, or a sequence of indices.

        Raises:
            ValueError: wrong mask length or an index outside the geometry (nothing sent).
        """
        ident = self._id()
        ri = self._indices(rows, ident.rows, "rows")
        ci = self._indices(cols, ident.cols, "cols")
        self._enabled_rows = self._enabled_cells = None
        self._transact_echo("EN", (format_mask(ri, ident.rows), format_mask(ci, ident.cols)))
        self._enabled_rows = len(set(ri))
        self._enabled_cells = len(set(ri)) * len(set(ci))

    def route(self, mode: str, smu_line: int | None = None, input_source: str = "DAC") -> None:
        """Route the lines: ``OFF``, ``WRITE``, ``ADC`` or ``SMU``.

        In SMU mode output line ``smu_line`` goes to the external SMU and the enabled input
        lines are driven by the on-board DACs (``input_source="DAC"``) or by the SMU
        (``"SMU"``).

        Raises:
            ValueError: unknown mode or source, ``smu_line`` missing/out of range in SMU mode
                or given in another mode (nothing sent).
        """
        ident = self._id()
        m = str(mode).strip().upper()
        if m not in ("OFF", "WRITE", "SMU", "ADC"):
            raise ValueError(f"route mode must be OFF, WRITE, SMU or ADC, got {mode!r}")
        args: tuple[str, ...] = (m,)
        if m == "SMU":
            if smu_line is None:
                raise ValueError("SMU routing needs smu_line")
            line = operator.index(smu_line)
            if not 0 <= line < ident.cols:
                raise ValueError(f"smu_line {line} outside 0..{ident.cols - 1}")
            src = str(input_source).strip().upper()
            if src not in ("DAC", "SMU"):
                raise ValueError(f"input_source must be DAC or SMU, got {input_source!r}")
            args = (m, str(line), src)
        elif smu_line is not None:
            raise ValueError(f"smu_line is only meaningful in SMU mode, not {m}")
        self._transact_echo("ROUTE", args, operation_s=ident.limits.t_route)

    def route_reference(self, index: int) -> None:
        """``ROUTE REF <index>`` (firmware 1.2): put on-board reference resistor ``index``
        between SMU HI and LO, for calibrating the SMU and the connector path. The die is
        disconnected from the SMU connector.

        Raises:
            InstrumentError: the board reports no reference resistors (nothing sent).
            ValueError: ``index`` outside ``0..references-1`` (nothing sent).
        """
        ident = self._id()
        if ident.references < 1:
            raise InstrumentError(
                f"{self.port_name}: this board reports no reference resistors "
                f"(IDN refs, firmware 1.2); it runs {ident.firmware}"
            )
        k = operator.index(index)
        if not 0 <= k < ident.references:
            raise ValueError(f"reference resistor {k} outside 0..{ident.references - 1}")
        self._transact_echo("ROUTE", ("REF", str(k)), operation_s=ident.limits.t_route)

    def pulse(self, amplitude_v: float, width_s: float, polarity: Any) -> PulseReport:
        """Apply one write pulse to every enabled cell (enabled rows x enabled columns).

        Args:
            amplitude_v: pulse magnitude in volts (>= 0, sent with millivolt resolution).
            width_s: pulse width in seconds.
            polarity: ``"POS"``/``"+"``/``+1`` (input line positive) or ``"NEG"``/``"-"``/``-1``.

        Returns:
            the pulse the board reports it applied.

        Raises:
            SafetyViolation: amplitude or width outside the limits (nothing sent).
            ValueError: bad polarity or a negative amplitude (nothing sent).
            ControllerError: e.g. E06 when not routed WRITE or no cell enabled.
        """
        lim = self._id().limits
        pol = _as_polarity(polarity)
        amp = _finite("amplitude_v", amplitude_v)
        width = _finite("width_s", width_s)
        if amp < 0:
            raise ValueError("amplitude_v is a magnitude; give the sign through polarity")
        if amp > lim.vpulse_max:
            raise SafetyViolation(f"pulse amplitude {amp} V outside 0..{lim.vpulse_max} V")
        if not lim.width_min <= width <= lim.width_max:
            raise SafetyViolation(
                f"pulse width {width} s outside {lim.width_min}..{lim.width_max} s"
            )
        if self.envelope is not None:
            self.envelope.check_pulse(amp, width)
        fields = self._transact(
            "PULSE",
            (pol, format_volts(amp), format_seconds(width)),
            operation_s=width + lim.t_pulse,
        )
        if len(fields) != 4:
            raise FrameError(f"{self.port_name}: malformed PULSE reply {fields}")
        (cells_text,) = _require(parse_fields(fields[3:]), "cells")
        report = PulseReport(
            amplitude_v=parse_volts(fields[1]),
            width_s=parse_seconds(fields[2]),
            polarity=fields[0],  # type: ignore[arg-type]
            cells=_parse_int(cells_text),
        )
        asked = (pol, format_volts(amp), format_seconds(width))
        expected_cells = self._enabled_cells
        # The board quantises to its 10 ns timebase and its DAC step (protocol, PULSE):
        # anything further from the request than that is not the pulse that was asked for.
        if (
            report.polarity != pol
            or abs(report.amplitude_v - amp) > PULSE_AMPLITUDE_TOLERANCE_V
            or abs(report.width_s - width) > PULSE_WIDTH_TOLERANCE_S + 1e-3 * width
            or (expected_cells is not None and report.cells != expected_cells)
        ):
            want_cells = "?" if expected_cells is None else str(expected_cells)
            raise ReplyMismatch(
                f"{self.port_name}: PULSE asked {' '.join(asked)} on {want_cells} cells, board "
                f"reports {' '.join(fields[:3])} on {report.cells} cells"
            )
        return report

    def set_read_voltages(self, volts: Any) -> None:
        """Set the read voltage of every input line (volts; a scalar applies to all).

        Raises:
            SafetyViolation: a voltage outside the read limits or not finite (nothing sent).
            ValueError: wrong vector length (nothing sent).
        """
        ident = self._id()
        lim = ident.limits
        arr = np.asarray(volts, dtype=float)
        if arr.ndim == 0:
            arr = np.full(ident.rows, float(arr))
        if arr.shape != (ident.rows,):
            raise ValueError(f"need {ident.rows} read voltages, got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise SafetyViolation("read voltages must be finite")
        bad = np.flatnonzero((arr < lim.vread_min) | (arr > lim.vread_max))
        if bad.size:
            i = int(bad[0])
            raise SafetyViolation(
                f"read voltage {arr[i]} V on input line {i} outside "
                f"{lim.vread_min}..{lim.vread_max} V"
            )
        if self.envelope is not None:
            self.envelope.check_read_voltages(arr)
        fields = self._transact("VREAD", [format_volts(v) for v in arr], operation_s=lim.t_dac)
        (n,) = _require(parse_fields(fields), "n")
        if _parse_int(n) != ident.rows:
            raise FrameError(f"{self.port_name}: VREAD reply n={n}, expected {ident.rows}")

    def read_raw(self) -> ReadResult:
        """Bulk-read all output lines through the on-chip converters (route must be ADC).

        Raises:
            ControllerError: e.g. E06 when not routed ADC.
            InstrumentError: malformed reply (wrong number of codes, ...).
        """
        ident = self._id()
        lim = ident.limits
        fields = parse_fields(
            self._transact(
                "READ", operation_s=lim.t_int + lim.t_read, reply_bytes=40 + 3 * ident.cols
            )
        )
        return self._codes_result(fields, 1)

    def _codes_result(self, fields: dict[str, str], n_vectors: int) -> ReadResult:
        ident = self._id()
        bits = ident.limits.adc_bits
        lsb_t, zero_t, codes_t = _require(fields, "lsb", "zero", "codes")
        lsb = parse_seconds(lsb_t)  # same D.DDDe+DD format, unit A
        zero = _parse_int(zero_t)
        codes = decode_codes(codes_t, n_vectors * ident.cols, bits)
        if n_vectors > 1:
            codes = codes.reshape(n_vectors, ident.cols)
        full = (1 << bits) - 1
        return ReadResult(
            codes=codes,
            lsb_a=lsb,
            zero_code=zero,
            currents_a=(codes - zero).astype(np.float64) * lsb,
            saturated=(codes == 0) | (codes == full),
        )

    @property
    def has_v11_commands(self) -> bool:
        """True when the board's firmware (1.1 or later) knows ``ARNG`` and ``SCAN``."""
        ident = self._id()
        try:
            major, minor = (int(x) for x in ident.firmware.split(".")[:2])
        except ValueError:
            return False
        return (major, minor) >= (1, 1)

    def _need_v11(self, verb: str) -> None:
        if not self.has_v11_commands:
            raise InstrumentError(
                f"{self.port_name}: {verb} needs board firmware 1.1 or later, "
                f"this board runs {self._id().firmware}"
            )

    def set_adc_range(self, full_scale_a: float) -> None:
        """``ARNG``: full-scale current (A, bipolar) of the on-chip converters.

        Raises:
            ValueError: not one of :data:`ADC_RANGES` (nothing is sent).
        """
        if not any(math.isclose(full_scale_a, r, rel_tol=1e-9) for r in ADC_RANGES):
            allowed = ", ".join(f"{r:g}" for r in ADC_RANGES)
            raise ValueError(f"converter range {full_scale_a!r} A is not one of {allowed} A")
        self._need_v11("ARNG")
        self._transact_echo("ARNG", (format_seconds(full_scale_a),))

    def scan(self, volts: float) -> ReadResult:
        """``SCAN``: raise each enabled input line in turn to ``volts`` (others at 0 V) and
        convert all output lines each time (route must be ADC).

        Returns:
            codes and currents (A) of shape ``(enabled rows, cols)``, rows in ascending order.

        Raises:
            SafetyViolation: ``volts`` outside the read limits (nothing is sent).
            ControllerError: e.g. E06 when not routed ADC or no input line enabled.
        """
        ident = self._id()
        self._need_v11("SCAN")
        lim = ident.limits
        v = _finite("volts", volts)
        if not lim.vread_min <= v <= lim.vread_max:
            raise SafetyViolation(f"read voltage {v} V outside {lim.vread_min}..{lim.vread_max} V")
        if self.envelope is not None:
            self.envelope.check_read_voltages(np.array([v]))
        per_row = lim.t_dac + lim.t_int + lim.t_read
        fields = parse_fields(
            self._transact(
                "SCAN",
                (format_volts(v),),
                operation_s=ident.rows * per_row,
                reply_bytes=60 + 3 * ident.rows * ident.cols,
            )
        )
        (n_text,) = _require(fields, "n")
        n = _parse_int(n_text)
        if not 1 <= n <= ident.rows:
            raise FrameError(f"{self.port_name}: SCAN reply n={n} outside 1..{ident.rows}")
        if self._enabled_rows is not None and n != self._enabled_rows:
            raise ReplyMismatch(
                f"{self.port_name}: SCAN {format_volts(v)} V asked for the {self._enabled_rows} "
                f"enabled input lines, board reports n={n}"
            )
        result = self._codes_result(fields, n)
        if n == 1:
            return ReadResult(
                codes=result.codes[None, :],
                lsb_a=result.lsb_a,
                zero_code=result.zero_code,
                currents_a=result.currents_a[None, :],
                saturated=result.saturated[None, :],
            )
        return result

    def read_all(
        self, on_saturation: Literal["raise", "nan", "keep"] = "raise"
    ) -> npt.NDArray[np.float64]:
        """Bulk-read all output lines; return their currents in amperes (length ``cols``).

        Args:
            on_saturation: a converter at its first or last code is ``"raise"``d as
                InstrumentError, replaced by NaN (``"nan"``) or returned as is (``"keep"``).

        Raises:
            InstrumentError: saturated converter (with ``"raise"``) or malformed reply.
            ControllerError: e.g. E06 when not routed ADC.
        """
        result = self.read_raw()
        currents = result.currents_a.copy()
        if result.saturated.any():
            lines = np.flatnonzero(result.saturated).tolist()
            if on_saturation == "raise":
                raise InstrumentError(f"{self.port_name}: converter saturated on lines {lines}")
            if on_saturation == "nan":
                currents[result.saturated] = np.nan
        return currents

    def status(self) -> ControllerStatus:
        """Query ``STAT``: busy flag, last error, selection, routing, temperature, flags."""
        ident = self._id()
        f = parse_fields(self._transact("STAT", reply_bytes=128))
        busy, err, arr, route, smu, src, rows, cols, temp, flags = _require(
            f, "busy", "err", "arr", "route", "smu", "src", "rows", "cols", "temp", "flags"
        )
        if busy not in ("0", "1") or not _ERR_CODE.fullmatch(err):
            raise FrameError(f"{self.port_name}: malformed STAT reply {f}")
        if not _HEX2.fullmatch(flags):
            raise FrameError(f"{self.port_name}: malformed STAT flags {flags!r}")
        return ControllerStatus(
            busy=busy == "1",
            last_error=err,
            array=None if arr == "--" else _parse_int(arr),
            route=route,
            smu_line=None if smu == "--" else _parse_int(smu),
            input_source=None if src == "--" else src,
            rows_mask=None if rows == "--" else parse_mask(rows, ident.rows),
            cols_mask=None if cols == "--" else parse_mask(cols, ident.cols),
            temperature_c=_parse_float(temp),
            flags=int(flags, 16),
        )

    def reset(self) -> None:
        """``RST``: abort, route OFF, clear masks/selection/read voltages, errors and faults."""
        extra = self.identity.limits.t_route if self.identity else 0.0
        self._enabled_rows = self._enabled_cells = None
        reply = self._transact("RST", operation_s=extra)
        self._enabled_rows = self._enabled_cells = 0
        if reply:
            raise FrameError(f"{self.port_name}: unexpected fields in RST reply")
