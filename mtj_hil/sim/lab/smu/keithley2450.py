"""The virtual Keithley 2450 Interactive SourceMeter in its native SCPI, on the shared core.

Command set per the *Model 2450 Reference Manual* (2450-901-01), section 6 "SCPI command
reference": ``:SOURce:FUNCtion``, ``:SOURce:VOLTage[:LEVel]`` / ``:SOURce:CURRent[:LEVel]``,
``:SOURce:VOLTage:ILIMit`` and ``:SOURce:CURRent:VLIMit`` (with ``:TRIPped?``),
``:SOURce:VOLTage:PROTection PROT2..PROT180|NONE`` (OVP), source and measure ``RANGe[:AUTO]``,
``:SENSe:FUNCtion "CURR:DC"``, ``:SENSe:<f>:NPLCycles``, ``:SENSe:COUNt``, ``:OUTPut``,
``:READ?`` / ``:MEASure[:<f>]? ["buffer"][, elements]`` (one reading by default),
``:SOURce:LIST:VOLTage``, ``:SOURce:SWEep:VOLTage:LIST|LINear`` + ``:INITiate`` (trigger model
into a reading buffer; every point books its delay and integration time), ``:TRACe:DATA?``,
``:TRACe:CLEar``/``ACTual?``/``POINts``/``MAKE``/``DELete``, ``:FORMat[:DATA]
ASCii|REAL|SREal`` (binary as an IEEE 488.2 definite-length block), ``:FORMat:BORDer
NORMal|SWAPped`` (default SWAPped: little-endian), ``:SYSTem:ERRor``.

``*LANG SCPI|TSP|SCPI2400`` (manual, "*LANG"): the command set changes only at the next power
cycle (:meth:`Keithley2450.power_cycle`); ``*LANG?`` reports the language running now. Booted
in TSP the virtual instrument refuses every SCPI line with a TSP syntax error (-285, no reply)
except the common commands (``*LANG``, ``*IDN?``...); TSP itself is not modelled on the 2450 (use the 26xx dialect).

The 2400 SCPI set is not accepted: ``:SENSe:CURRent:PROTection`` (2400 compliance),
``:FORMat:ELEMents``, ``:ARM:COUNt``, ``:SOURce:VOLTage:MODE LIST`` queue -113.
*RST: voltage source at 0 V, 105 uA limit, 21 V limit for current sourcing, measure current,
auto ranges, 1 PLC, count 1, ASCII, buffers cleared, output off.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable

from mtj_hil.sim.lab.smu.buffers2450 import DEFAULT_BUFFERS, Buffer2450, BufferCommands
from mtj_hil.sim.lab.smu.core import ChannelDefaults, Point
from mtj_hil.sim.lab.smu.scpi import (
    Command,
    CommandTable,
    ScpiError,
    as_bool,
    as_choice,
    as_number,
    boolean,
    choice,
    cmd,
    count,
    decimal,
    fmt,
    fmt_bool,
    noargs,
    number,
    one,
    unquote,
)
from mtj_hil.sim.lab.smu.scpi_handlers import ScpiSmu

__all__ = ["Keithley2450"]

OVERFLOW = 9.9e37
#: Source-status bit "source was limited" (value 32), as our driver reads it.
SOURCE_STATUS_LIMIT = 1 << 5
#: Source-status bit "over-voltage protection was active".
SOURCE_STATUS_OVP = 1 << 1
#: Measure-status bit "reading out of limits / over range".
MEASURE_STATUS_OVERRANGE = 1 << 0

_V_RANGES = (0.02, 0.2, 2.0, 20.0, 200.0)
_I_RANGES = (1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
_OVP = (2.0, 5.0, 10.0, 20.0, 40.0, 60.0, 80.0, 100.0, 120.0, 140.0, 160.0, 180.0)
_ELEMENTS = ("READing", "SOURce", "RELative", "SEConds", "STATus", "SOURSTATus", "UNIT", "SOURUNIT")
_SENSE = {"CURR": '"CURR:DC"', "VOLT": '"VOLT:DC"', "RES": '"RES"'}


class Keithley2450(BufferCommands, ScpiSmu):
    """Virtual Keithley 2450 (see the module docstring); arguments as
    :class:`~mtj_hil.sim.lab.smu.core.VirtualInstrument`."""

    VOLTAGE_LIMIT = 210.0
    MAX_POINTS = 2500
    DEFAULT_IDN = "KEITHLEY INSTRUMENTS,MODEL 2450,04512345,1.7.12b (virtual)"
    STALE_ERRORS = (
        (-113, "Undefined header"),
        (-222, "Parameter data out of range"),
        (-221, "Settings conflict"),
    )
    OUTPUT_ON = (":OUTP ON",)
    START_LINES = {
        "current-source": (":SOUR:FUNC CURR", ":SOUR:CURR 1E-3", ":SOUR:CURR:VLIM 20"),
        "fixed-low-range": (":SENS:CURR:RANG 1E-6", ":SOUR:VOLT:RANG 0.02"),
        "output-on": (":SOUR:VOLT 0.5",),
        "odd-format": (":FORM:DATA REAL",),
        "rear-terminals": (":ROUT:TERM REAR",),
        "remote-sense": (":SENS:CURR:RSEN ON",),
        "filter-on": (":SENS:CURR:AVER:TCON MOV", ":SENS:CURR:AVER:COUN 10", ":SENS:CURR:AVER ON"),
        "rel-offset": (":SENS:CURR:REL 1E-6", ":SENS:CURR:REL:STAT ON"),
        "short-integration": (":SENS:CURR:NPLC 0.01",),
        "source-delay": (":SOUR:VOLT:DEL 0.5",),
        "autozero-off": (":SENS:CURR:AZER OFF",),
        "measure-count": (":SENS:COUN 5",),
        "low-precision": (":FORM:ASC:PREC 1",),
        "compliance-high": (":SOUR:VOLT:ILIM 1",),
    }
    V_RANGES = _V_RANGES
    PROTECTION = ("ovp", _OVP)

    def __init__(self, load: object, **kwargs: object) -> None:
        self.language = "SCPI"
        self.pending_language = "SCPI"
        super().__init__(load, **kwargs)
        self._init_buffers()

    def _init_buffers(self) -> None:
        self.buffers = {name: Buffer2450(100000) for name in DEFAULT_BUFFERS}
        self._tripped = False
        self._sweep: dict[str, object] | None = None

    def channel_defaults(self, name: str) -> ChannelDefaults:
        """*RST state (2450 manual, command descriptions' "Default value")."""
        return ChannelDefaults(
            limit_i=1.05e-4,
            limit_v=21.0,
            ovp=self.VOLTAGE_LIMIT,
            v_range=0.02,
            i_range=1e-4,
            i_src_range=1e-8,
            extra={"sense": "CURR", "count": 1, "format": "ASC", "border": "SWAP", "ovp": "NONE"},
        )

    def on_reset(self) -> None:
        self._init_buffers()
        self.precision = 0

    precision = 0  #: :FORMat:ASCii:PRECision, significant digits of ASCII numbers (0 = automatic)

    def _set_precision(self, args: list[str]) -> None:
        """``:FORMat:ASCii:PRECision <n>``: 0 (automatic, the *RST value) or 1 to 16 digits."""
        self.precision = round(number(one(args), 0, 16, 0))

    def _number(self, value: float) -> str:
        return fmt(value) if self.precision == 0 else f"{value:+.{self.precision - 1}E}"

    def _set_delay(self, args: list[str]) -> None:
        """``:SOURce:VOLTage:DELay <n>``: a delay value turns the automatic delay off."""
        self.st.source_delay = number(one(args), 0.0, 10000.0, 0.0)
        self.st.source_delay_auto = False

    def _power_on(self) -> None:
        super()._power_on()
        self.language = self.pending_language
        self._init_buffers()

    def common_commands(self) -> dict[str, Command]:
        common = super().common_commands()
        common["*LANG"] = Command(write=self._set_lang, query=lambda a: noargs(a, self.language))
        common["*TRG"] = Command(write=self.noop)
        return common

    def _set_lang(self, args: list[str]) -> None:
        self.pending_language = {"SCPI": "SCPI", "TSP": "TSP", "SCPI2400": "SCPI2400"}.get(
            one(args).strip().upper(), ""
        ) or self._bad_value()

    @staticmethod
    def _bad_value() -> str:
        raise ScpiError(-224)

    def execute(self, line: str) -> str | None:
        if self.language == "SCPI":
            return super().execute(line)
        if line.strip().startswith("*"):  # common commands work in either language
            return super().execute(line)
        self.push_error(-285, "TSP Syntax error at line 1: unexpected symbol")
        return None

    def apply_start(self, start: str) -> None:
        if start == "tsp-language":
            self.pending_language = "TSP"
            self.power_cycle()
            start = "power-on"
        super().apply_start(start)

    def start_lines(self, start: str) -> tuple[str, ...]:
        return () if start == "tsp-language" else super().start_lines(start)

    # ------------------------------------------------------------------ command table

    def build_commands(self) -> CommandTable:
        c = cmd
        S = self.stored  # noqa: N806
        lev = self._level_handlers
        return [
            c(":SYSTem:ERRor[:NEXT]", query=self.query_error),
            c(":SYSTem:ERRor:COUNt", query=lambda a: noargs(a, str(len(self._errors)))),
            c(":SYSTem:CLEar", write=self.cmd_clear_status),
            c(":SYSTem:LFRequency", query=lambda a: noargs(a, f"{self.line_frequency:g}")),
            c(":SYSTem:BEEPer[:IMMediate]", write=lambda a: None),
            *self.status_rows(("OPER", "QUES")),
            c(":STATus:CLEar", write=self.noop),
            c(":ABORt", write=self.noop),
            self.state_row(":ROUTe:TERMinals", "terminals", lambda a: choice(a, ("FRONt", "REAR")), str),
            c(":OUTPut[:STATe]:INTerlock:TRIPped", query=lambda a: noargs(a, fmt_bool(self.interlock_closed))),
            c(":OUTPut[:STATe]", write=self.set_output, query=lambda a: noargs(a, fmt_bool(self.st.output))),
            S(":OUTPut:VOLTage:SMODe", "vsmode", "NORM", as_choice("NORMal", "HIMPedance", "ZERO", "GUARd")),
            S(":OUTPut:CURRent:SMODe", "ismode", "NORM", as_choice("NORMal", "HIMPedance", "ZERO", "GUARd")),
            c(":SOURce:FUNCtion[:MODE]", write=self.set_function, query=lambda a: noargs(a, self.st.source_function)),
            c(":SOURce:VOLTage[:LEVel][:IMMediate][:AMPLitude]", *lev("VOLT")),
            c(":SOURce:CURRent[:LEVel][:IMMediate][:AMPLitude]", *lev("CURR")),
            c(":SOURce:VOLTage:ILIMit[:LEVel]", write=self._set_ilim, query=lambda a: noargs(a, fmt(self.st.limit_i))),
            c(":SOURce:VOLTage:ILIMit[:LEVel]:TRIPped", query=lambda a: noargs(a, fmt_bool(self._tripped))),
            c(":SOURce:CURRent:VLIMit[:LEVel]", write=self._set_vlim, query=lambda a: noargs(a, fmt(self.st.limit_v))),
            c(":SOURce:CURRent:VLIMit[:LEVel]:TRIPped", query=lambda a: noargs(a, fmt_bool(self._tripped))),
            c(":SOURce:VOLTage:PROTection[:LEVel]", write=self._set_ovp, query=lambda a: noargs(a, self.st.extra["ovp"])),
            c(":SOURce:VOLTage:RANGe", write=self.set_range("v_range", _V_RANGES, _V_RANGES[-1] * 1.05), query=lambda a: noargs(a, fmt(self.st.v_range))),
            c(":SOURce:VOLTage:RANGe:AUTO", write=self.set_flag("v_range_auto"), query=self.get_flag("v_range_auto")),
            c(":SOURce:CURRent:RANGe", write=self.set_range("i_src_range", _I_RANGES, _I_RANGES[-1] * 1.05), query=lambda a: noargs(a, fmt(self.st.i_src_range))),
            c(":SOURce:CURRent:RANGe:AUTO", write=self.set_flag("i_src_range_auto"), query=self.get_flag("i_src_range_auto")),
            c(":SOURce:VOLTage:DELay", write=self._set_delay, query=lambda a: noargs(a, fmt(self.st.source_delay))),
            self.bool_row(":SOURce:VOLTage:DELay:AUTO", "source_delay_auto"),
            S(":SOURce:CURRent:DELay", "idelay", fmt(0.0), as_number(0.0, 10000.0)),
            S(":SOURce:CURRent:DELay:AUTO", "idelay_auto", "1", as_bool),
            S(":SOURce:VOLTage:READ:BACK", "vreadback", "1", as_bool),
            S(":SOURce:CURRent:READ:BACK", "ireadback", "1", as_bool),
            c(":SOURce:LIST:VOLTage", write=self.set_list, query=lambda a: noargs(a, ",".join(fmt(v) for v in self.st.sweep))),
            c(":SOURce:LIST:VOLTage:APPend", write=self.append_list),
            c(":SOURce:LIST:VOLTage:POINts", query=lambda a: noargs(a, str(len(self.st.sweep)))),
            c(":SOURce:SWEep:VOLTage:LIST", write=self._sweep_list),
            c(":SOURce:SWEep:VOLTage:LINear", write=self._sweep_linear),
            c("[:SENSe]:FUNCtion[:ON]", write=self._set_sense, query=lambda a: noargs(a, _SENSE[self.st.extra["sense"]])),
            c("[:SENSe]:CURRent[:DC]:RANGe[:UPPer]", write=self.set_range("i_range", _I_RANGES, _I_RANGES[-1] * 1.05), query=lambda a: noargs(a, fmt(self.st.i_range))),
            c("[:SENSe]:CURRent[:DC]:RANGe:AUTO", write=self.set_flag("i_range_auto"), query=self.get_flag("i_range_auto")),
            c("[:SENSe]:CURRent[:DC]:NPLCycles", write=self._set_nplc, query=lambda a: noargs(a, fmt(self.st.nplc))),
            c("[:SENSe]:VOLTage[:DC]:NPLCycles", write=self._set_nplc, query=lambda a: noargs(a, fmt(self.st.nplc))),
            c("[:SENSe]:RESistance:NPLCycles", write=self._set_nplc, query=lambda a: noargs(a, fmt(self.st.nplc))),
            S("[:SENSe]:VOLTage[:DC]:RANGe[:UPPer]", "vrange", fmt(0.02), as_number(-210.0, 210.0)),
            S("[:SENSe]:VOLTage[:DC]:RANGe:AUTO", "vrange_auto", "1", as_bool),
            self.bool_row("[:SENSe]:CURRent[:DC]:RSENse", "remote_sense"),
            self.bool_row("[:SENSe]:VOLTage[:DC]:RSENse", "remote_sense"),
            self.bool_row("[:SENSe]:CURRent[:DC]:AZERo[:STATe]", "autozero"),
            self.bool_row("[:SENSe]:AZERo[:STATe]", "autozero"),
            c("[:SENSe]:AZERo:ONCE", write=self.noop),
            self.bool_row("[:SENSe]:VOLTage[:DC]:AZERo[:STATe]", "autozero"),
            self.bool_row("[:SENSe]:RESistance:AZERo[:STATe]", "autozero"),
            self.bool_row("[:SENSe]:RESistance:RSENse", "remote_sense"),
            S("[:SENSe]:RESistance:RANGe[:UPPer]", "rrange", fmt(2e5), as_number(0.0, 2e8)),
            S("[:SENSe]:RESistance:RANGe:AUTO", "rrange_auto", "1", as_bool),
            self.bool_row("[:SENSe]:CURRent[:DC]:AVERage[:STATe]", "filter_on"),
            self.state_row("[:SENSe]:CURRent[:DC]:AVERage:COUNt", "filter_count", lambda a: round(number(a, 1, 100, 10)), lambda v: str(v)),
            self.state_row("[:SENSe]:CURRent[:DC]:AVERage:TCONtrol", "filter_type", lambda a: choice(a, ("REPeat", "MOVing")), str),
            self.bool_row("[:SENSe]:CURRent[:DC]:RELative:STATe", "rel_on"),
            self.state_row("[:SENSe]:CURRent[:DC]:RELative[:LEVel]", "rel_level", lambda a: number(a, -1.05, 1.05, 0.0), fmt),
            c("[:SENSe]:COUNt", write=self._set_count, query=lambda a: noargs(a, str(self.st.extra["count"]))),
            c(":FORMat[:DATA]", write=self._set_format, query=lambda a: noargs(a, self.st.extra["format"])),
            c(":FORMat:BORDer", write=self._set_border, query=lambda a: noargs(a, self.st.extra["border"])),
            c(":FORMat:ASCii:PRECision", write=self._set_precision, query=lambda a: noargs(a, str(self.precision))),
            c(":READ", query=self._query_read),
            c(":MEASure", query=self._measure_as(None)),
            c(":MEASure:CURRent[:DC]", query=self._measure_as("CURR")),
            c(":MEASure:VOLTage[:DC]", query=self._measure_as("VOLT")),
            c(":INITiate[:IMMediate]", write=self._cmd_init),
            c(":FETCh", query=self._query_fetch),
            c(":TRACe:CLEar", write=self._trace_clear),
            c(":TRACe:ACTual", query=lambda a: str(len(self._buffer(a).points))),
            c(":TRACe:POINts", write=self._trace_points, query=lambda a: str(self._buffer(a).size)),
            c(":TRACe:MAKE", write=self._trace_make),
            c(":TRACe:DELete", write=self._trace_delete),
            c(":TRACe:DATA", query=self._trace_data),
            *self.statistics_rows(),
            c(":SYSTem:VERSion", query=lambda a: noargs(a, "1999.0")),
            S(":DISPlay:LIGHt:STATe", "light", "ON100", as_choice("ON100", "ON75", "ON50", "ON25", "OFF", "BLACkout")),
            c(":DISPlay:USER1:TEXT[:DATA]", write=lambda a: None),
            c(":DISPlay:USER2:TEXT[:DATA]", write=lambda a: None),
            S(":DISPlay:SCReen", "screen", "HOME", as_choice("HOME", "HOMElarge", "READing", "GRAPh", "HISTogram", "SWIPE", "PROCessing", "USER")),
            S(":CALCulate[:CURRent]:MATH:FORMat", "math", "PERC", as_choice("MXB", "PERCent", "RECiprocal")),
            S(":CALCulate[:CURRent]:MATH:STATe", "math_on", "0", as_bool),
        ]  # fmt: skip

    # ------------------------------------------------------------------ helpers

    def _level_handlers(
        self, function: str
    ) -> tuple[Callable[[list[str]], None], Callable[[list[str]], str]]:
        volt = function == "VOLT"

        def write(args: list[str]) -> None:
            limit = self.VOLTAGE_LIMIT if volt else 1.05
            value = number(one(args), -limit, limit, 0.0)
            if volt and not self.check_level(value, limit):
                raise ScpiError(-222, "Parameter data out of range")
            ranges = _V_RANGES if volt else _I_RANGES
            if not self.ch.program_level(function, value, ranges, 1.05):
                raise ScpiError(-222, "Parameter data out of range")

        def query(args: list[str]) -> str:
            return noargs(args, fmt(self.st.level_v if volt else self.st.level_i))

        return write, query

    def _set_ilim(self, args: list[str]) -> None:
        self.st.limit_i = number(one(args), 1e-9, 1.05, 1.05e-4)

    def _set_vlim(self, args: list[str]) -> None:
        self.st.limit_v = number(one(args), 0.02, 210.0, 21.0)

    def _set_ovp(self, args: list[str]) -> None:
        token = one(args).strip().upper()
        if token == "NONE":
            self.st.ovp, self.st.extra["ovp"] = self.VOLTAGE_LIMIT, "NONE"
            return
        if not token.startswith("PROT"):
            raise ScpiError(-224)
        try:
            value = decimal(token[4:])
        except ScpiError:
            raise ScpiError(-224) from None
        if value not in _OVP:
            raise ScpiError(-224)
        self.st.ovp, self.st.extra["ovp"] = value, token

    def _set_nplc(self, args: list[str]) -> None:
        self.st.nplc = number(one(args), 0.01, 10.0, 1.0)

    def _set_count(self, args: list[str]) -> None:
        self.st.extra["count"] = round(number(one(args), 1, 300000, 1))

    def _set_sense(self, args: list[str]) -> None:
        name = unquote(one(args)).upper().split(":")[0]
        self.st.extra["sense"] = choice(name, ("CURRent", "VOLTage", "RESistance"))

    def _set_format(self, args: list[str]) -> None:
        self.st.extra["format"] = choice(one(args), ("ASCii", "REAL", "SREal"))

    def list_values(self, args: list[str]) -> list[float]:
        """As the base, but every value is parsed before any is checked and the error text is
        the 2450's ("Parameter data out of range")."""
        if not args:
            raise ScpiError(-109)
        values = [number(a, -self.VOLTAGE_LIMIT, self.VOLTAGE_LIMIT) for a in args]
        if not all(self.check_level(v, self.VOLTAGE_LIMIT) for v in values):
            raise ScpiError(-222, "Parameter data out of range")
        return values

    def _sweep_list(self, args: list[str]) -> None:
        """``:SOUR:SWE:VOLT:LIST <start index>, <delay>[, <count>, <fail abort>, "buffer"]``
        (fail abort ON by default: the sweep stops at the first point that reaches the
        source limit, 2450 Reference Manual ``:SOURce[1]:SWEep:<function>:LIST``)."""
        if not 1 <= len(args) <= 5:
            raise ScpiError(-109 if not args else -108)
        if not self.st.sweep:
            raise ScpiError(-221, "Settings conflict; source list is empty")
        start = round(number(args[0], 1, len(self.st.sweep)))
        delay = number(args[1], 0.0, 10000.0) if len(args) > 1 else 0.0
        repeat = round(number(args[2], 1, 268000000)) if len(args) > 2 else 1
        abort = boolean(args[3]) if len(args) > 3 else True
        buffer = unquote(args[4]) if len(args) > 4 else "defbuffer1"
        self._buffer_named(buffer)
        levels = self.st.sweep[start - 1 :] * repeat
        self._sweep = {"levels": levels, "delay": delay, "buffer": buffer, "abort": abort}

    def _sweep_linear(self, args: list[str]) -> None:
        """``:SOUR:SWE:VOLT:LIN <start>, <stop>, <points>[, <delay>, <count>, <range>,
        <fail abort>, <dual>, "buffer"]`` (fail abort ON by default, as for LIST)."""
        if not 3 <= len(args) <= 9:
            raise ScpiError(-109 if len(args) < 3 else -108)
        start = number(args[0], -self.VOLTAGE_LIMIT, self.VOLTAGE_LIMIT)
        stop = number(args[1], -self.VOLTAGE_LIMIT, self.VOLTAGE_LIMIT)
        points = round(number(args[2], 2, 1000000))
        delay = number(args[3], -1.0, 10000.0) if len(args) > 3 else -1.0
        repeat = round(number(args[4], 1, 268000000)) if len(args) > 4 else 1
        abort = boolean(args[6]) if len(args) > 6 else True
        dual = len(args) > 7 and boolean(args[7])
        buffer = unquote(args[8]) if len(args) > 8 else "defbuffer1"
        self._buffer_named(buffer)
        levels = [start + (stop - start) * k / (points - 1) for k in range(points)]
        if not all(self.check_level(v, self.VOLTAGE_LIMIT) for v in levels):
            raise ScpiError(-222, "Parameter data out of range")
        if dual:
            levels = levels + levels[::-1]
        self._sweep = {
            "levels": levels * repeat,
            "delay": max(delay, 0.0),
            "buffer": buffer,
            "abort": abort,
        }

    # ------------------------------------------------------------------ measurement

    def _store(self, points: list[tuple[Point, float]], buffer: Buffer2450) -> None:
        function = self.st.extra["sense"]
        for point, source in points:
            buffer.add(point, source, function)
        self._tripped = bool(points) and points[-1][0].compliance

    def _measure_points(self, buffer: Buffer2450) -> None:
        st = self.st
        if st.extra["sense"] == "RES":
            raise ScpiError(-221, "Settings conflict; resistance is not modelled")
        if not st.output:
            # The 2450 measures with the output off too: 0 V, 0 A (the source is disconnected).
            pass
        level = st.level_v if st.source_function == "VOLT" else st.level_i
        self._store([(self.ch.measure(), level) for _ in range(st.extra["count"])], buffer)

    def _buffer_and_elements(self, args: list[str]) -> tuple[Buffer2450, list[str]]:
        buffer = self._buffer_named(unquote(args[0]) if args else "defbuffer1")
        elements = [choice(a, _ELEMENTS) for a in args[1:]] or ["READ"]
        return buffer, elements

    def _query_read(self, args: list[str]) -> str:
        buffer, elements = self._buffer_and_elements(args)
        self._measure_points(buffer)
        return self._format([buffer.points[-1]], elements)

    def _measure_as(self, function: str | None) -> Callable[[list[str]], str]:
        def measure(args: list[str]) -> str:
            if function is not None:
                self.st.extra["sense"] = function
            return self._query_read(args)

        return measure

    def _query_fetch(self, args: list[str]) -> str:
        buffer, elements = self._buffer_and_elements(args)
        if not buffer.points:
            raise ScpiError(-230)
        return self._format([buffer.points[-1]], elements)

    def _cmd_init(self, args: list[str]) -> None:
        count(args, 0)
        if self._sweep is None:
            self._measure_points(self.buffers["defbuffer1"])
            return
        sweep = self._sweep
        buffer = self._buffer_named(str(sweep["buffer"]))
        st = self.st
        if st.source_function != "VOLT":
            raise ScpiError(-221)
        points = []
        for level in sweep["levels"]:  # type: ignore[attr-defined]
            self.ch.record(level)
            self.clock.advance(float(sweep["delay"]))  # type: ignore[arg-type]
            points.append((self.ch.measure(level), level))
            if sweep["abort"] and points[-1][0].compliance:
                break  # fail abort: the sweep ends at the point that reached the limit
        st.level_v = float(points[-1][1]) if points else st.level_v
        self.ch.record()
        self._store(points, buffer)

    def _trace_data(self, args: list[str]) -> str:
        if len(args) < 2:
            raise ScpiError(-109)
        start = round(number(args[0], 1, 11000000))
        end = round(number(args[1], 1, 11000000))
        buffer, elements = self._buffer_and_elements(args[2:])
        if end < start or end > len(buffer.points):
            raise ScpiError(-222, "Parameter data out of range; index beyond buffer")
        return self._format(buffer.points[start - 1 : end], elements)

    def _element(self, entry: tuple[Point, float, str], element: str) -> float | str:
        point, source, function = entry
        reading = {"CURR": point.current, "VOLT": point.voltage}.get(function, point.current)
        if point.beyond_range:  # beyond a fixed range, too: 9.9e37 (module docstring)
            reading = OVERFLOW
        src_status = (SOURCE_STATUS_LIMIT if point.compliance else 0) | (
            SOURCE_STATUS_OVP if point.ovp else 0
        )
        values: dict[str, float | str] = {
            "READ": reading,
            "SOUR": source,
            "REL": point.time,
            "SEC": point.time,
            "STAT": float(MEASURE_STATUS_OVERRANGE if point.beyond_range else 0),
            "SOURSTAT": float(src_status),
            "UNIT": "Amp DC" if function == "CURR" else "Volt DC",
            "SOURUNIT": "Volt DC" if self.st.source_function == "VOLT" else "Amp DC",
        }
        return values[element]

    def _set_border(self, args: list[str]) -> None:
        """``:FORMat:BORDer NORMal|SWAPped``: byte order of the binary formats; NORMal sends
        byte 1 (most significant) first, SWAPped byte 4 first, i.e. little-endian. Default
        SWAP, restored by *RST (2461/2470 reference manuals, ``:FORMat:BORDer``; the 2450
        shares their SCPI command set)."""
        self.st.extra["border"] = choice(one(args), ("NORMal", "SWAPped"))

    def _format(self, entries: list[tuple[Point, float, str]], elements: list[str]) -> str:
        values = [self._element(e, el) for e in entries for el in elements]
        kind = self.st.extra["format"]
        if kind == "ASC" or any(isinstance(v, str) for v in values):
            return ",".join(v if isinstance(v, str) else self._number(v) for v in values)
        order = "<" if self.st.extra["border"] == "SWAP" else ">"
        code = order + ("d" if kind == "REAL" else "f")
        data = b"".join(
            struct.pack(code, float(v) if math.isfinite(float(v)) else OVERFLOW) for v in values
        )
        size = str(len(data))
        return f"#{len(size)}{size}" + data.decode("latin-1")
