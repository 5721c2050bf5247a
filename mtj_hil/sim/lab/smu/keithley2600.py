"""The virtual Keithley 2602B System SourceMeter (TSP, channels ``smua`` and ``smub``).

Per the *Series 2600B Reference Manual* (2600BS-901-01), TSP command reference: the channel
objects ``smuX.source`` (``output``, ``func``, ``levelv``/``leveli``, ``limiti``/``limitv``,
``rangev``/``rangei``, ``autorangev``/``autorangei``, ``protectv``, read-only ``compliance``),
``smuX.measure`` (``nplc`` 0.001..25, ``rangei``/``autorangei``..., ``count``, and the
functions ``i()``, ``v()``, ``iv()``, ``r()``, optionally into a buffer), ``smuX.nvbuffer1``/
``nvbuffer2`` (``clear()``, ``n``, ``readings``, ``sourcevalues``, ``statuses``,
``timestamps``, ``collectsourcevalues``...), the trigger model (``smuX.trigger.source.listv``/
``linearv``, ``source.action``, ``measure.i(buffer)``, ``measure.action``, ``count``,
``arm.count``, ``initiate()``), ``smuX.reset()``, ``reset()``, ``print()``, ``printbuffer()``,
``format.data`` (``format.ASCII``, ``format.REAL32``, ``format.REAL64``; binary numbers are
sent as ``#0`` and the raw bytes in ``format.byteorder``), ``format.asciiprecision``,
``errorqueue`` (``count``, ``next()`` giving code, message, severity, node; ``clear()``),
``waitcomplete()``, ``delay()``, ``localnode.linefreq``.

A line is Lua (:mod:`mtj_hil.sim.lab.smu.tsp`); a syntax error (-285) executes nothing of the line,
a runtime error (-286) stops it there; neither sends a reply. A setting out of its range
queues 1101 "Parameter too big" / 1102 "Parameter too small" (Series 2600 reference manual,
``smuX.source.limitY``: a limit of 0 gives "Parameter too small", error 1102) and is not
applied. The common commands ``*IDN?``, ``*RST``, ``*CLS``, ``*OPC?``, ``*WAI`` are accepted.
Buffer status (``bufferVar.statuses``): bit B6 (0x40) "source function was limited" =
compliance; an over-range reading is 9.91E37 and sets no status bit (B1, 0x02, is the
over-temperature condition in the 2600B table, not over range).

``smuX.reset()`` / ``reset()`` defaults of a 2602B (2600BS-901-01 Rev. F, section 9,
``smuX.source.limitY``, ``smuX.source.rangeY``, ``smuX.measure.rangeY`` "Default value"): voltage
source at 0 V, current limit 1 A and voltage limit 40 V (the 100 mA / 20 V defaults belong to
the 2611B..2636B), auto ranges on the lowest ranges (100 mV, 100 nA), 1 PLC, output off;
``reset()`` also restores ``format``. Limits: 10 nA..3 A and 10 mV..40 V. Ranges of the 2602B:
100 mV, 1 V, 6 V, 40 V and 100 nA..1 A in decades plus 3 A (1.5 A is a 2634B..2636B range).
"""

from __future__ import annotations

from typing import Any

from mtj_hil.sim.lab.smu.core import ChannelDefaults, VirtualInstrument
from mtj_hil.sim.lab.smu.tsp import TspError, TspFunction
from mtj_hil.sim.lab.smu.tsp_builtins import base_library
from mtj_hil.sim.lab.smu.tsp_channel import _V_RANGES, TspChannel
from mtj_hil.sim.lab.smu.tsp_flow import ScriptObject, run_chunk
from mtj_hil.sim.lab.smu.tsp_objects import (
    ASCII,
    TOO_BIG,
    Buffer,
    Column,
    Format,
    Obj,
    choice,
    num,
)
from mtj_hil.sim.lab.smu.tsp_system import display_object, status_object, trigger_object

__all__ = ["Keithley2600"]


