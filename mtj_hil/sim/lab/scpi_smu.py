"""A virtual Keithley 2400-family SourceMeter: SCPI parser plus source-measure state machine.

No sockets here: :meth:`VirtualSMU.handle` takes one received line and returns the reply line
(or ``None``). :class:`~mtj_hil.sim.lab.server.LineServer` puts it on a TCP port so that pyvisa
clients (our :class:`~instruments.smu.keithley2400.Keithley2400SourceMeter` and pymeasure's own
``Keithley2400``) drive it exactly as they would drive the instrument.

What the model covers (all SI units):

* Voltage source, current measure. The measured current comes from a ``load(voltage_V) ->
  current_A`` callable, called once per measurement point with the programmed voltage while
  the output is on; with the output off a point reads 0 V and 0 A and the load is not called.
* Real compliance: ``|I| > compliance`` clamps the reading at the compliance value (sign kept)
  and sets status bit 3. With a fixed current range, ``|I| > range`` clamps at the range and
  sets bit 16 (range compliance). A non-finite load result or an injected overflow reads
  ``+9.9E37`` with status bit 0 (OFLO). Elements that were not measured read ``+9.91E37``.
* Fixed level or list sweeps (``:SOUR:VOLT:MODE LIST``; up to 2500 points; the list repeats
  when the trigger count is larger), one point per trigger, ``:READ?`` returning every point.
  After a list sweep the output returns to the fixed (bias) level.
* ``:FORMat:ELEMents`` selects which of voltage, current, resistance, time, status are sent; they
  always come in that order.
* Error queue (10 entries, then ``-350 Queue overflow``), ``:SYST:ERR?`` giving
  ``0,"No error"`` when empty. Every unknown or malformed command queues an error; processing
  of the rest of that line stops at the first error and a failing query sends no reply.
* Short and long mnemonic forms, any letter case, optional nodes, ``;``-separated compound
  commands with SCPI relative paths.

Measurement errors (all off by default): a gain error and an offset current, ``reading =
gain * load(V) + offset`` with the output on, plus optional Gaussian noise (``noise_abs`` A
and ``noise_rel`` of the reading, 1 sigma). The virtual lab turns them on
(:class:`~mtj_hil.sim.lab.lab.LabImperfections`).

Not modelled: current sourcing (accepted as a setting, but a measurement then fails with
``-221 Settings conflict``), source/trigger delays, filters, math, the trace buffer, binary data.

Timing: every received line costs :attr:`VirtualSMU.latency` s and every measurement point
``NPLC / line_frequency`` s on the shared :class:`~mtj_hil.sim.lab.clock.VirtualClock`.
"""

from __future__ import annotations

import math
import random
import re
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import takewhile
from typing import NamedTuple

from mtj_hil.sim.lab.clock import VirtualClock
from mtj_hil.sim.lab.server import DropConnection

__all__ = [
    "Applied",
    "HeaderPattern",
    "ScpiError",
    "VirtualSMU",
    "boolean",
    "choice",
    "fmt",
    "number",
]

#: Reading of an over-range measurement (2400 manual, :FORMat:ELEMents).
OVERFLOW = 9.9e37
#: Reading of an element that was not measured (SCPI "not a number").
NOT_MEASURED = 9.91e37

#: Status-word bits (2400 manual, :FORMat:ELEMents STATus).
STATUS_OFLO = 1 << 0
STATUS_FRONT = 1 << 2
STATUS_COMPLIANCE = 1 << 3
STATUS_RANGE_COMPLIANCE = 1 << 16

#: Standard SCPI error messages used by the virtual instrument.
SCPI_ERRORS = {
    -101: "Invalid character",
    -102: "Syntax error",
    -104: "Data type error",
    -108: "Parameter not allowed",
    -109: "Missing parameter",
    -113: "Undefined header",
    -200: "Execution error",
    -221: "Settings conflict",
    -222: "Data out of range",
    -223: "Too much data",
    -224: "Illegal parameter value",
    -230: "Data corrupt or stale",
    -350: "Queue overflow",
}

Load = Callable[[float], float]


class ScpiError(Exception):
    """A SCPI error to be queued: ``code`` and message (standard text if omitted)."""

    def __init__(self, code: int, message: str | None = None) -> None:
        self.code = int(code)
        self.message = message if message is not None else SCPI_ERRORS.get(code, "Error")
        super().__init__(f"{self.code},{self.message}")


class Applied(NamedTuple):
    """One change of the output terminals: source level (V) and output relay state."""

    voltage: float
    output: bool


# ---------------------------------------------------------------------------------------------
# Header matching
# ---------------------------------------------------------------------------------------------

