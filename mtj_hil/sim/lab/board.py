"""Virtual controller board: the line protocol of docs/chip-protocol.md served from a simulated die.

:class:`VirtualBoard` is a pure state machine (a frame in, a reply out); a
:class:`~mtj_hil.sim.lab.server.LineServer` in bytes mode puts it on a loopback socket that
pyserial opens as ``socket://127.0.0.1:PORT``. Pulses and reads act on the same
:class:`~mtj_hil.sim.die.SimulatedDie` the in-process simulator uses, and the SMU connector's
current (:meth:`VirtualBoard.smu_current`) follows the board's routing and the devices'
states. Every frame books its modelled duration on the shared :class:`VirtualClock`.

The board's read path is imperfect on purpose (:class:`ReadPathImperfections`): each
output line's converter has its own gain and offset, the SMU connector path has a series
resistance, and the on-board reference resistors (``ROUTE REF <k>``, firmware 1.2) sit
within their tolerance of the values the station file lists. The ``calibration`` package
measures and removes these.

Host watchdog (protocol section 9.4): when no valid frame has arrived for ``watchdog_s``
(60 s, as on the reference board) while a route is held, the board resets itself (routes off,
masks cleared, read voltages 0 V, replay memory cleared, as ``RST``) and sets ``STAT`` flag bit
4 until the next ``RST``. Silence is measured on the shared :class:`VirtualClock`: in the
virtual lab, time is modelled time (SMU integrations and bus transactions book it; a host idle
in wall-clock time without booking anything is not "silent" here). The check runs when the
next frame arrives (before it is executed) and whenever the SMU connector is used, which is
all a host can observe.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from mtj_hil.instruments.controller import (
    ADC_RANGES,
    MAX_REPLY_BYTES,
    FrameError,
    decode_frame,
    encode_codes,
    encode_frame,
    err_frame,
    format_seconds,
    format_volts,
    ok_frame,
)
from mtj_hil.protocols.chip import CellState
from mtj_hil.sim.die import SimulatedDie
from mtj_hil.sim.lab.board_args import Refused, arg_int, arg_mask, arg_seconds, arg_volts, clean
from mtj_hil.sim.lab.board_info import BoardInfo, SmuConnector
from mtj_hil.sim.lab.board_seq import BoardReset, SequenceCommands, Streamed, damage_stream
from mtj_hil.sim.lab.board_setup import BoardFaults, BoardTiming, ReadPathImperfections
from mtj_hil.sim.lab.clock import VirtualClock
from mtj_hil.sim.lab.server import DropConnection


@dataclass
class _State:
    array: int | None = None
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    cols: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    route: str = "OFF"
    smu_line: int | None = None
    source: str | None = None
    ref: int | None = None
    vread: np.ndarray = field(default_factory=lambda: np.zeros(0))
    full_scale: float = 1e-3
    err: str = "E00"
    thr_map: np.ndarray | None = None
    """Firmware 1.4: threshold codes per cell (``row * cols + col``; -1 not yet set), from
    ``SEQ MAP``; cleared with the rest of this state (RST, a failed run, power-up)."""


FIRMWARES = ("1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0")
"""Firmware versions the virtual board serves the protocol as (docs/chip-protocol.md 8)."""
FIRMWARE = FIRMWARES[-1]
"""The reference board's firmware: the newest."""