class Keithley2600(VirtualInstrument):
    """Virtual Keithley 2602B (two channels, TSP); see the module docstring.

    Arguments as :class:`~mtj_hil.sim.lab.smu.core.VirtualInstrument`; ``load_channel`` is
    ``"a"`` (default) or ``"b"``.
    """

    CHANNELS = ("a", "b")
    VOLTAGE_LIMIT = 40.4
    DEFAULT_IDN = "Keithley Instruments Inc., Model 2602B, 4123456, 3.2.2 (virtual)"
    OVERFLOW_CODE = -350
    OVERFLOW_MESSAGE = "Queue overflow"
    ERROR_TEXT = {-285: "TSP Syntax error", -286: "TSP Runtime error", -200: "Execution error"}
    STALE_ERRORS = (
        (-285, "TSP Syntax error at line 1: unexpected symbol near `*'"),
        TOO_BIG,
        (-286, "TSP Runtime error at line 1: attempt to index field `foo' (a nil value)"),
    )
    OUTPUT_ON = ("smua.source.output = smua.OUTPUT_ON",)
    START_LINES = {
        "current-source": (
            "smua.source.func = smua.OUTPUT_DCAMPS",
            "smua.source.leveli = 1e-3",
            "smua.source.limitv = 20",
        ),
        "fixed-low-range": ("smua.measure.rangei = 1e-6", "smua.source.rangev = 0.1"),
        "output-on": ("smua.source.levelv = 0.5",),
        "odd-format": ("format.data = format.REAL32",),
        "remote-sense": ("smua.sense = smua.SENSE_REMOTE",),
        "filter-on": (
            "smua.measure.filter.type = smua.FILTER_MOVING_AVG",
            "smua.measure.filter.count = 10",
            "smua.measure.filter.enable = smua.FILTER_ON",
        ),
        "rel-offset": ("smua.measure.rel.leveli = 1e-6", "smua.measure.rel.enablei = smua.REL_ON"),
        "short-integration": ("smua.measure.nplc = 0.01",),
        "source-delay": ("smua.source.delay = 0.5",),
        "autozero-off": ("smua.measure.autozero = smua.AUTOZERO_OFF",),
        "arm-count": ("smua.trigger.arm.count = 3",),
        "low-precision": ("format.asciiprecision = 1",),
        "other-channel-live": ("smub.source.levelv = 5", "smub.source.output = smub.OUTPUT_ON"),
        "other-channel-current": (
            "smub.source.func = smub.OUTPUT_DCAMPS",
            "smub.source.leveli = 1e-3",
            "smub.source.output = smub.OUTPUT_ON",
        ),
        "line-frequency": ("localnode.linefreq = 50",),
    }
    V_RANGES = _V_RANGES
    PROTECTION = ("limit_v", None)

    def __init__(self, load: object, **kwargs: Any) -> None:
        super().__init__(load, **kwargs)  # type: ignore[arg-type]
        self.format = Format()
        self.smu = {k: TspChannel(self, k) for k in self.CHANNELS}
        self._out: list[str] = []
        queue = Obj("errorqueue")
        queue.field("count", lambda: float(len(self._errors)), None)
        queue.fn("next", self._next_error)
        queue.fn("clear", lambda *a: self._errors.clear())
        node = Obj("localnode")
        node.field("linefreq", lambda: self.line_frequency, self._set_linefreq)
        node.field("model", lambda: "2602B", None)
        node.field("serialno", lambda: "4123456", None)
        status = status_object(self)
        self.env: dict[str, Any] = {
            "smua": self.smu["a"],
            "smub": self.smu["b"],
            "format": self.format,
            "errorqueue": queue,
            "status": status,
            "trigger": trigger_object(),
            "display": display_object(),
            "localnode": node,
            "print": TspFunction(self._print, "print"),
            "printnumber": TspFunction(self._print, "printnumber"),
            "printbuffer": TspFunction(self._printbuffer, "printbuffer"),
            "reset": TspFunction(lambda *a: self._reset(), "reset"),
            "waitcomplete": TspFunction(lambda *a: None, "waitcomplete"),
            "delay": TspFunction(self._delay, "delay"),
        }
        self.env.update(base_library(self.env, self._text))

    def channel_defaults(self, name: str) -> ChannelDefaults:
        """``smuX.reset()`` state of a 2602B channel (see the module docstring)."""
        return ChannelDefaults(
            limit_i=1.0, limit_v=40.0, ovp=self.VOLTAGE_LIMIT, v_range=0.1,
            i_src_range=1e-7, i_range=1e-7, source_delay_auto=False, extra={},
        )  # fmt: skip

    def _reset(self) -> None:
        for channel in self.smu.values():
            channel.reset()
        self.format.reset()

    def on_reset(self) -> None:
        if hasattr(self, "smu"):
            self._reset()

    def _power_on(self) -> None:
        super()._power_on()
        if hasattr(self, "smu"):
            self._reset()

    def _set_linefreq(self, value: Any) -> None:
        self.line_frequency = choice(value, (50.0, 60.0))

    def _delay(self, seconds: Any = None) -> None:
        self.clock.advance(num(seconds, 0.0, 1e6))

    def _next_error(self, *args: Any) -> tuple[float, str, float, float]:
        if not self._errors:
            return (0.0, "Queue Is Empty", 0.0, 0.0)
        code, message = self._errors.popleft()
        return (float(code), message, 1.0 if code in (-285, -286) else 2.0, 0.0)

    def _text(self, value: Any) -> str:
        if value is None:
            return "nil"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return self.format.number(float(value))
        if isinstance(value, str):
            return value
        return f"{'function' if callable(value) else 'table'}: 0x20001234"

    def _print(self, *values: Any) -> None:
        if self.format.data != ASCII and any(
            isinstance(v, float) and not isinstance(v, bool) for v in values
        ):
            self._out.append("#0" + "".join(self._text(v) for v in values))
        else:
            self._out.append("\t".join(self._text(v) for v in values))

    def _printbuffer(self, start: Any = None, end: Any = None, *columns: Any) -> None:
        first, last = int(num(start, 1, 1e9)), int(num(end, 1, 1e9))
        if not columns or not all(isinstance(c, Column | Buffer) for c in columns):
            raise TspError(-286, "TSP Runtime error at line 1: bad argument to 'printbuffer'")
        cols = [c.buffer.column(c.k) if isinstance(c, Column) else c.column(0) for c in columns]
        if last < first or last > min(len(c) for c in cols):
            raise TspError(*TOO_BIG)
        values = [col[i] for i in range(first - 1, last) for col in cols]
        if self.format.data == ASCII:
            self._out.append(", ".join(self.format.number(v) for v in values))
        else:
            self._out.append("#0" + "".join(self.format.number(v) for v in values))

    def execute(self, line: str) -> str | None:
        """Run one line: a common command (``*IDN?``...), TSP statements, or a line of a
        script being loaded (``loadscript``/``loadandrunscript`` ... ``endscript``, 2600B
        reference manual "Scripts": a named script becomes a function, run by calling it
        or with ``name.run()``; an anonymous ``loadandrunscript`` runs at ``endscript``)."""
        stripped = line.strip()
        if self._loading is not None:
            return self._script_line(stripped)
        words = stripped.split()
        if words and words[0] in ("loadscript", "loadandrunscript") and len(words) <= 2:
            self._loading = (words[0], words[1] if len(words) == 2 else None, [])
            return None
        if stripped.startswith("*"):
            return self._common(stripped.upper())
        if any(not (32 <= ord(c) < 127) and c != "\t" for c in line):
            self.push_error(-285, "TSP Syntax error at line 1: unexpected symbol")
            return None
        return self._run(line)

    _loading: tuple[str, str | None, list[str]] | None = None

    def _script_line(self, line: str) -> str | None:
        kind, name, lines = self._loading  # type: ignore[misc]
        if line != "endscript":
            lines.append(line)
            return None
        self._loading = None
        text = "\n".join(lines)
        if name is not None:
            self.env[name] = ScriptObject(name, lambda: self._run(text))
        return self._run(text) if kind == "loadandrunscript" else None

    def _run(self, line: str) -> str | None:
        self._out = []
        try:
            run_chunk(line, self.env)
        except TspError as err:
            self.push_error(err.code, err.message)
        except (RecursionError, ValueError, OverflowError, ZeroDivisionError) as exc:
            self.push_error(-286, f"TSP Runtime error at line 1: {exc}")
        out, self._out = self._out, []
        return "\n".join(out) if out else None

    def _common(self, line: str) -> str | None:
        if line == "*IDN?":
            return self.idn
        if line == "*OPC?":
            return "1"
        if line == "*RST":
            self._reset()
            return None
        if line == "*CLS":
            self._errors.clear()
            self.esr = 0
            return None
        if line == "*ESR?":
            return str(self.read_esr())
        if line == "*OPC":
            self.operation_complete()
            return None
        if line in ("*WAI", "*TRG"):
            return None
        self.push_error(-285, "TSP Syntax error at line 1: unexpected symbol near `*'")
        return None
