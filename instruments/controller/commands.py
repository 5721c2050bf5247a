"""The controller board's commands (docs/chip-protocol.md): :class:`ChipController`.

Each method checks its arguments against the board's reported geometry and limits (and the
station's safety envelope) before anything is sent, runs one transaction on the
:class:`~mtj_hil.instruments.controller.link.ControllerLink` and checks the reply with
:mod:`mtj_hil.instruments.controller.replies`. All quantities are SI: volts, seconds, amperes.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from mtj_hil.instruments.controller.codec import (
    ADC_RANGES,
    ControllerError,
    FrameError,
    _parse_int,
    _require,
    format_mask,
    format_seconds,
    parse_fields,
)
from mtj_hil.instruments.controller.link import ControllerLink
from mtj_hil.instruments.controller.replies import (
    check_pulse_reply,
    check_scan_reply,
    codes_result,
    parse_status,
)
from mtj_hil.instruments.controller.seq_commands import SequenceCommands
from mtj_hil.instruments.controller.types import (
    FLAG_HOST_WATCHDOG,
    FLAG_MCU_RESET,
    ControllerStatus,
    HostWatchdogFired,
    PulseReport,
    ReadResult,
    as_polarity,
    finite,
)
from mtj_hil.instruments.controller.wire import checked_pulse, checked_reads
from mtj_hil.instruments.errors import InstrumentError, InstrumentStateLost

__all__ = ["ChipController"]

#: single commands the board refuses with E06 when it holds no array (protocol, SEL)
_NEED_ARRAY = frozenset({"EN", "ROUTE", "PULSE", "READ", "SCAN"})


class ChipController(SequenceCommands, ControllerLink):
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
            ``mtj_hil.instruments.safety.SafetyEnvelope``).
        exclusive: lock the port against other processes (POSIX ``flock``; a second open
            fails with an InstrumentError instead of two programs sharing the board).
        write_timeout: seconds a write may block (a stalled port raises InstrumentTimeout
            instead of hanging a transaction that defers Ctrl-C).
        rtscts, xonxoff, dtr, rts: flow control, and line levels after opening (pyserial's).
        keepalive_s: :meth:`keepalive` talks to the board once the link has been idle this
            long (s); well under the board's host watchdog (60 s on the reference board).
        link_clock: the clock (s) idle time is measured on; ``time.monotonic`` on a real
            bench, the lab's modelled clock in the virtual lab.
        time_scale: wall seconds per board second (>= 1; a virtual board at a pace): every
            reply timeout is stretched by it.

    One driver per physical port: the port lock makes a driver safe to share between
    threads, but two drivers on one port would number their frames independently.

    Raises:
        InstrumentError, InstrumentTimeout: the handshake failed.
    """

    #: input lines / cells the host knows are enabled (``None``: unknown, e.g. after a
    #: failed EN); checked against the PULSE and SCAN replies
    _enabled_rows: int | None = None
    _enabled_cells: int | None = None
    #: array the host selected and the board still holds, as far as the host knows
    _selected_array: int | None = None
    #: STAT flag bits 3 and 4 as :meth:`check_not_reset` last saw them (``None``: not yet)
    _flags_seen: int | None = None
    #: the route the host last set (``ROUTE`` mode, ``REF`` for a reference resistor; OFF
    #: after SEL and RST; ``None``: unknown, e.g. after a failed command or a sequence)
    _routed: str | None = None

    def _transact(
        self,
        command: str,
        args: Sequence[str] = (),
        operation_s: float = 0.0,
        reply_bytes: int = 64,
    ) -> tuple[str, ...]:
        """:meth:`ControllerLink._transact`; an E06 to a command that needs the array the
        host selected is explained when the board reset itself since (as a sequence run's).

        Raises:
            HostWatchdogFired: the board's host watchdog had reset it (``STAT`` flag 4).
            InstrumentStateLost: the board reset itself otherwise (it holds no array).
            ControllerError, InstrumentError: as :meth:`ControllerLink._transact`.
        """
        try:
            return super()._transact(command, args, operation_s, reply_bytes)
        except ControllerError as exc:
            if exc.code == "E06" and command in _NEED_ARRAY and self._selected_array is not None:
                self._explain_lost_array(exc)
            raise

    def _explain_lost_array(self, exc: ControllerError) -> None:
        """After an E06 to a command needing the selected array: ask ``STAT`` whether the
        board still holds one; raise when it reset itself, return when it does (a plain E06,
        e.g. a route other than the command needs) or cannot say (STAT failed)."""
        selected = self._selected_array
        try:
            state = self.status()
        except InstrumentError:
            return  # the E06 itself is the best report left
        if state.array is not None and not state.host_watchdog_fired:
            return
        self._forget_board()
        said = f"{self.port_name}: {exc.command} answered E06 ({exc.message}): "
        if state.host_watchdog_fired:
            raise HostWatchdogFired(said + _WATCHDOG_FIRED) from exc
        raise InstrumentStateLost(
            said + f"the board no longer holds array {selected}, it reset itself since the "
            "host selected it (its own watchdog or power; STAT flag bit 3 says which), so it "
            "is in its safe state and the command was not applied"
        ) from exc

    def _forget_board(self) -> None:
        """What a board that reset itself no longer holds: selection, route, masks, the
        sequence buffer and its threshold map (the host vouches for none of them)."""
        self._selected_array = self._routed = None
        self._enabled_rows = self._enabled_cells = None
        self._seq_buffer = None
        self._seq_map = None

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
        self._selected_array = self._routed = None
        self._transact_echo("SEL", (str(i),), operation_s=ident.limits.t_route)
        self._enabled_rows = self._enabled_cells = 0  # SEL clears both masks
        self._selected_array, self._routed = i, "OFF"  # and routes OFF

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
        self._routed = None
        self._transact_echo("ROUTE", args, operation_s=ident.limits.t_route)
        self._routed = m

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
        self._routed = None
        self._transact_echo("ROUTE", ("REF", str(k)), operation_s=ident.limits.t_route)
        self._routed = "REF"

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
        pol = as_polarity(polarity)
        amp = finite("amplitude_v", amplitude_v)
        width = finite("width_s", width_s)
        if amp < 0:
            raise ValueError("amplitude_v is a magnitude; give the sign through polarity")
        wire = checked_pulse(amp, width, lim, self.envelope)
        fields = self._transact("PULSE", (pol, *wire), operation_s=width + lim.t_pulse)
        return check_pulse_reply(fields, (pol, amp, width), self._enabled_cells, self.port_name)

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
        wire = checked_reads(arr, lim, self.envelope)
        fields = self._transact("VREAD", wire, operation_s=lim.t_dac)
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
        return codes_result(fields, 1, ident)

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
        v = finite("volts", volts)
        wire = checked_reads(np.array([v]), lim, self.envelope)
        per_row = lim.t_dac + lim.t_int + lim.t_read
        fields = parse_fields(
            self._transact(
                "SCAN",
                tuple(wire),
                operation_s=ident.rows * per_row,
                reply_bytes=60 + 3 * ident.rows * ident.cols,
            )
        )
        return check_scan_reply(fields, v, self._enabled_rows, ident, self.port_name)

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
        return parse_status(self._transact("STAT", reply_bytes=128), ident, self.port_name)

    def check_watchdog(self) -> ControllerStatus:
        """``STAT``, raising if the board's host watchdog has fired (flag bit 4).

        Raises:
            HostWatchdogFired: the board reset itself to the safe state because the link was
                silent too long with a route held; the host's picture of routes, masks and
                read voltages is stale and SMU readings since then were not of the die.
        """
        state = self.status()
        if state.host_watchdog_fired:
            raise HostWatchdogFired(f"{self.port_name}: {_WATCHDOG_FIRED}")
        return state

    def check_not_reset(self) -> ControllerStatus:
        """``STAT``, raising when the board went to its power-up state by itself since the
        host last looked: readings the host took through its routes since then (an SMU's
        through a held ``SMU`` route) were not of the die.

        A reset shows as the array the host selected no longer held (a reset deselects,
        protocol section 9.4), as the ``SMU`` or ``REF`` route the host set no longer held
        (a power loss leaves flag bit 3 clear, and a reference needs no array), or as flag
        bit 3 (the board's own watchdog) or bit 4 (the host watchdog) newly set. Nothing the
        host sends clears bit 3, and a board may come with either bit set by an earlier
        session, so a bit set when first asked is taken as old.

        Raises:
            HostWatchdogFired: the host watchdog fired (flag bit 4).
            InstrumentStateLost: the board reset itself (its own watchdog or power).
            InstrumentError: STAT failed.
        """
        state = self.status()
        selected, routed = self._selected_array, self._routed
        # a power loss leaves flag bit 3 clear: the dropped array or route tells
        lost = (selected is not None and state.array != selected) or (
            routed in ("SMU", "REF") and state.route != routed
        )
        seen = self._flags_seen
        new = 0 if seen is None else state.flags & ~seen
        self._flags_seen = state.flags & (FLAG_MCU_RESET | FLAG_HOST_WATCHDOG)
        if not (lost or new & (FLAG_MCU_RESET | FLAG_HOST_WATCHDOG)):
            return state
        self._forget_board()
        if new & FLAG_HOST_WATCHDOG:
            raise HostWatchdogFired(f"{self.port_name}: {_WATCHDOG_FIRED}")
        held = ""
        if lost and selected is not None and state.array != selected:
            held = f"no longer holds array {selected} and "
        elif lost:
            held = f"dropped its {routed} route and "
        raise InstrumentStateLost(
            f"{self.port_name}: the controller board {held}reset itself since the host last "
            f"checked it (STAT flags={state.flags:02X}: "
            + ("its own watchdog, flag bit 3" if new & FLAG_MCU_RESET else "power or its watchdog")
            + "); it went to its safe state (routes off, lines at 0 V), so what was measured "
            "through it since was not the die. Check the board's supply and cable before "
            "measuring again"
        )

    def keepalive(self) -> bool:
        """Keep the board's host watchdog (protocol section 9.4) from firing during long
        SMU-only work: when the link has been idle for :attr:`keepalive_s` or more, send
        ``STAT`` (which changes nothing on the board) and check its watchdog flag.

        Call it between SMU measurements taken through a held route, and after the last one
        before trusting it: a silence long enough to fire the watchdog is then always
        followed by a check. Returns True when a frame was sent.

        Raises:
            HostWatchdogFired: the watchdog had already fired.
        """
        if self.idle_s < self.keepalive_s:
            return False
        self.check_watchdog()
        return True

    def reset(self) -> None:
        """``RST``: abort, route OFF, clear masks/selection/read voltages, errors and faults."""
        extra = self.identity.limits.t_route if self.identity else 0.0
        self._enabled_rows = self._enabled_cells = None
        self._seq_buffer = None  # the host no longer vouches for the sequence buffer
        self._seq_map = None  # and its threshold map
        self._selected_array = self._routed = None  # RST deselects
        reply = self._transact("RST", operation_s=extra)
        self._routed = "OFF"
        if self._flags_seen is not None:
            self._flags_seen &= ~FLAG_HOST_WATCHDOG  # RST clears bit 4
        self._enabled_rows = self._enabled_cells = 0
        if reply:
            raise FrameError(f"{self.port_name}: unexpected fields in RST reply")


_WATCHDOG_FIRED = (
    "the controller board's host watchdog fired (STAT flag bit 4): no frame reached it for "
    "its t_watchdog with a route held, so it went to the safe state by itself (routes off, "
    "lines at 0 V); measurements through the board since then are not of the die. RST "
    "clears the flag."
)
