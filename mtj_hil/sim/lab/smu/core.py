"""The physics-backed core every virtual SMU dialect shares.

One :class:`SmuChannel` holds a source-measure channel's state (source function and levels,
limits, over-voltage protection, source and measure ranges, integration time, output relay,
list sweep, trigger count) and turns it into measurement points from the die/board load
``load(voltage_V) -> current_A`` (:meth:`mtj_hil.sim.lab.board.VirtualBoard.smu_current`), so
every dialect measures the same physics. :class:`VirtualInstrument` holds what the instrument
shares across its channels: the error queue, the modelled clock, fault injection, the record of
every applied change (:attr:`~VirtualInstrument.history`) and the line transcript. A dialect
module (2400, 2450, 26xx, B2900) adds only its command language, its power-on defaults and its
reply formats.

Model (SI units): with the output off a point reads 0 V / 0 A and the load is not called.
Sourcing voltage, the terminals get the level (clamped at the over-voltage protection) and the
current is the load's, clamped at the current limit (compliance: the reading's voltage is then
the one the load sets at the limit). Sourcing current, the
terminal voltage is the one at which the load draws the programmed current (bisection on the
monotonic load), clamped at the voltage limit (compliance) and the protection. A fixed measure
range clamps at 105 % of the range (range compliance); a non-finite current is an overflow.
Measurement errors: ``reading = gain * I + offset`` plus Gaussian noise ``hypot(noise_abs,
noise_rel * reading)`` (1 sigma). Every point costs ``nplc / line_frequency`` s on the clock.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from mtj_hil.sim.lab.clock import VirtualClock
from mtj_hil.sim.lab.server import DropConnection
from mtj_hil.sim.lab.smu.channel import (
    Applied,
    ChannelDefaults,
    Load,
    Point,
    SmuChannel,
    range_for,
)
from mtj_hil.sim.lab.smu.error_queue import ErrorQueue, event_bit

__all__ = [
    "Applied",
    "ChannelDefaults",
    "ErrorQueue",
    "Load",
    "Point",
    "SmuChannel",
    "VirtualInstrument",
    "range_for",
]


@dataclass
class _Faults:
    drop_after: int | None = None
    mute: int = 0
    garble: list[str] = field(default_factory=list)
    fail: list[tuple[int, str]] = field(default_factory=list)
    overflow: int = 0
    compliance: int = 0
    #: (lines to go, event): "reset" or "power-cycle" happens before that line runs
    event_after: tuple[int, str] | None = None
    #: wall seconds the next replies wait before they leave (one entry per reply)
    late: list[float] = field(default_factory=list)


class VirtualInstrument:
    """Base of every virtual SMU: channels, error queue, clock, faults, history, transcript.

    :param load: the device under test, ``load(voltage_V) -> current_A``.
    :param clock: shared modelled-time clock (a private one if omitted).
    :param latency: modelled cost of one bus transaction, s.
    :param line_frequency: mains frequency, 50 or 60 Hz (sets NPLC integration times).
    :param max_voltage: optional safety limit, V: a larger source level is refused (never
        applied) with the dialect's out-of-range error.
    :param idn: identification reply (the dialect's default if omitted).
    :param gain, offset, noise_abs, noise_rel, seed: measurement errors (see module doc).
    :param load_channel: channel whose terminals the load is wired to (default: the first);
        the others see open terminals.

    Subclasses set :attr:`CHANNELS`, :attr:`DEFAULT_IDN`, :meth:`channel_defaults` and
    :meth:`execute`. Thread-safe: one lock serialises lines and fault settings.
    """

    CHANNELS: tuple[str, ...] = ("1",)
    DEFAULT_IDN = "virtual SMU"
    ERROR_QUEUE_SIZE = 10
    OVERFLOW_CODE = -350
    OVERFLOW_MESSAGE = "Queue overflow"
    #: Error queued when a line overruns the input buffer.
    OVERRUN: tuple[int, str] = (-363, "Input buffer overrun")
    #: Standard texts of the dialect's error codes (used by :meth:`fail_next`).
    ERROR_TEXT: dict[int, str] = {}
    #: Errors the "stale-errors" start state leaves queued (code, message).
    STALE_ERRORS: tuple[tuple[int, str], ...] = ()
    #: Lines a previous user sent, per start state (see :mod:`mtj_hil.sim.lab.smu.dialects`).
    START_LINES: dict[str, tuple[str, ...]] = {}
    #: Lines that switch the output on (the end of "output-on" and "last-user").
    OUTPUT_ON: tuple[str, ...] = ()
    #: Source voltage ranges, V, and the voltage protection the model has: the state field
    #: (``"ovp"`` or ``"limit_v"``) and its levels (``None``: any value) - for benches that
    #: judge what a driver left in place.
    V_RANGES: tuple[float, ...] = ()
    PROTECTION: tuple[str, tuple[float, ...] | None] = ("ovp", None)
    #: IEEE 488.2 standard event status register bit 7, power on
    PON = 1 << 7
    OPC = 1 << 0

    def __init__(
        self,
        load: Load,
        *,
        clock: VirtualClock | None = None,
        latency: float = 2e-3,
        line_frequency: float = 60.0,
        max_voltage: float | None = None,
        idn: str | None = None,
        gain: float = 1.0,
        offset: float = 0.0,
        noise_abs: float = 0.0,
        noise_rel: float = 0.0,
        seed: int = 0,
        load_channel: str | None = None,
    ) -> None:
        if line_frequency not in (50, 60):
            raise ValueError(f"line frequency must be 50 or 60 Hz, got {line_frequency!r}")
        if not (math.isfinite(latency) and latency >= 0):
            raise ValueError(f"latency must be a non-negative number of seconds, got {latency!r}")
        if max_voltage is not None and not (math.isfinite(max_voltage) and max_voltage >= 0):
            raise ValueError(
                f"max_voltage must be a non-negative number of volts, got {max_voltage!r}"
            )
        wired = load_channel if load_channel is not None else self.CHANNELS[0]
        if wired not in self.CHANNELS:
            raise ValueError(f"load_channel {wired!r} is not one of {self.CHANNELS}")
        self.clock = clock if clock is not None else VirtualClock()
        self.latency = float(latency)
        self.line_frequency = float(line_frequency)
        self.max_voltage = max_voltage
        self.idn = idn if idn is not None else self.DEFAULT_IDN
        self.gain = float(gain)
        self.offset = float(offset)
        self.noise_abs = float(noise_abs)
        self.noise_rel = float(noise_rel)
        self.rng = random.Random(seed)
        self.history: list[Applied] = []
        #: every measured point, (channel name, Point), settings included
        self.measured: list[tuple[str, Point]] = []
        #: standard event status register (``*ESR?``): power-on bit set at power-up
        self.esr = self.PON
        #: fixture interlock closed (the lab's default) and over-temperature condition
        self.interlock_closed = True
        self.over_temperature = False
        self.transcript: deque[tuple[str, str | None]] = deque(maxlen=1000)
        self.points_measured = 0
        self.faults = _Faults()
        self._errors = ErrorQueue()
        self._lock = threading.RLock()
        self._time_zero = self.clock.now
        self.channels = {
            name: SmuChannel(
                name, self, load if name == wired else None, self._defaults_factory(name)
            )
            for name in self.CHANNELS
        }
        self.main = self.channels[wired]
        self.load = load

    def _defaults_factory(self, name: str) -> Callable[[], ChannelDefaults]:
        return lambda: self.channel_defaults(name)

    def channel_defaults(self, name: str) -> ChannelDefaults:
        """Power-on state of channel ``name`` (override per dialect)."""
        return ChannelDefaults()

    def extra_conditions(self, channel: SmuChannel) -> dict[str, object]:
        """Dialect settings a point is taken with beyond the shared ones (none here)."""
        return {}

    def operation_complete(self) -> None:
        """``*OPC``: the model finishes every operation before the next line, so the
        operation-complete bit (bit 0 of ``*ESR?``) is set at once (IEEE 488.2 10.18)."""
        self.esr |= self.OPC

    def read_esr(self) -> int:
        """``*ESR?``: the standard event status register, cleared by the read."""
        value, self.esr = self.esr, 0
        return value

    def execute(self, line: str) -> str | None:
        """Run one received line in the dialect's language; the reply or ``None``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ inspection

    @property
    def output(self) -> bool:
        """True when any channel's output relay is on."""
        with self._lock:
            return any(ch.state.output for ch in self.channels.values())

    @property
    def source_function(self) -> str:
        """Source function (``"VOLT"``/``"CURR"``) of the channel the load is wired to."""
        with self._lock:
            return self.main.state.source_function

    @property
    def terminal_voltage(self) -> float:
        """Largest-magnitude voltage on any channel's terminals, V (0 with outputs off)."""
        with self._lock:
            return max((ch.terminal_voltage() for ch in self.channels.values()), key=abs)

    @property
    def level(self) -> float:
        """Programmed voltage level of the wired channel, V."""
        with self._lock:
            return self.main.state.level_v

    @property
    def compliance(self) -> float:
        """Current limit of the wired channel, A."""
        with self._lock:
            return self.main.state.limit_i

    @property
    def nplc(self) -> float:
        """Integration time of the wired channel, power-line cycles."""
        with self._lock:
            return self.main.state.nplc

    @property
    def errors(self) -> ErrorQueue:
        """The pending error queue, oldest first (``errors()`` gives a list copy)."""
        return self._errors

    def timestamp(self) -> float:
        """Seconds of modelled time since power-on (or the last timestamp reset)."""
        return self.clock.now - self._time_zero

    # ------------------------------------------------------------------ state changes

    def power_cycle(self) -> None:
        """Switch the instrument off and on: outputs off, power-on defaults, queue cleared."""
        with self._lock:
            self._power_on()

    def _power_on(self) -> None:
        for ch in self.channels.values():
            ch.reset()
        self._errors.clear()
        self._time_zero = self.clock.now
        self.esr = self.PON
        self.over_temperature = False

    def front_panel_reset(self) -> None:
        """Someone resets the instrument (front panel or another client's ``*RST``): every
        channel to its reset state, outputs off; the error queue and ``*ESR?`` are kept."""
        with self._lock:
            self.reset_channels()
            self.on_reset()

    def on_reset(self) -> None:
        """Dialect state beyond the channels that a reset restores."""

    def trip(self, cause: str) -> None:
        """A protection trips now: ``"over-temperature"`` switches every output off and sets
        the model's over-temperature status; ``"interlock"`` opens the fixture interlock
        (outputs the model gates on it go off, see :meth:`on_interlock_open`).

        :raises ValueError: an unknown cause.
        """
        with self._lock:
            if cause == "over-temperature":
                self.over_temperature = True
                for ch in self.channels.values():
                    if ch.state.output:
                        ch.state.output = False
                        ch.record()
            elif cause == "interlock":
                self.interlock_closed = False
                self.on_interlock_open()
            else:
                raise ValueError(f"unknown trip {cause!r}; known: over-temperature, interlock")

    def on_interlock_open(self) -> None:
        """What opening the interlock does to the outputs (dialects override)."""

    OVER_TEMPERATURE_BLOCK = (-200, "Execution error; output blocked by over temperature")
    """Error (code, message) of an output switched on while over temperature (dialects with
    their own code override: the 2400's +810)."""

    def output_block(self) -> tuple[int, str] | None:
        """Why no output may turn on now, as the error (code, message) the attempt queues,
        or None. An over-temperature trip blocks every output until the instrument is
        power-cycled (dialects add their own gates: the 2400's enabled interlock)."""
        return self.OVER_TEMPERATURE_BLOCK if self.over_temperature else None

    def respond_as(self, idn: str) -> None:
        """From now on answer ``*IDN?`` with ``idn`` (another instrument at this address)."""
        with self._lock:
            self.idn = idn

    def event_after(self, lines: int, event: str) -> None:
        """After ``lines`` more received lines, before the next one runs: ``"reset"``
        (:meth:`front_panel_reset`) or ``"power-cycle"`` (:meth:`power_cycle`)."""
        if event not in ("reset", "power-cycle"):
            raise ValueError(f"unknown event {event!r}; known: reset, power-cycle")
        with self._lock:
            self.faults.event_after = (self._nonneg(lines), event)

    def reset_channels(self) -> None:
        """Every channel to its reset state (``*RST``/``reset()``); the queue is kept."""
        for ch in self.channels.values():
            ch.reset()

    def push_error(self, code: int, message: str) -> None:
        """Queue an error and set its standard event bit (:func:`event_bit`); a full
        queue's last entry becomes the overflow error."""
        self.esr |= event_bit(code)
        if len(self._errors) >= self.ERROR_QUEUE_SIZE:
            self._errors[-1] = (self.OVERFLOW_CODE, self.OVERFLOW_MESSAGE)
        else:
            self._errors.append((int(code), message))

    def apply_start(self, start: str) -> None:
        """Leave the instrument as a previous user did (see ``START_STATES``).

        Runs the dialect's start lines through its own parser, queues the stale errors for
        ``"stale-errors"``, then restarts :attr:`history` with the state now on the
        terminals and empties the transcript and the clock's share of this set-up.

        :raises ValueError: a start state this dialect does not know.
        """
        lines = self.start_lines(start)
        with self._lock:
            for line in lines:
                self.execute(line)
            if self._errors:  # a start line the dialect itself refuses: a bug here
                raise RuntimeError(
                    f"{type(self).__name__}: start state {start!r} left errors {list(self._errors)}"
                )
            if start in ("stale-errors", "last-user"):
                for code, message in self.STALE_ERRORS:
                    self.push_error(code, message)
            self.history.clear()
            for ch in self.channels.values():
                ch.record()
            self.transcript.clear()

    def start_lines(self, start: str) -> tuple[str, ...]:
        """Lines that produce ``start`` (power-on and stale-errors: none).

        ``"last-user"`` programs the output-on level, then the current-source, fixed-range
        and format settings, and switches the output on last: the instrument is found
        sourcing current with its output on.
        """
        if start in ("power-on", "stale-errors"):
            return ()
        if start == "output-on":
            return self.START_LINES.get("output-on", ()) + self.OUTPUT_ON
        if start == "last-user":
            keys = ("output-on", "current-source", "fixed-low-range", "odd-format")
            lines = tuple(line for key in keys for line in self.START_LINES.get(key, ()))
            return lines + self.OUTPUT_ON
        if start not in self.START_LINES:
            known = ", ".join(["power-on", "stale-errors", "last-user", *self.START_LINES])
            raise ValueError(
                f"{type(self).__name__}: unknown start state {start!r}; known: {known}"
            )
        return self.START_LINES[start]

    # ------------------------------------------------------------------ fault injection

    def drop_after(self, commands: int = 0) -> None:
        """Close the connection instead of executing the command after the next ``commands``."""
        with self._lock:
            self.faults.drop_after = self._nonneg(commands)

    def delay_next_reply(self, seconds: float) -> None:
        """Send the next reply ``seconds`` of wall time late (the instrument is busy: the
        lines after it wait too). A client whose timeout is shorter gets the reply after it
        gave up, as the answer of whatever it asks next unless it resynchronises."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"delay must be a non-negative number of seconds, got {seconds!r}")
        with self._lock:
            self.faults.late.append(float(seconds))

    def mute_queries(self, count: int = 1) -> None:
        """Execute the next ``count`` queries but send no reply (the client times out)."""
        with self._lock:
            self.faults.mute = self._nonneg(count)

    def garble_next_reply(self, junk: str = "\x00\xff#?!") -> None:
        """Prefix the next reply with ``junk`` (code points 0-255 travel as single bytes)."""
        with self._lock:
            self.faults.garble.append(junk)

    def fail_next(self, code: int = -200, message: str | None = None) -> None:
        """Refuse the next command: queue ``code`` instead of executing it (no reply)."""
        with self._lock:
            self.faults.fail.append((code, message or self.ERROR_TEXT.get(code, "Execution error")))

    def overflow_next(self, points: int = 1) -> None:
        """Make the next ``points`` measurement points read overflow."""
        with self._lock:
            self.faults.overflow = self._nonneg(points)

    def force_compliance(self, points: int = 1) -> None:
        """Make the next ``points`` measurement points (voltage source) trip compliance."""
        with self._lock:
            self.faults.compliance = self._nonneg(points)

    def clear_faults(self) -> None:
        """Cancel every pending fault."""
        with self._lock:
            self.faults = _Faults()

    @staticmethod
    def _nonneg(n: int) -> int:
        n = int(n)
        if n < 0:
            raise ValueError(f"count must be >= 0, got {n}")
        return n

    # ------------------------------------------------------------------ line handling

    def handle(self, line: str) -> str | None:
        """Process one received line; return the reply (without terminator) or ``None``.

        :raises DropConnection: when a drop fault is due (the server then closes the socket).
        """
        reply, late = self._handle(line)
        if late:
            time.sleep(late)  # outside the lock: the instrument is busy, not the test
        return reply

    def _handle(self, line: str) -> tuple[str | None, float]:
        """:meth:`handle` under the lock: the reply and the wall seconds it is late."""
        with self._lock:
            self.clock.transaction(self.latency)
            faults = self.faults
            if faults.event_after is not None:
                left, event = faults.event_after
                if left == 0:
                    faults.event_after = None
                    (self._power_on if event == "power-cycle" else self.front_panel_reset)()
                else:
                    faults.event_after = (left - 1, event)
            if faults.drop_after is not None:
                if faults.drop_after == 0:
                    faults.drop_after = None
                    self.transcript.append((line, None))
                    raise DropConnection("virtual SMU: injected connection drop")
                faults.drop_after -= 1
            if faults.fail:
                self.push_error(*faults.fail.pop(0))
                self.transcript.append((line, None))
                return None, 0.0
            reply = self.execute(line)
            late = 0.0
            if reply is not None:
                if faults.mute:
                    faults.mute -= 1
                    reply = None
                elif faults.garble:
                    reply = faults.garble.pop(0) + reply
                if reply is not None and faults.late:
                    late = faults.late.pop(0)
            self.transcript.append((line, reply))
            return reply, late

    def overlong_line(self) -> None:
        """A line too long for the input buffer arrived: queue the overrun error (it is
        discarded unexecuted, as the instrument does)."""
        with self._lock:
            self.push_error(*self.OVERRUN)
            self.transcript.append(("<over-long line discarded>", None))

    def check_level(self, value: float, limit: float) -> bool:
        """True if a voltage level is allowed (within ``limit`` and ``max_voltage``)."""
        return abs(value) <= limit and (self.max_voltage is None or abs(value) <= self.max_voltage)
