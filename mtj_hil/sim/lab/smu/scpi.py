"""SCPI text handling shared by the virtual SCPI instruments (2400, 2450, B2900).

Header patterns in the manuals' notation, parameter parsing with the standard error codes, and
:class:`ScpiDialect`, which splits a program message into units, resolves relative paths and
dispatches each unit to a command table. Per IEEE 488.2 / SCPI: an unknown header queues
``-113 Undefined header``, the rest of that message is not executed, and a query that fails
sends no reply.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import takewhile

from mtj_hil.sim.lab.smu.core import SmuChannel, VirtualInstrument

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


class ScpiError(Exception):
    """A SCPI error to be queued: ``code`` and message (standard text if omitted)."""

    def __init__(self, code: int, message: str | None = None) -> None:
        self.code = int(code)
        self.message = message if message is not None else SCPI_ERRORS.get(code, "Error")
        super().__init__(f"{self.code},{self.message}")


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
        return digits == self.suffix or (not self.suffix and digits == "1")  # SCPI: [1]


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


def split_outside_quotes(text: str, sep: str) -> list[str]:
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


def split_params(text: str) -> list[str]:
    text = text.strip()
    if not text:
        return []
    params = [p.strip() for p in split_outside_quotes(text, ",")]
    if any(not p for p in params):
        raise ScpiError(-102)
    return params


def count(args: Sequence[str], n: int) -> None:
    if len(args) < n:
        raise ScpiError(-109)
    if len(args) > n:
        raise ScpiError(-108)


def one(args: Sequence[str]) -> str:
    count(args, 1)
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
    value = decimal(arg)
    if not math.isfinite(value) or not lo <= value <= hi:
        raise ScpiError(-222)
    return value


_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:\s*E\s*[+-]?\d+)?", re.IGNORECASE)
"""IEEE 488.2 section 7.7.2 decimal numeric program data: a mantissa of digits with an
optional point, an optional exponent (white space allowed around the ``E``)."""
_NOT_FINITE = {"NAN": math.nan, "INF": math.inf, "INFINITY": math.inf, "NINF": -math.inf}
"""SCPI-99 (volume 1, 7.2.1.5) keywords for values that are not numbers."""


def decimal(arg: str) -> float:
    """A decimal number as IEEE 488.2 spells it (or a SCPI NAN / INF keyword, which range
    checks refuse). Python's own spellings (``1_0``, ``0x1``, ``infinity`` with a sign
    inside) are no numbers here.

    :raises ScpiError: -104 for anything else.
    """
    token = arg.strip()
    if _DECIMAL.fullmatch(token):
        return float("".join(token.split()))
    sign = -1.0 if token.startswith("-") else 1.0
    keyword = _NOT_FINITE.get(token.lstrip("+-").upper())
    if keyword is None:
        raise ScpiError(-104)
    return sign * keyword


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
        value = decimal(token)
    except ScpiError:
        raise ScpiError(-224) from None
    if value not in (0.0, 1.0):
        raise ScpiError(-224)
    return value == 1.0


def unquote(arg: str) -> str:
    arg = arg.strip()
    if len(arg) >= 2 and arg[0] == arg[-1] and arg[0] in "'\"":
        return arg[1:-1]
    return arg


def fmt(value: float) -> str:
    """The instrument's ASCII number format, e.g. ``+1.000000E-01``."""
    return f"{value:+.6E}"


def fmt_bool(value: bool) -> str:
    return "1" if value else "0"


def as_bool(arg: str) -> str:
    return fmt_bool(boolean(arg))


def as_bool_or_once(arg: str) -> str:
    return "ONCE" if arg.strip().upper() == "ONCE" else as_bool(arg)


def as_choice(*options: str) -> Callable[[str], str]:
    return lambda arg: choice(arg, options)


def as_number(lo: float, hi: float) -> Callable[[str], str]:
    return lambda arg: fmt(number(arg, lo, hi))


def fmt_int(value: float) -> str:
    """An integer count as the instruments send it, e.g. ``5``."""
    return str(round(value))


# ---------------------------------------------------------------------------------------------
# The SCPI instrument base
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """What a header does: ``write`` for the command form, ``query`` for the ``?`` form."""

    write: Callable[[list[str]], None] | None = None
    query: Callable[[list[str]], str] | None = None


CommandTable = list[tuple[HeaderPattern, Command]]


def cmd(
    spec: str,
    write: Callable[[list[str]], None] | None = None,
    query: Callable[[list[str]], str] | None = None,
) -> tuple[HeaderPattern, Command]:
    """A command-table row."""
    return HeaderPattern(spec), Command(write, query)


def noargs(args: list[str], reply: str) -> str:
    """``reply`` for a query that takes no parameters.

    :raises ScpiError: -108 if parameters were given.
    """
    count(args, 0)
    return reply