_NODE_SPEC = re.compile(r"(\[)?:?([A-Za-z]+)(\d*)\]?")
_TOKEN = re.compile(r"^([A-Z]+)(\d*)$")
_UNIT = re.compile(r"(\S+)\s*(.*)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class _Mnemonic:
    short: str
    long: str
    suffix: str
    optional: bool

    @classmethod
    def parse(cls, word: str, suffix: str = "", optional: bool = False) -> _Mnemonic:
        short = "".join(takewhile(str.isupper, word)) or word.upper()
        return cls(short, word.upper(), suffix, optional)

    def matches(self, token: str) -> bool:
        """``token`` (upper case) is this mnemonic in short or long form with the right suffix."""
        m = _TOKEN.match(token)
        if m is None or m.group(1) not in (self.short, self.long):
            return False
        digits = m.group(2)
        return digits == self.suffix or (not self.suffix and digits == "1")


class HeaderPattern:
    """A command header in the manuals' notation, e.g. ``[:SENSe]:CURRent[:DC]:PROTection``.

    Upper-case letters form the short form, the whole word the long form; bracketed nodes are
    optional; a trailing digit is a required numeric suffix (``CALCulate3``). Matching is
    case-insensitive and accepts either form of every node.
    """

    def __init__(self, spec: str) -> None:
        self.spec = spec
        nodes = [
            _Mnemonic.parse(m.group(2), m.group(3), optional=bool(m.group(1)))
            for m in _NODE_SPEC.finditer(spec)
        ]
        if not nodes:
            raise ValueError(f"empty header pattern {spec!r}")
        self._nodes = tuple(nodes)

    def matches(self, tokens: Sequence[str]) -> bool:
        """True when the upper-case header ``tokens`` (split at ``:``) fit this pattern."""
        nodes = self._nodes

        def walk(t: int, n: int) -> bool:
            if n == len(nodes):
                return t == len(tokens)
            node = nodes[n]
            if t < len(tokens) and node.matches(tokens[t]) and walk(t + 1, n + 1):
                return True
            return node.optional and walk(t, n + 1)

        return walk(0, 0)

    def __repr__(self) -> str:
        return f"HeaderPattern({self.spec!r})"


def choice(arg: str, options: Sequence[str]) -> str:
    """Match a character-data parameter against mnemonics such as ``"FIXed"``.

    Returns the short form in upper case.

    :raises ScpiError: -224 if it matches none.
    """
    token = arg.strip().upper()
    for option in options:
        mnemonic = _Mnemonic.parse(option)
        if token in (mnemonic.short, mnemonic.long):
            return mnemonic.short
    raise ScpiError(-224)


# ---------------------------------------------------------------------------------------------
# Parameter helpers
# ---------------------------------------------------------------------------------------------


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    quote: str | None = None
    start = 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == sep:
            parts.append(text[start:i])
            start = i + 1
    if quote:
        raise ScpiError(-102)
    parts.append(text[start:])
    return parts


def _split_params(text: str) -> list[str]:
    text = text.strip()
    if not text:
        return []
    params = [p.strip() for p in _split_outside_quotes(text, ",")]
    if any(not p for p in params):
        raise ScpiError(-102)
    return params


def _count(args: Sequence[str], n: int) -> None:
    if len(args) < n:
        raise ScpiError(-109)
    if len(args) > n:
        raise ScpiError(-108)


def _one(args: Sequence[str]) -> str:
    _count(args, 1)
    return args[0]


_KEYWORDS = {
    "MIN": "min",
    "MINIMUM": "min",
    "MAX": "max",
    "MAXIMUM": "max",
    "DEF": "def",
    "DEFAULT": "def",
}


def number(arg: str, lo: float, hi: float, default: float | None = None) -> float:
    """Parse a numeric parameter (or ``MIN``/``MAX``/``DEF``) and check ``lo <= x <= hi``.

    :raises ScpiError: -104 for non-numeric text, -222 when out of range or not finite.
    """
    keyword = _KEYWORDS.get(arg.strip().upper())
    if keyword == "min":
        return lo
    if keyword == "max":
        return hi
    if keyword == "def" and default is not None:
        return default
    try:
        value = float(arg)
    except ValueError:
        raise ScpiError(-104) from None
    if not math.isfinite(value) or not lo <= value <= hi:
        raise ScpiError(-222)
    return value


def boolean(arg: str) -> bool:
    """Parse ``ON``/``OFF``/``1``/``0``.

    :raises ScpiError: -224 otherwise.
    """
    token = arg.strip().upper()
    if token == "ON":
        return True
    if token == "OFF":
        return False
    try:
        value = float(token)
    except ValueError:
        raise ScpiError(-224) from None
    if value not in (0.0, 1.0):
        raise ScpiError(-224)
    return value == 1.0


def _unquote(arg: str) -> str:
    arg = arg.strip()
    if len(arg) >= 2 and arg[0] == arg[-1] and arg[0] in "'\"":
        return arg[1:-1]
    return arg


def fmt(value: float) -> str:
    """The instrument's ASCII number format, e.g. ``+1.000000E-01``."""
    return f"{value:+.6E}"


def _fmt_bool(value: bool) -> str:
    return "1" if value else "0"


def _as_bool(arg: str) -> str:
    return _fmt_bool(boolean(arg))


def _as_bool_or_once(arg: str) -> str:
    return "ONCE" if arg.strip().upper() == "ONCE" else _as_bool(arg)


_OVP_LEVELS = (20.0, 40.0, 60.0, 80.0, 100.0, 120.0, 160.0)


def _ovp_level(arg: str) -> str:
    """2400 over-voltage protection: the smallest level holding the value; NONE (or above
    160 V) means no limit, reported as 210 V."""
    if arg.strip().upper() == "NONE":
        return fmt(210.0)
    value = abs(number(arg, -210.0, 210.0, 210.0))
    return fmt(next((lvl for lvl in _OVP_LEVELS if value <= lvl), 210.0))


def _as_choice(*options: str) -> Callable[[str], str]:
    return lambda arg: choice(arg, options)


def _as_number(lo: float, hi: float) -> Callable[[str], str]:
    return lambda arg: fmt(number(arg, lo, hi))


# ---------------------------------------------------------------------------------------------
# The instrument
# ---------------------------------------------------------------------------------------------

_ELEMENTS = ("VOLTage", "CURRent", "RESistance", "TIME", "STATus")
_ELEMENT_ORDER = ("VOLT", "CURR", "RES", "TIME", "STAT")
_SENSE_FUNCTIONS = {"VOLT": "VOLT:DC", "CURR": "CURR:DC", "RES": "RES"}
_SOURCE_RANGES = (0.2, 2.0, 20.0, 200.0)
_CURRENT_RANGES = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def _range_for(value: float, ranges: Sequence[float]) -> float:
    value = abs(value)
    return next((r for r in ranges if value <= r * 1.05), ranges[-1])


@dataclass
class _State:
    """Everything ``*RST`` returns to its default."""

    source_function: str = "VOLT"
    level: float = 0.0
    current_level: float = 0.0
    mode: str = "FIX"
    sweep: list[float] = field(default_factory=list)
    trigger_count: int = 1
    arm_count: int = 1
    compliance: float = 105e-6
    voltage_protection: float = 21.0
    nplc: float = 1.0
    output: bool = False
    elements: tuple[str, ...] = _ELEMENT_ORDER
    sense: set[str] = field(default_factory=lambda: {"CURR"})
    concurrent: bool = True
    source_range: float = 20.0
    source_range_auto: bool = True
    current_range: float = 1e-4
    current_range_auto: bool = True
    settings: dict[str, str] = field(default_factory=dict)


class _Point(NamedTuple):
    voltage: float
    current: float
    resistance: float
    time: float
    status: int


@dataclass
class _Faults:
    drop_after: int | None = None
    mute: int = 0
    garble: list[str] = field(default_factory=list)
    fail: list[tuple[int, str]] = field(default_factory=list)
    overflow: int = 0
    compliance: int = 0


@dataclass(frozen=True)
class _Command:
    """What a header does: ``write`` for the command form, ``query`` for the ``?`` form."""

    write: Callable[[list[str]], None] | None = None
    query: Callable[[list[str]], str] | None = None


class VirtualSMU:
    """Virtual Keithley 2400 speaking SCPI, one line at a time.

    :param load: ``load(voltage_V) -> current_A``, the device under test.
    :param clock: shared modelled-time clock (a private one if omitted).
    :param latency: modelled cost of one bus transaction, s.
    :param line_frequency: mains frequency, 50 or 60 Hz (sets the NPLC integration time).
    :param max_voltage: optional safety limit, V: a source level (or list value) with a larger
        magnitude is refused with ``-222`` and never applied.
    :param idn: the ``*IDN?`` reply.
    :param gain: true gain of the current measurement (1 = perfect).
    :param offset: offset current, A, added to every reading with the output on.
    :param noise_abs: additive reading noise, A (1 sigma).
    :param noise_rel: relative reading noise (1 sigma).
    :param seed: seed of the noise generator.

    Thread-safe: one lock serialises commands and fault settings. :attr:`history` records every
    applied ``(voltage, output)`` pair; :attr:`transcript` the last lines and replies.
    """

    MAX_POINTS = 2500
    VOLTAGE_LIMIT = 210.0
    ERROR_QUEUE_SIZE = 10
    DEFAULT_IDN = "KEITHLEY INSTRUMENTS INC.,MODEL 2400,4045123,C30 (virtual)"

    def __init__(
        self,
        load: Load,
        *,
        clock: VirtualClock | None = None,
        latency: float = 2e-3,
        line_frequency: float = 60.0,
        max_voltage: float | None = None,
        idn: str = DEFAULT_IDN,
        gain: float = 1.0,
        offset: float = 0.0,
        noise_abs: float = 0.0,
        noise_rel: float = 0.0,
        seed: int = 0,
    ) -> None:
        if line_frequency not in (50, 60):
            raise ValueError(f"line frequency must be 50 or 60 Hz, got {line_frequency!r}")
        if not (math.isfinite(latency) and latency >= 0):
            raise ValueError(f"latency must be a non-negative number of seconds, got {latency!r}")
        if max_voltage is not None and not (math.isfinite(max_voltage) and max_voltage >= 0):
            raise ValueError(
                f"max_voltage must be a non-negative number of volts, got {max_voltage!r}"
            )
        self.load = load
        self.clock = clock if clock is not None else VirtualClock()
        self.latency = float(latency)
        self.line_frequency = float(line_frequency)
        self.max_voltage = max_voltage
        self.idn = idn
        self.gain = float(gain)
        self.offset = float(offset)
        self.noise_abs = float(noise_abs)
        self.noise_rel = float(noise_rel)
        self._rng = random.Random(seed)
        self.history: list[Applied] = []
        self.transcript: deque[tuple[str, str | None]] = deque(maxlen=1000)
        self.points_measured = 0
        self._lock = threading.RLock()
        self._errors: deque[tuple[int, str]] = deque()
        self._faults = _Faults()
        self._state = _State()
        self._last: list[_Point] = []
        self._time_zero = self.clock.now
        self._commands = self._build_commands()
        self._common: dict[str, _Command] = {
            "*IDN": _Command(query=lambda a: self._noargs(a, self.idn)),
            "*RST": _Command(write=self._cmd_reset),
            "*CLS": _Command(write=self._cmd_clear_status),
            "*OPC": _Command(write=self._noop, query=lambda a: self._noargs(a, "1")),
            "*WAI": _Command(write=self._noop),
            "*ESR": _Command(query=lambda a: self._noargs(a, "0")),
            "*STB": _Command(query=self._query_stb),
        }

    # ------------------------------------------------------------------ public state

    @property
    def output(self) -> bool:
        """Output relay state."""
        with self._lock:
            return self._state.output

    @property
    def level(self) -> float:
        """Programmed (fixed-mode) source level, V."""
        with self._lock:
            return self._state.level

    @property
    def compliance(self) -> float:
        """Current compliance, A."""
        with self._lock:
            return self._state.compliance

    @property
    def nplc(self) -> float:
        """Integration time, power-line cycles."""
        with self._lock:
            return self._state.nplc

    @property
    def terminal_voltage(self) -> float:
        """Voltage presently on the output terminals, V (0 with the output off)."""
        with self._lock:
            return self._state.level if self._state.output else 0.0

    def errors(self) -> list[tuple[int, str]]:
        """A copy of the error queue, oldest first (not cleared)."""
        with self._lock:
            return list(self._errors)

    # ------------------------------------------------------------------ fault injection

    def drop_after(self, commands: int = 0) -> None:
        """Close the connection instead of executing the command after the next ``commands``."""
        with self._lock:
            self._faults.drop_after = self._nonneg(commands)

    def mute_queries(self, count: int = 1) -> None:
        """Execute the next ``count`` queries but send no reply (the client times out)."""
        with self._lock:
            self._faults.mute = self._nonneg(count)

    def garble_next_reply(self, junk: str = "\x00\xff#?!") -> None:
        """Prefix the next reply with ``junk`` (code points 0-255 travel as single bytes)."""
        with self._lock:
            self._faults.garble.append(junk)

    def fail_next(self, code: int = -200, message: str | None = None) -> None:
        """Refuse the next command: queue ``code`` instead of executing it (no reply)."""
        with self._lock:
            self._faults.fail.append((code, message or SCPI_ERRORS.get(code, "Execution error")))

    def overflow_next(self, points: int = 1) -> None:
        """Make the next ``points`` measurement points read overflow (+9.9E37, status bit 0)."""
        with self._lock:
            self._faults.overflow = self._nonneg(points)

    def force_compliance(self, points: int = 1) -> None:
        """Make the next ``points`` measurement points trip compliance (status bit 3)."""
        with self._lock:
            self._faults.compliance = self._nonneg(points)

    def clear_faults(self) -> None:
        """Cancel every pending fault."""
        with self._lock:
            self._faults = _Faults()

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
        with self._lock:
            self.clock.transaction(self.latency)
            faults = self._faults
            if faults.drop_after is not None:
                if faults.drop_after == 0:
                    faults.drop_after = None
                    self.transcript.append((line, None))
                    raise DropConnection("virtual SMU: injected connection drop")
                faults.drop_after -= 1
            if faults.fail:
                self._push_error(*faults.fail.pop(0))
                self.transcript.append((line, None))
                return None
            reply = self._execute(line)
            if reply is not None:
                if faults.mute:
                    faults.mute -= 1
                    reply = None
                elif faults.garble:
                    reply = faults.garble.pop(0) + reply
            self.transcript.append((line, reply))
            return reply

    def _execute(self, line: str) -> str | None:
        replies: list[str] = []
        prefix: list[str] = []
        try:
            units = _split_outside_quotes(line, ";")
            for unit in units:
                if not unit.strip():
                    continue
                reply, prefix = self._execute_unit(unit.strip(), prefix)
                if reply is not None:
                    replies.append(reply)
        except ScpiError as err:
            self._push_error(err.code, err.message)
        return ";".join(replies) if replies else None

    def _execute_unit(self, unit: str, prefix: list[str]) -> tuple[str | None, list[str]]:
        if any(not (32 <= ord(ch) < 127) and ch not in "\t" for ch in unit):
            raise ScpiError(-101)
        header, rest = _UNIT.match(unit).groups()  # type: ignore[union-attr]
        is_query = header.endswith("?")
        header = header[:-1] if is_query else header
        if header.startswith("*"):
            command = self._common.get(header.upper())
            tokens = prefix
        else:
            absolute = header.startswith(":")
            tokens = header[1:].split(":") if absolute else header.split(":")
            if any(not t for t in tokens) or "?" in header:
                raise ScpiError(-102)
            tokens = [t.upper() for t in tokens]
            if not absolute:
                tokens = prefix + tokens
            command = self._lookup(tokens)
            if command is None and not absolute and prefix:
                # A relative header that does not fit the current path is tried from the root.
                tokens = [t.upper() for t in header.split(":")]
                command = self._lookup(tokens)
            tokens = tokens[:-1]
        action = None
        if command is not None:
            action = command.query if is_query else command.write
        if action is None:
            raise ScpiError(-113)
        args = _split_params(rest)
        return action(args), tokens

    def _lookup(self, tokens: Sequence[str]) -> _Command | None:
        return next((cmd for pattern, cmd in self._commands if pattern.matches(tokens)), None)

    def _push_error(self, code: int, message: str) -> None:
        if len(self._errors) >= self.ERROR_QUEUE_SIZE:
            self._errors[-1] = (-350, SCPI_ERRORS[-350])
        else:
            self._errors.append((code, message))

    # ------------------------------------------------------------------ command table

    def _build_commands(self) -> list[tuple[HeaderPattern, _Command]]:
        def c(
            spec: str,
            write: Callable[[list[str]], None] | None = None,
            query: Callable[[list[str]], str] | None = None,
        ) -> tuple[HeaderPattern, _Command]:
            return HeaderPattern(spec), _Command(write, query)

        return [
            # Errors and system
            c(":SYSTem:ERRor[:NEXT]", query=self._query_error),
            c(":SYSTem:ERRor:ALL", query=self._query_error_all),
            c(":SYSTem:ERRor:COUNt", query=lambda a: self._noargs(a, str(len(self._errors)))),
            c(":SYSTem:PRESet", write=self._cmd_reset),
            c(":SYSTem:LFRequency", write=self._set_lfreq, query=self._get_lfreq),
            c(":SYSTem:TIME:RESet", write=self._reset_time),
            c(":SYSTem:TIME", query=lambda a: self._noargs(a, fmt(self._timestamp()))),
            self._stored(":SYSTem:AZERo[:STATe]", "azero", "1", _as_bool_or_once),
            self._stored(":SYSTem:RSENse", "rsense", "0", _as_bool),
            # Output
            c(":OUTPut[:STATe]", write=self._set_output, query=self._get_output),
            self._stored(":OUTPut:SMODe", "smode", "NORM", _as_choice("HIMPedance", "NORMal", "ZERO", "GUARd")),
            # Source
            c("[:SOURce]:FUNCtion[:MODE]", write=self._set_function, query=self._get_function),
            c("[:SOURce]:VOLTage[:LEVel][:IMMediate][:AMPLitude]", write=self._set_level, query=self._get_level),
            c("[:SOURce]:VOLTage:MODE", write=self._set_mode, query=self._get_mode),
            c("[:SOURce]:VOLTage:RANGe[:UPPer]", write=self._set_source_range, query=self._get_source_range),
            c("[:SOURce]:VOLTage:RANGe:AUTO", write=self._set_source_range_auto, query=self._get_source_range_auto),
            self._stored("[:SOURce]:VOLTage:PROTection[:LEVel]", "source_ovp", fmt(210.0), _ovp_level),
            c("[:SOURce]:CURRent[:LEVel][:IMMediate][:AMPLitude]", write=self._set_current_level, query=self._get_current_level),
            c("[:SOURce]:LIST:VOLTage", write=self._set_list, query=self._get_list),
            c("[:SOURce]:LIST:VOLTage:APPend", write=self._append_list),
            c("[:SOURce]:LIST:VOLTage:POINts", query=lambda a: self._noargs(a, str(len(self._state.sweep)))),
            c("[:SOURce]:CLEar[:IMMediate]", write=self._clear_output),
            self._stored("[:SOURce]:CLEar:AUTO", "clear_auto", "0", _as_bool),
            self._stored("[:SOURce]:DELay", "delay", fmt(0.0), _as_number(0.0, 999.9999)),
            self._stored("[:SOURce]:DELay:AUTO", "delay_auto", "1", _as_bool),
            # Sense
            c("[:SENSe]:FUNCtion[:ON]", write=self._set_sense, query=self._get_sense),
            c("[:SENSe]:FUNCtion[:ON]:ALL", write=self._sense_all),
            c("[:SENSe]:FUNCtion:OFF:ALL", write=self._sense_none),
            c("[:SENSe]:FUNCtion:CONCurrent", write=self._set_concurrent, query=self._get_concurrent),
            c("[:SENSe]:CURRent[:DC]:PROTection[:LEVel]", write=self._set_compliance, query=self._get_compliance),
            c("[:SENSe]:CURRent[:DC]:RANGe[:UPPer]", write=self._set_current_range, query=self._get_current_range),
            c("[:SENSe]:CURRent[:DC]:RANGe:AUTO", write=self._set_current_range_auto, query=self._get_current_range_auto),
            c("[:SENSe]:CURRent[:DC]:NPLCycles", write=self._set_nplc, query=self._get_nplc),
            c("[:SENSe]:VOLTage[:DC]:NPLCycles", write=self._set_nplc, query=self._get_nplc),
            c("[:SENSe]:RESistance:NPLCycles", write=self._set_nplc, query=self._get_nplc),
            c("[:SENSe]:VOLTage[:DC]:PROTection[:LEVel]", write=self._set_vprot, query=self._get_vprot),
            self._stored("[:SENSe]:VOLTage[:DC]:RANGe[:UPPer]", "vrange", fmt(21.0), _as_number(-210.0, 210.0)),
            self._stored("[:SENSe]:VOLTage[:DC]:RANGe:AUTO", "vrange_auto", "1", _as_bool),
            self._stored("[:SENSe]:RESistance:MODE", "res_mode", "MAN", _as_choice("MANual", "AUTO")),
            self._stored("[:SENSe]:AVERage[:STATe]", "average", "0", _as_bool),
            self._stored("[:SENSe]:AVERage:COUNt", "average_count", fmt(10.0), _as_number(1.0, 100.0)),
            self._stored("[:SENSe]:AVERage:TCONtrol", "average_tcontrol", "REP", _as_choice("REPeat", "MOVing")),
            # Format
            c(":FORMat:ELEMents[:SENSe]", write=self._set_elements, query=self._get_elements),
            self._stored(":FORMat[:DATA]", "format", "ASC", _as_choice("ASCii")),
            self._stored(":ROUTe:TERMinals", "terminals", "FRON", _as_choice("FRONt", "REAR")),
            # Trigger model
            c(":TRIGger:COUNt", write=self._set_trigger_count, query=self._get_trigger_count),
            c(":ARM:COUNt", write=self._set_arm_count, query=self._get_arm_count),
            self._stored(":TRIGger:DELay", "trigger_delay", fmt(0.0), _as_number(0.0, 999.9999)),
            self._stored(":TRIGger:SOURce", "trigger_source", "IMM", _as_choice("IMMediate", "TLINk")),
            self._stored(":ARM:SOURce", "arm_source", "IMM", _as_choice("IMMediate", "TIMer", "BUS", "MANual")),
            c(":TRIGger:CLEar", write=self._noop),
            c(":ABORt", write=self._noop),
            # Measurements
            c(":INITiate[:IMMediate]", write=self._cmd_init),
            c(":FETCh", query=self._query_fetch),
            c(":READ", query=self._query_read),
            c(":MEASure", query=self._measure_as(None)),
            c(":MEASure:VOLTage[:DC]", query=self._measure_as("VOLT")),
            c(":MEASure:CURRent[:DC]", query=self._measure_as("CURR")),
            c(":MEASure:RESistance", query=self._measure_as("RES")),
            c(":CONFigure:VOLTage[:DC]", write=self._configure_as("VOLT")),
            c(":CONFigure:CURRent[:DC]", write=self._configure_as("CURR")),
            c(":CONFigure:RESistance", write=self._configure_as("RES")),
        ]  # fmt: skip

    def _stored(
        self, spec: str, key: str, default: str, parse: Callable[[str], str]
    ) -> tuple[HeaderPattern, _Command]:
        """A setting the model stores and reports back (as ``parse`` renders it) but ignores."""

        def write(args: list[str]) -> None:
            self._state.settings[key] = parse(_one(args))

        def query(args: list[str]) -> str:
            return self._noargs(args, self._state.settings.get(key, default))

        return HeaderPattern(spec), _Command(write, query)

    @staticmethod
    def _noargs(args: list[str], reply: str) -> str:
        _count(args, 0)
        return reply

    def _noop(self, args: list[str]) -> None:
        _count(args, 0)

    # ------------------------------------------------------------------ common commands

    def _cmd_reset(self, args: list[str]) -> None:
        _count(args, 0)
        was_on = self._state.output
        self._state = _State()
        self._last = []
        if was_on:
            self.history.append(Applied(0.0, False))

    def _cmd_clear_status(self, args: list[str]) -> None:
        _count(args, 0)
        self._errors.clear()

    def _query_stb(self, args: list[str]) -> str:
        return self._noargs(args, "4" if self._errors else "0")  # bit 2: error available

    def _query_error(self, args: list[str]) -> str:
        _count(args, 0)
        code, message = self._errors.popleft() if self._errors else (0, "No error")
        return f'{code},"{message}"'

    def _query_error_all(self, args: list[str]) -> str:
        _count(args, 0)
        if not self._errors:
            return '0,"No error"'
        entries = ",".join(f'{code},"{message}"' for code, message in self._errors)
        self._errors.clear()
        return entries

    # ------------------------------------------------------------------ system

    def _set_lfreq(self, args: list[str]) -> None:
        value = number(_one(args), 50.0, 60.0, 60.0)
        if value not in (50.0, 60.0):
            raise ScpiError(-222)
        self.line_frequency = value

    def _get_lfreq(self, args: list[str]) -> str:
        return self._noargs(args, f"{self.line_frequency:g}")

    def _reset_time(self, args: list[str]) -> None:
        _count(args, 0)
        self._time_zero = self.clock.now

    def _timestamp(self) -> float:
        return self.clock.now - self._time_zero

    # ------------------------------------------------------------------ output and source

    def _record(self) -> None:
        self.history.append(Applied(self._state.level, self._state.output))

    def _set_output(self, args: list[str]) -> None:
        self._state.output = boolean(_one(args))
        self._record()

    def _get_output(self, args: list[str]) -> str:
        return self._noargs(args, _fmt_bool(self._state.output))

    def _clear_output(self, args: list[str]) -> None:
        _count(args, 0)
        self._state.output = False
        self._record()

    def _set_function(self, args: list[str]) -> None:
        self._state.source_function = choice(_one(args), ("VOLTage", "CURRent"))

    def _get_function(self, args: list[str]) -> str:
        return self._noargs(args, self._state.source_function)

    def _check_level(self, arg: str) -> float:
        value = number(arg, -self.VOLTAGE_LIMIT, self.VOLTAGE_LIMIT, 0.0)
        if self.max_voltage is not None and abs(value) > self.max_voltage:
            raise ScpiError(-222)
        return value

    def _set_level(self, args: list[str]) -> None:
        self._state.level = self._check_level(_one(args))
        if self._state.source_range_auto:
            self._state.source_range = _range_for(self._state.level, _SOURCE_RANGES)
        self._record()

    def _get_level(self, args: list[str]) -> str:
        return self._noargs(args, fmt(self._state.level))

    def _set_current_level(self, args: list[str]) -> None:
        self._state.current_level = number(_one(args), -1.05, 1.05, 0.0)

    def _get_current_level(self, args: list[str]) -> str:
        return self._noargs(args, fmt(self._state.current_level))

    def _set_mode(self, args: list[str]) -> None:
        mode = choice(_one(args), ("FIXed", "LIST", "SWEep"))
        if mode == "SWE":
            raise ScpiError(-221, "Settings conflict; staircase sweeps are not modelled")
        self._state.mode = mode

    def _get_mode(self, args: list[str]) -> str:
        return self._noargs(args, self._state.mode)

    def _set_source_range(self, args: list[str]) -> None:
        value = number(_one(args), -self.VOLTAGE_LIMIT, self.VOLTAGE_LIMIT, 20.0)
        self._state.source_range = _range_for(value, _SOURCE_RANGES)
        self._state.source_range_auto = False

    def _get_source_range(self, args: list[str]) -> str:
        return self._noargs(args, fmt(self._state.source_range))

    def _set_source_range_auto(self, args: list[str]) -> None:
        self._state.source_range_auto = boolean(_one(args))

    def _get_source_range_auto(self, args: list[str]) -> str:
        return self._noargs(args, _fmt_bool(self._state.source_range_auto))

    def _list_values(self, args: list[str]) -> list[float]:
        if not args:
            raise ScpiError(-109)
        return [self._check_level(a) for a in args]

    def _set_list(self, args: list[str]) -> None:
        values = self._list_values(args)
        if len(values) > self.MAX_POINTS:
            raise ScpiError(-223)
        self._state.sweep = values

    def _append_list(self, args: list[str]) -> None:
        values = self._list_values(args)
        if len(self._state.sweep) + len(values) > self.MAX_POINTS:
            raise ScpiError(-223)
        self._state.sweep.extend(values)

    def _get_list(self, args: list[str]) -> str:
        _count(args, 0)
        if not self._state.sweep:
            raise ScpiError(-230)
        return ",".join(fmt(v) for v in self._state.sweep)

    # ------------------------------------------------------------------ sense

    def _sense_names(self, args: list[str]) -> list[str]:
        if not args:
            raise ScpiError(-109)
        names = []
        for arg in args:
            name = _unquote(arg).upper().split(":")[0]
            names.append(choice(name, ("VOLTage", "CURRent", "RESistance")))
        return names

    def _set_sense(self, args: list[str]) -> None:
        names = self._sense_names(args)
        if self._state.concurrent:
            self._state.sense |= set(names)
        else:
            if len(names) > 1:
                raise ScpiError(-108)
            self._state.sense = set(names)

    def _get_sense(self, args: list[str]) -> str:
        _count(args, 0)
        names = [
            f'"{_SENSE_FUNCTIONS[n]}"' for n in ("VOLT", "CURR", "RES") if n in self._state.sense
        ]
        return ",".join(names) if names else '""'

    def _sense_all(self, args: list[str]) -> None:
        _count(args, 0)
        self._state.sense = {"VOLT", "CURR", "RES"}

    def _sense_none(self, args: list[str]) -> None:
        _count(args, 0)
        self._state.sense = set()

    def _set_concurrent(self, args: list[str]) -> None:
        self._state.concurrent = boolean(_one(args))

    def _get_concurrent(self, args: list[str]) -> str:
        return self._noargs(args, _fmt_bool(self._state.concurrent))

    def _set_compliance(self, args: list[str]) -> None:
        value = number(_one(args), -1.05, 1.05, 105e-6)
        if abs(value) < 1e-9:
            raise ScpiError(-222)
        self._state.compliance = abs(value)

    def _get_compliance(self, args: list[str]) -> str:
        return self._noargs(args, fmt(self._state.compliance))

    def _set_vprot(self, args: list[str]) -> None:
        self._state.voltage_protection = abs(number(_one(args), -210.0, 210.0, 21.0))

    def _get_vprot(self, args: list[str]) -> str:
        return self._noargs(args, fmt(self._state.voltage_protection))

    def _set_current_range(self, args: list[str]) -> None:
        value = number(_one(args), -1.05, 1.05, 1e-4)
        self._state.current_range = _range_for(value, _CURRENT_RANGES)
        self._state.current_range_auto = False

    def _get_current_range(self, args: list[str]) -> str:
        return self._noargs(args, fmt(self._state.current_range))

    def _set_current_range_auto(self, args: list[str]) -> None:
        self._state.current_range_auto = boolean(_one(args))

    def _get_current_range_auto(self, args: list[str]) -> str:
        return self._noargs(args, _fmt_bool(self._state.current_range_auto))

    def _set_nplc(self, args: list[str]) -> None:
        self._state.nplc = number(_one(args), 0.01, 10.0, 1.0)

    def _get_nplc(self, args: list[str]) -> str:
        return self._noargs(args, fmt(self._state.nplc))

    # ------------------------------------------------------------------ format and trigger

    def _set_elements(self, args: list[str]) -> None:
        if not args:
            raise ScpiError(-109)
        chosen = {choice(a, _ELEMENTS) for a in args}
        self._state.elements = tuple(e for e in _ELEMENT_ORDER if e in chosen)

    def _get_elements(self, args: list[str]) -> str:
        return self._noargs(args, ",".join(self._state.elements))

    def _set_trigger_count(self, args: list[str]) -> None:
        self._state.trigger_count = round(number(_one(args), 1, self.MAX_POINTS, 1))

    def _get_trigger_count(self, args: list[str]) -> str:
        return self._noargs(args, str(self._state.trigger_count))

    def _set_arm_count(self, args: list[str]) -> None:
        self._state.arm_count = round(number(_one(args), 1, self.MAX_POINTS, 1))

    def _get_arm_count(self, args: list[str]) -> str:
        return self._noargs(args, str(self._state.arm_count))

    # ------------------------------------------------------------------ measurement

    def _cmd_init(self, args: list[str]) -> None:
        _count(args, 0)
        self._last = self._acquire_all()

    def _query_fetch(self, args: list[str]) -> str:
        _count(args, 0)
        if not self._last:
            raise ScpiError(-230)
        return self._format(self._last)

    def _query_read(self, args: list[str]) -> str:
        self._cmd_init(args)
        return self._format(self._last)

    def _configure(self, function: str | None) -> None:
        if function is not None:
            self._state.sense = (
                {function} if not self._state.concurrent else {function, *self._state.sense}
            )
        if not self._state.output:  # CONFigure turns the output on, as on the instrument
            self._state.output = True
            self._record()

    def _configure_as(self, function: str) -> Callable[[list[str]], None]:
        def configure(args: list[str]) -> None:
            _count(args, 0)
            self._configure(function)

        return configure

    def _measure_as(self, function: str | None) -> Callable[[list[str]], str]:
        def measure(args: list[str]) -> str:
            _count(args, 0)
            self._configure(function)
            return self._query_read([])

        return measure

    def _acquire_all(self) -> list[_Point]:
        state = self._state
        if state.source_function != "VOLT":
            raise ScpiError(-221, "Settings conflict; the virtual SMU sources voltage only")
        points = state.trigger_count * state.arm_count
        if points > self.MAX_POINTS:
            raise ScpiError(-221)
        if state.mode == "LIST" and not state.sweep:
            raise ScpiError(-221)
        result = []
        for k in range(points):
            if state.mode == "LIST":
                voltage = state.sweep[k % len(state.sweep)]
                self.history.append(Applied(voltage, state.output))
            else:
                voltage = state.level
            self.clock.advance(state.nplc / self.line_frequency)
            result.append(self._acquire(voltage))
        if state.mode == "LIST":
            self._record()  # back to the bias level
        return result

    def _acquire(self, voltage: float) -> _Point:
        state = self._state
        faults = self._faults
        self.points_measured += 1
        status = STATUS_FRONT if state.settings.get("terminals", "FRON") == "FRON" else 0
        current = float(self.load(voltage)) if state.output else 0.0
        if state.output and math.isfinite(current):
            current = self.gain * current + self.offset
            if self.noise_abs or self.noise_rel:
                sigma = math.hypot(self.noise_abs, self.noise_rel * current)
                current += self._rng.gauss(0.0, sigma)
        volts = voltage if state.output else 0.0
        if faults.overflow:
            faults.overflow -= 1
            current, status = OVERFLOW, status | STATUS_OFLO
        elif not math.isfinite(current):
            current, status = OVERFLOW, status | STATUS_OFLO
        elif faults.compliance or abs(current) > state.compliance:
            if faults.compliance:
                faults.compliance -= 1
            sign = current if current else (volts or 1.0)
            current, status = math.copysign(state.compliance, sign), status | STATUS_COMPLIANCE
        elif not state.current_range_auto and abs(current) > state.current_range * 1.05:
            current = math.copysign(state.current_range * 1.05, current)
            status |= STATUS_RANGE_COMPLIANCE
        resistance = NOT_MEASURED
        if "RES" in state.sense and not status & STATUS_OFLO and current != 0.0:
            resistance = volts / current
        if "CURR" not in state.sense:
            current = NOT_MEASURED if not status & STATUS_OFLO else current
        return _Point(volts, current, resistance, self._timestamp(), status)

    def _format(self, points: Sequence[_Point]) -> str:
        fields = []
        for point in points:
            values = {
                "VOLT": point.voltage,
                "CURR": point.current,
                "RES": point.resistance,
                "TIME": point.time,
                "STAT": float(point.status),
            }
            fields.extend(fmt(values[e]) for e in self._state.elements)
        return ",".join(fields)