class VirtualBoard(BoardInfo, SmuConnector, SequenceCommands):
    """The controller board of one die, as a frame-in / reply-out state machine.

    Args:
        die: the simulated die in the socket.
        clock: where modelled time and transactions are booked.
        timing: modelled durations.
        p_polarity: pulse polarity that writes the P state (``"POS"`` or ``"NEG"``).
        vpulse_max: the board's own pulse ceiling (V); 3.3 V on the reference board.
        serial: the board's serial number (``IDN sn``).
        imperfections: its read path's errors; ``None`` gives the defaults of
            :class:`ReadPathImperfections`, ``ReadPathImperfections.ideal()`` a perfect board.
        watchdog_s: the host watchdog's ``t_watchdog`` (s of modelled time); ``None``
            disables it.
        firmware: the firmware version ``IDN`` reports; from 1.3 the board runs sequences
            (``SEQ``) and overlaps each conversion with the next row's settling and
            integration. An older version serves the protocol as that firmware did.

    Attributes:
        converter_gain, converter_offset: true gain (1) and offset (A) of each output line's
            converter, shape ``(cols,)``.
        reference_true: true values (ohm) of the reference resistors.
        series_resistance: true series resistance (ohm) of the SMU connector path.
    """

    ADC_BITS = 12
    FLAG_HOST_WATCHDOG = 1 << 4  #: ``STAT`` flag bit 4 (protocol section 9.4)

    def __init__(
        self,
        die: SimulatedDie,
        clock: VirtualClock | None = None,
        timing: BoardTiming | None = None,
        *,
        p_polarity: str = "POS",
        vpulse_max: float = 3.3,
        serial: str = "XBV0001",
        imperfections: ReadPathImperfections | None = None,
        watchdog_s: float | None = 60.0,
        firmware: str = FIRMWARE,
    ) -> None:
        self.die = die
        self.firmware = firmware
        version = tuple(int(x) for x in firmware.split(".")[:2])
        self.has_sequences = version >= (1, 3)
        self.has_threshold_map = version >= (1, 4)
        self.pipelined = version >= (1, 3)
        self._seq_init()
        self._reply_seq = 0
        self.mcu_reset = False
        """STAT flag bit 3: the board's own watchdog reset it since power-up."""
        self.clock = clock or VirtualClock()
        self.timing = timing or BoardTiming()
        self.p_polarity = p_polarity
        self.vpulse_max = vpulse_max
        self.serial = serial
        self.faults = BoardFaults()
        self.pulses: list[tuple[int, int, str, float, float]] = []
        """Every pulse applied: (array, cells, polarity, amplitude V, width s)."""
        self.read_levels: list[float] = []
        """Largest input-line voltage (V) of every READ and SCAN performed."""
        self.conversions = 0
        """Input vectors converted (one per READ, one per scanned row)."""
        self.integration_s = 0.0
        """Converter integration time spent on them (s): the reads' physical floor."""
        self.frames = 0
        self._lock = threading.RLock()
        n_arrays, self.rows, self.cols = die.shape
        self.n_arrays = n_arrays
        imp = imperfections if imperfections is not None else ReadPathImperfections()
        self.imperfections = imp
        rng = np.random.default_rng(imp.seed)
        self.converter_gain = 1.0 + imp.converter_gain_sigma * rng.standard_normal(self.cols)
        self.converter_offset = imp.converter_offset_sigma * rng.standard_normal(self.cols)
        tol = rng.uniform(-1.0, 1.0, len(imp.reference_ohms)) * imp.reference_tolerance
        self.reference_true = np.asarray(imp.reference_ohms, float) * (1.0 + tol)
        self.series_resistance = float(imp.series_resistance)
        self._noise_rng = np.random.default_rng([imp.seed, 21])
        self._pickup_coupling = rng.uniform(0.7, 1.3, self.cols)
        self._state = self._reset_state()
        self._replay: tuple[bytes, bytes] | None = None
        self._last_seq: int | None = None
        self.watchdog_s = watchdog_s
        self.watchdog_fired = False
        """STAT flag bit 4: set when the host watchdog reset the board, cleared by RST."""
        self._last_frame_at = self.clock.now
        self._heard = False

    def _power_up(self) -> None:
        """What the board's own watchdog reset leaves: the power-up state (safe), no
        sequence, no replay memory, ``STAT`` flag bit 3."""
        self._state = self._reset_state()
        self._seq_init()
        self._replay = None
        self._last_seq = None
        self.mcu_reset = True

    def _reset_state(self) -> _State:
        return _State(
            rows=np.zeros(self.rows, bool),
            cols=np.zeros(self.cols, bool),
            vread=np.zeros(self.rows),
        )

    # -- the frame handler ----------------------------------------------------------------

    def handle(self, line: bytes) -> bytes | None:
        """Answer one line (without its LF) as the board would; ``None`` means no reply.

        Raises:
            DropConnection: an injected dropped connection.
        """
        with self._lock:
            if not line:
                return None  # a lone LF flushes the parser, no reply
            self.frames += 1
            f = self.faults
            if f.drop_after is not None:
                f.drop_after -= 1
                if f.drop_after <= 0:
                    f.drop_after = None
                    raise DropConnection("injected: controller connection dropped")
            if f.dead:
                return None
            if f.silent > 0:
                f.silent -= 1
                return None
            self.check_watchdog()
            self._heard = False
            try:
                reply, extra, n_out = self._answer(line)
            except BoardReset:
                self._power_up()
                return None
            self._book(len(line) + 1, n_out, extra)
            if self._heard:
                self._last_frame_at = self.clock.now
            if f.lose_reply_of is not None and _verb_args(line).startswith(f.lose_reply_of):
                f.lose_reply_of = None
                return None
            if f.dat_fault is not None and reply.startswith(b"DAT "):
                reply = damage_stream(reply, f)
            if f.garbage:
                reply, f.garbage = f.garbage + reply, b""
            return reply

    def _book(self, n_in: int, n_out: int, extra: float) -> None:
        t = self.timing
        byte_time = 10.0 / t.baudrate
        self.clock.transaction(t.t_cmd + extra + (n_in + n_out) * byte_time)

    def _answer(self, line: bytes) -> tuple[bytes, float, int]:
        """Reply, extra time (s) and reply bytes that add to the transfer time."""
        try:
            frame = decode_frame(line + b"\n")
        except FrameError as exc:
            reply = err_frame(None, "E01", clean(str(exc))[:200])
            return reply, 0.0, len(reply)
        self._heard = True  # a valid frame: the host watchdog restarts
        if frame.verb == "SYNC":  # (section 3: no arguments)
            last = "--" if self._last_seq is None else f"{self._last_seq:02X}"
            reply = ok_frame(frame.seq, "SYNC", f"last={last}")
            if frame.args:
                reply = err_frame(frame.seq, "E03", "SYNC takes no arguments")
            return reply, 0.0, len(reply)
        payload = line[: line.rfind(b"*")]
        if self._replay is not None and self._replay[0] == payload:
            return self._replay[1], 0.0, len(self._replay[1])
        extra = 0.0
        n_out = None
        if self.faults.error_next is not None:
            code, message = self.faults.error_next
            self.faults.error_next = None
            reply = err_frame(frame.seq, code, message)
        else:
            try:
                self._reply_seq = frame.seq
                fields, extra = self._execute(frame.verb, frame.args)
                if isinstance(fields, Streamed):
                    reply, extra, n_out = self._streamed_reply(frame.seq, fields)
                else:
                    reply = ok_frame(frame.seq, frame.verb, *fields)
            except Refused as refused:
                self._state.err = refused.code
                reply = err_frame(frame.seq, refused.code, refused.message)
        self._replay = (payload, reply)
        self._last_seq = frame.seq
        return reply, extra, len(reply) if n_out is None else n_out

    def _streamed_reply(self, seq: int, out: Streamed) -> tuple[bytes, float, int]:
        """All frames of a sequence run; their transfer is inside ``out.duration``."""
        if out.error is not None:
            self._state.err = out.error[0]
            last = err_frame(seq, out.error[0], clean(out.error[1]))
        else:
            last = ok_frame(seq, "SEQ", *(out.final or []))
        return b"".join([*out.frames, last]), out.duration, 0

    def _dat_frame(self, fields: list[str]) -> bytes:
        """One ``DAT`` frame of the running sequence (sequence number of its ``SEQ RUN``)."""
        return encode_frame("DAT", self._reply_seq, fields, max_bytes=MAX_REPLY_BYTES)

    def check_watchdog(self) -> bool:
        """Fire the host watchdog if the link has been silent for :attr:`watchdog_s` of
        modelled time with a route held (module docstring); return :attr:`watchdog_fired`."""
        with self._lock:
            silent = self.clock.now - self._last_frame_at
            if (
                self.watchdog_s is not None
                and self._state.route != "OFF"
                and silent >= self.watchdog_s
            ):
                self._state = self._reset_state()
                self._replay = None
                self.watchdog_fired = True
            return self.watchdog_fired

    # -- commands -------------------------------------------------------------------------

    def _execute(self, verb: str, args: tuple[str, ...]) -> tuple[list[str], float]:
        handler = getattr(self, f"_cmd_{verb.lower()}", None)
        if verb in ("OK", "ERR") or handler is None:
            raise Refused("E02", f"unknown command {verb}")
        return handler(args)

    def _nargs(self, args: tuple[str, ...], n: int, verb: str) -> None:
        if len(args) != n:
            raise Refused("E03", f"{verb} takes {n} argument(s), got {len(args)}")

    def _selected(self) -> int:
        if self._state.array is None:
            raise Refused("E06", "no array selected")
        return self._state.array

    def _cmd_sel(self, args: tuple[str, ...]) -> tuple[list[str], float]:
        self._nargs(args, 1, "SEL")
        index = arg_int(args[0])
        if not 0 <= index < self.n_arrays:
            raise Refused("E04", f"array {args[0]} outside 0..{self.n_arrays - 1}")
        s = self._state
        s.array, s.route, s.smu_line, s.source, s.ref = index, "OFF", None, None, None
        s.rows[:] = False
        s.cols[:] = False
        return [str(index)], self.timing.t_route

    def _cmd_en(self, args: tuple[str, ...]) -> tuple[list[str], float]:
        self._nargs(args, 2, "EN")
        self._selected()
        rows = arg_mask(args[0], self.rows)
        cols = arg_mask(args[1], self.cols)
        self._state.rows, self._state.cols = rows, cols
        return list(args), 0.0

    def _cmd_route(self, args: tuple[str, ...]) -> tuple[list[str], float]:
        if not args:
            raise Refused("E03", "ROUTE needs a mode")
        mode = args[0]
        s = self._state
        if mode in ("OFF", "WRITE", "ADC"):
            self._nargs(args, 1, "ROUTE")
            if mode != "OFF":
                self._selected()
            s.route, s.smu_line, s.source, s.ref = mode, None, None, None
        elif mode == "REF":
            self._nargs(args, 2, "ROUTE")
            k = arg_int(args[1])
            if not 0 <= k < len(self.reference_true):
                raise Refused(
                    "E04", f"reference {args[1]} outside 0..{len(self.reference_true) - 1}"
                )
            s.route, s.smu_line, s.source, s.ref = "REF", None, None, k
        elif mode == "SMU":
            self._nargs(args, 3, "ROUTE")
            self._selected()
            line = arg_int(args[1])
            if not 0 <= line < self.cols:
                raise Refused("E04", f"SMU line {args[1]} outside 0..{self.cols - 1}")
            if args[2] not in ("DAC", "SMU"):
                raise Refused("E03", f"input source must be DAC or SMU, got {args[2]}")
            s.route, s.smu_line, s.source, s.ref = "SMU", line, args[2], None
        else:
            raise Refused("E03", f"unknown route {mode}")
        return list(args), self.timing.t_route

    def _cmd_pulse(self, args: tuple[str, ...]) -> tuple[list[str], float]:
        self._nargs(args, 3, "PULSE")
        polarity = args[0]
        if polarity not in ("POS", "NEG"):
            raise Refused("E03", f"polarity must be POS or NEG, got {polarity}")
        amplitude, width = arg_volts(args[1]), arg_seconds(args[2])
        if not 0 <= amplitude <= self.vpulse_max:  # a magnitude: the polarity gives the sign
            where = "above " if amplitude > 0 else "outside 0.000.."
            raise Refused("E05", f"amplitude {args[1]} V {where}{format_volts(self.vpulse_max)} V")
        if not 1e-8 <= width <= 1e-3:
            raise Refused("E05", f"width {args[2]} s outside 1.000e-08..1.000e-03 s")
        array = self._selected()
        s = self._state
        if s.route != "WRITE":
            raise Refused("E06", "PULSE needs route WRITE")
        if not (s.rows.any() and s.cols.any()):
            raise Refused("E06", "PULSE needs at least one enabled row and column")
        width = round(width / 1e-8) * 1e-8
        cells = np.outer(s.rows, s.cols)
        state = CellState.P if polarity == self.p_polarity else CellState.AP
        self.die.apply_pulse(array, cells, state, amplitude, width)
        n = int(cells.sum())
        self.pulses.append((array, n, polarity, amplitude, width))
        return [polarity, format_volts(amplitude), format_seconds(width), f"cells={n}"], (
            width + self.timing.t_pulse
        )

    def _cmd_vread(self, args: tuple[str, ...]) -> tuple[list[str], float]:
        self._nargs(args, self.rows, "VREAD")
        volts = np.array([arg_volts(a) for a in args])
        bad = np.flatnonzero((volts < 0) | (volts > 3.3))
        if bad.size:
            raise Refused("E05", f"read voltage {args[bad[0]]} V outside 0.000..3.300 V")
        self._state.vread = volts
        return [f"n={self.rows}"], self.timing.t_dac

    def _cmd_arng(self, args: tuple[str, ...]) -> tuple[list[str], float]:
        self._nargs(args, 1, "ARNG")
        value = arg_seconds(args[0])
        if not any(np.isclose(value, r, rtol=1e-3) for r in ADC_RANGES):
            raise Refused("E04", f"converter range {args[0]} A not available")
        self._state.full_scale = value
        return list(args), 0.0

    def _converted(
        self, voltages: np.ndarray, full_scale: float | None = None, t_int: float | None = None
    ) -> np.ndarray:
        """Codes of all output lines for each input vector (disabled lines read zero), on
        the selected converter range or ``full_scale`` (A), integrating for ``t_int`` (s;
        default the board's, one mains cycle)."""
        array = self._selected()
        s = self._state
        if s.route != "ADC":
            raise Refused("E06", "READ and SCAN need route ADC")
        t = t_int or self.timing.t_int
        currents = self.die.read(array, voltages)
        self.conversions += voltages.shape[0]
        self.integration_s += voltages.shape[0] * t
        currents += self._converter_noise(voltages.shape[0], t)
        currents = currents * self.converter_gain + self.converter_offset
        currents[:, ~s.cols] = 0.0
        for line in self.faults.dead_lines:
            if 0 <= line < self.cols:
                currents[:, line] = 0.0
        zero = 1 << (self.ADC_BITS - 1)
        lsb = 2 * (full_scale or s.full_scale) / (1 << self.ADC_BITS)
        return np.clip(np.round(currents / lsb) + zero, 0, (1 << self.ADC_BITS) - 1).astype(int)

    def _converter_noise(self, n: int, t: float) -> np.ndarray:
        """Input-referred noise (A, ``(n, cols)``) of ``n`` conversions integrating ``t`` s:
        white noise of the converters' density, plus the mains pick-up an integration that
        is not a whole number of mains cycles leaves (random phase per conversion)."""
        imp = self.imperfections
        out = np.zeros((n, self.cols))
        if imp.converter_noise_density > 0:
            sigma = imp.converter_noise_density / np.sqrt(2.0 * t)
            out += sigma * self._noise_rng.standard_normal((n, self.cols))
        cycles = t / self.timing.t_int  # the default integration is one mains cycle
        if imp.mains_pickup > 0 and abs(cycles - round(cycles)) > 1e-9:
            phase = self._noise_rng.uniform(0.0, 2 * np.pi, (n, 1))
            w = 2 * np.pi * cycles
            mean = (np.cos(phase) - np.cos(w + phase)) / w  # mean of sin over the window
            out += imp.mains_pickup * mean * self._pickup_coupling
        return out

    def _scale_fields(self) -> list[str]:
        lsb = 2 * self._state.full_scale / (1 << self.ADC_BITS)
        return [f"lsb={format_seconds(lsb)}", f"zero={1 << (self.ADC_BITS - 1)}"]

    def _cmd_read(self, args: tuple[str, ...]) -> tuple[list[str], float]:
        self._nargs(args, 0, "READ")
        s = self._state
        codes = self._converted((s.vread * s.rows)[None, :])
        self.read_levels.append(float((s.vread * s.rows).max()))
        t = self.timing
        return [*self._scale_fields(), f"codes={encode_codes(codes[0], self.ADC_BITS)}"], (
            t.t_int + t.t_read
        )

    def _cmd_scan(self, args: tuple[str, ...]) -> tuple[list[str], float]:
        self._nargs(args, 1, "SCAN")
        volts = arg_volts(args[0])
        if not 0 <= volts <= 3.3:
            raise Refused("E05", f"read voltage {args[0]} V outside 0.000..3.300 V")
        s = self._state
        rows = np.flatnonzero(s.rows)
        if s.route == "ADC" and rows.size == 0:
            raise Refused("E06", "SCAN needs at least one enabled input line")
        vectors = np.zeros((rows.size, self.rows))
        vectors[np.arange(rows.size), rows] = volts
        codes = self._converted(vectors)
        self.read_levels.append(volts)
        t = self.timing
        # From firmware 1.3 a conversion overlaps the next row's settling and integration.
        per_row = t.t_dac + t.t_int + (0.0 if self.pipelined else t.t_read)
        total = rows.size * per_row + (t.t_read if self.pipelined else 0.0)
        # The board streams each row's codes while converting the next, so only the part of
        # the reply that cannot hide behind the conversions adds to the time.
        row_bytes = 3 * self.cols
        hidden = min((rows.size - 1) * per_row, (rows.size - 1) * row_bytes * 10 / t.baudrate)
        fields = [
            *self._scale_fields(),
            f"n={rows.size}",
            f"codes={encode_codes(codes.ravel(), self.ADC_BITS)}",
        ]
        return fields, total - hidden

    def _cmd_rst(self, args: tuple[str, ...]) -> tuple[list[str], float]:
        self._nargs(args, 0, "RST")
        self._state = self._reset_state()
        self.watchdog_fired = False
        return [], self.timing.t_route


def _verb_args(line: bytes) -> str:
    """``VERB ARG ...`` of a frame (sequence number and checksum left out)."""
    words = line.split(b"*")[0].decode("ascii", "replace").split(" ")
    return " ".join(words[:1] + words[2:])