class ScpiInstrument(VirtualInstrument):
    """A virtual SMU speaking SCPI: program messages, relative paths, common commands.

    Subclasses give :meth:`build_commands` (the dialect's command table) and may extend
    :meth:`common_commands`. Handlers act on :attr:`ch`, the channel the unit addressed
    (the wired channel unless :meth:`select_channel` picked another).
    """

    NO_ERROR = '0,"No error"'
    ERROR_TEXT = SCPI_ERRORS

    def __init__(self, load: object, **kwargs: object) -> None:
        super().__init__(load, **kwargs)  # type: ignore[arg-type]
        self.ch: SmuChannel = self.main
        init_status = getattr(self, "_init_status", None)
        if init_status is not None:
            init_status()
        self._commands = self.build_commands()
        self._common = self.common_commands()

    def build_commands(self) -> CommandTable:
        """The dialect's command table (header pattern -> handlers)."""
        raise NotImplementedError

    def common_commands(self) -> dict[str, Command]:
        """IEEE 488.2 common commands."""
        return {
            "*IDN": Command(query=lambda a: noargs(a, self.idn)),
            "*RST": Command(write=self.cmd_reset),
            "*CLS": Command(write=self.cmd_clear_status),
            "*OPC": Command(write=self._opc, query=lambda a: noargs(a, "1")),
            "*WAI": Command(write=self.noop),
            "*ESR": Command(query=lambda a: noargs(a, str(self.read_esr()))),
            "*STB": Command(query=lambda a: noargs(a, "4" if self._errors else "0")),
            **(self.status_common() if hasattr(self, "status_common") else {}),
        }

    # ------------------------------------------------------------------ shared handlers

    def _opc(self, args: list[str]) -> None:
        count(args, 0)
        self.operation_complete()

    def noop(self, args: list[str]) -> None:
        """A command that takes no parameters and changes nothing modelled."""
        count(args, 0)

    def cmd_reset(self, args: list[str]) -> None:
        """``*RST``: every channel to its reset state; the error queue is kept."""
        count(args, 0)
        self.reset_channels()
        self.on_reset()

    def on_reset(self) -> None:
        """Dialect state beyond the channels that ``*RST`` restores."""

    def _power_on(self) -> None:
        super()._power_on()
        self.on_reset()

    def cmd_clear_status(self, args: list[str]) -> None:
        """``*CLS``: clear the error queue, the event status register and every status
        event register."""
        count(args, 0)
        self._errors.clear()
        self.esr = 0
        if hasattr(self, "events"):
            self.events = dict.fromkeys(self.events, 0)

    def format_error(self, code: int, message: str) -> str:
        """One error-queue entry as the instrument sends it."""
        return f'{code},"{message}"'

    def query_error(self, args: list[str]) -> str:
        """``:SYSTem:ERRor[:NEXT]?``: oldest error, removed from the queue."""
        count(args, 0)
        if not self._errors:
            return self.NO_ERROR
        return self.format_error(*self._errors.popleft())

    def query_error_all(self, args: list[str]) -> str:
        """``:SYSTem:ERRor:ALL?``: every error, queue emptied."""
        count(args, 0)
        if not self._errors:
            return self.NO_ERROR
        entries = ",".join(self.format_error(c, m) for c, m in self._errors)
        self._errors.clear()
        return entries

    def stored(
        self, spec: str, key: str, default: str, parse: Callable[[str], str]
    ) -> tuple[HeaderPattern, Command]:
        """A setting the model stores per channel and reports back (as ``parse`` renders it)
        but that has no modelled effect."""

        def write(args: list[str]) -> None:
            self.ch.state.extra[key] = parse(one(args))

        def query(args: list[str]) -> str:
            return noargs(args, str(self.ch.state.extra.get(key, default)))

        return HeaderPattern(spec), Command(write, query)

    # ------------------------------------------------------------------ parsing

    def execute(self, line: str) -> str | None:
        """Run one program message; replies of its queries joined by ``;``."""
        replies: list[str] = []
        prefix: list[str] = []
        try:
            for unit in split_outside_quotes(line, ";"):
                if not unit.strip():
                    continue
                reply, prefix = self.execute_unit(unit.strip(), prefix)
                if reply is not None:
                    replies.append(reply)
        except ScpiError as err:
            self.push_error(err.code, err.message)
        return ";".join(replies) if replies else None

    def select_channel(self, tokens: list[str]) -> list[str]:
        """Hook: pick :attr:`ch` from the header (B2900 suffixes); returns the tokens to match."""
        return tokens

    def execute_unit(self, unit: str, prefix: list[str]) -> tuple[str | None, list[str]]:
        """One message unit (header and parameters) against the current path ``prefix``."""
        if any(not (32 <= ord(c) < 127) and c != "\t" for c in unit):
            raise ScpiError(-101)
        header, rest = _UNIT.match(unit).groups()  # type: ignore[union-attr]
        is_query = header.endswith("?")
        header = header[:-1] if is_query else header
        self.ch = self.main
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
            command = self.lookup(self.select_channel(tokens))
            if command is None and not absolute and prefix:
                # A relative header that does not fit the current path is tried from the root.
                tokens = [t.upper() for t in header.split(":")]
                command = self.lookup(self.select_channel(tokens))
            tokens = tokens[:-1]
        action = None
        if command is not None:
            action = command.query if is_query else command.write
        if action is None:
            raise ScpiError(-113)
        args = split_params(rest)
        return action(args), tokens

    def lookup(self, tokens: Sequence[str]) -> Command | None:
        """The command whose pattern fits ``tokens``, if any."""
        return next((c for pattern, c in self._commands if pattern.matches(tokens)), None)
