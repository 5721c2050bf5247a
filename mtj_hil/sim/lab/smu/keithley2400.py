"""The virtual Keithley 2400 SourceMeter (SCPI), on the shared physics core.

Command set per the *2400 Series SourceMeter User's Manual* (2400S-900-01), section 18 "SCPI
command reference": ``[:SOURce[1]]`` (FUNCtion, VOLTage/CURRent levels, ranges, ``MODE
FIXed|LIST``, ``LIST:VOLTage``, ``VOLTage:PROTection`` = OVP 20..160 V or NONE), ``[:SENSe[1]]``
(FUNCtion, CONCurrent, CURRent/VOLTage PROTection = compliance, RANGe[:AUTO], NPLCycles),
``:OUTPut[1]``, ``:FORMat`` (ELEMents in the fixed order VOLT, CURR, RES, TIME, STAT; DATA
``ASCii|REAL,32|SREal``, both IEEE-754 single precision after a ``#0`` header; BORDer ``NORMal|SWAPped``), ``:TRIGger:COUNt``, ``:ARM:COUNt``,
``:READ?``/``:INITiate``/``:FETCh?``/``:MEASure?``/``:CONFigure``, ``:SYSTem:ERRor``. As in
the manual, the numeric suffix ``1`` is accepted on SOURce/SENSe/OUTPut (``:SOUR1:VOLT`` is a
2400 command); any other suffix and B2900 channel lists (``(@1)``) are refused.

Status word (2400 manual, :FORMat:ELEMents STATus): bit 0 OFLO, bit 2 front terminals, bit 3
compliance, bit 16 range compliance. Over-range reads ``+9.9E37``; an element not measured
reads ``+9.91E37``. *RST defaults: voltage source at 0 V, 105 uA compliance, 21 V voltage
compliance, auto ranges, 1 PLC, concurrent current sensing, ASCII, output off.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

from mtj_hil.sim.lab.smu.configure2400 import Configure2400
from mtj_hil.sim.lab.smu.core import Applied, ChannelDefaults, Point, range_for
from mtj_hil.sim.lab.smu.scpi import (
    CommandTable,
    ScpiError,
    as_bool,
    as_bool_or_once,
    as_choice,
    as_number,
    boolean,
    choice,
    cmd,
    count,
    fmt,
    fmt_bool,
    noargs,
    number,
    one,
    unquote,
)
from mtj_hil.sim.lab.smu.scpi_handlers import ScpiSmu
from mtj_hil.sim.lab.smu.trace2400 import Trace2400

__all__ = ["Applied", "Keithley2400", "VirtualSMU"]

OVERFLOW = 9.9e37
NOT_MEASURED = 9.91e37
STATUS_OFLO = 1 << 0
STATUS_FRONT = 1 << 2
STATUS_COMPLIANCE = 1 << 3
STATUS_RANGE_COMPLIANCE = 1 << 16
#: 2400 manual, Table B-1 "Status and error messages".
NOT_WITH_OUTPUT_OFF = (803, "Not permitted with OUTPUT off")

_ELEMENTS = ("VOLTage", "CURRent", "RESistance", "TIME", "STATus")
_ELEMENT_ORDER = ("VOLT", "CURR", "RES", "TIME", "STAT")
_SENSE_NAMES = {"VOLT": "VOLT:DC", "CURR": "CURR:DC", "RES": "RES"}
_V_RANGES = (0.2, 2.0, 20.0, 200.0)
_I_RANGES = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
_OVP_STEPS = (20.0, 40.0, 60.0, 80.0, 100.0, 120.0, 160.0)
_SUFFIXED = ("SOUR", "SOURCE", "SENS", "SENSE", "OUTP", "OUTPUT")


class Keithley2400(Configure2400, Trace2400, ScpiSmu):
    """Virtual Keithley 2400 (see the module docstring); arguments as
    :class:`~mtj_hil.sim.lab.smu.core.VirtualInstrument`."""

    MAX_POINTS = 2500
    VOLTAGE_LIMIT = 210.0
    DEFAULT_IDN = "KEITHLEY INSTRUMENTS INC.,MODEL 2400,4045123,C30 (virtual)"
    OUTPUT_ON = (":OUTP ON",)
    START_LINES = {
        "current-source": (":SOUR:FUNC CURR", ":SOUR:CURR 1E-3", ":SENS:VOLT:PROT 20"),
        "fixed-low-range": (":SENS:CURR:RANG 1E-6", ":SOUR:VOLT:RANG 0.2"),
        "output-on": (":SOUR:VOLT 0.5",),
        "odd-format": (":FORM:ELEM CURR,TIME", ":FORM:DATA SRE"),
        "rear-terminals": (":ROUT:TERM REAR",),
        "remote-sense": (":SYST:RSEN ON",),
        "filter-on": (":SENS:AVER:TCON MOV", ":SENS:AVER:COUN 10", ":SENS:AVER ON"),
        "short-integration": (":SENS:CURR:NPLC 0.01",),
        "source-delay": (":SOUR:DEL 0.5",),
        "autozero-off": (":SYST:AZER OFF",),
        "auto-output-off": (":SOUR:CLE:AUTO ON",),
        "arm-count": (":ARM:COUN 5",),
        "trigger-delay": (":TRIG:DEL 0.2",),
        "line-frequency": (":SYST:LFR 50",),
        "compliance-high": (":SENS:CURR:PROT 1",),
    }
    V_RANGES = (0.2, 2.0, 20.0, 200.0)
    PROTECTION = ("ovp", (20.0, 40.0, 60.0, 80.0, 100.0, 120.0, 160.0))

    def channel_defaults(self, name: str) -> ChannelDefaults:
        """*RST state (2400 manual, tables 18-x "default parameter")."""
        return ChannelDefaults(
            limit_i=105e-6,
            limit_v=21.0,
            ovp=self.VOLTAGE_LIMIT,
            v_range=20.0,
            i_range=1e-4,
            extra={
                "elements": _ELEMENT_ORDER,
                "sense": {"CURR"},
                "concurrent": True,
                "arm_count": 1,
                "format": "ASC",
                "border": "NORM",
                "ovp_setting": "NONE",
            },
        )

    def __init__(self, load: object, **kwargs: object) -> None:
        self._init_trace()
        super().__init__(load, **kwargs)
        self._last: list[Point] = []

    def on_reset(self) -> None:
        self._last = []
        self._init_trace()

    interlock_enabled = False

    def _beep(self, args: list[str]) -> None:
        """``:SYSTem:BEEPer[:IMMediate] <frequency>, <time>``: 65 Hz to 2 MHz, 0 to 7.9 s
        (2400 manual section 18, :SYSTem:BEEPer); nothing to model but the time it sounds."""
        if len(args) != 2:
            raise ScpiError(-109 if len(args) < 2 else -108)
        number(args[0], 65.0, 2e6)
        self.clock.advance(number(args[1], 0.0, 7.9))

    def _set_interlock(self, args: list[str]) -> None:
        """``:OUTPut:INTerlock:STATe``: with the interlock enabled the source cannot stay on
        while the interlock line is open (2400 manual section 18, "Interlock control")."""
        self.interlock_enabled = boolean(one(args))

    OVER_TEMPERATURE_BLOCK = (810, "OUTPUT blocked by Over Temp")
    """2400 User's Manual, Table B-1 (+810); the interlock's is +802 (same table)."""

    def output_block(self) -> tuple[int, str] | None:
        """Over temperature (+810), or the interlock enabled and open (+802 "OUTPUT blocked
        by output enable": with the interlock enabled the source cannot be turned on
        unless the interlock line is closed, manual section 18 "Interlock control")."""
        if self.interlock_enabled and not self.interlock_closed:
            return (802, "OUTPUT blocked by output enable")
        return super().output_block()

    def on_interlock_open(self) -> None:
        if self.interlock_enabled:
            for ch in self.channels.values():
                if ch.state.output:
                    ch.state.output = False
                    ch.record()

    def _set_source_delay(self, args: list[str]) -> None:
        """``:SOURce:DELay <n>``: a delay value turns the automatic delay off (manual 18)."""
        self.st.source_delay = number(one(args), 0.0, 999.9999, 0.0)
        self.st.source_delay_auto = False

    def select_channel(self, tokens: list[str]) -> list[str]:
        """SOURce2/SENSe2/OUTPut2 are not source-measure nodes: fail the lookup."""
        for t in tokens:
            stem = t.rstrip("0123456789")
            if stem in _SUFFIXED and t[len(stem) :] not in ("", "1"):
                return ["?"]
        return tokens

    def build_commands(self) -> CommandTable:
        c = cmd
        S = self.stored  # noqa: N806
        return [
            *self.status_rows(),
            *self.trace_rows(),
            c(":SYSTem:ERRor[:NEXT]", query=self.query_error),
            c(":SYSTem:VERSion", query=lambda a: noargs(a, "1999.0")),
            c(":SYSTem:KEY", write=lambda a: number(one(a), 1, 31) and None),
            c(":SYSTem:ERRor:ALL", query=self.query_error_all),
            c(":SYSTem:ERRor:COUNt", query=lambda a: noargs(a, str(len(self._errors)))),
            c(":SYSTem:PRESet", write=self._preset),
            c(":SYSTem:LFRequency", write=self._set_lfreq, query=lambda a: noargs(a, f"{self.line_frequency:g}")),
            c(":SYSTem:TIME:RESet", write=self._reset_time),
            c(":SYSTem:TIME", query=lambda a: noargs(a, fmt(self.timestamp()))),
            self.state_row(":SYSTem:AZERo[:STATe]", "autozero", lambda a: as_bool_or_once(a) != "0", lambda v: fmt_bool(bool(v))),
            self.bool_row(":SYSTem:RSENse", "remote_sense"),
            S(":SYSTem:BEEPer:STATe", "beeper", "1", as_bool),
            c(":SYSTem:BEEPer[:IMMediate]", write=self._beep),
            c(":OUTPut[:STATe]", write=self.set_output, query=lambda a: noargs(a, fmt_bool(self.st.output))),
            S(":OUTPut:SMODe", "smode", "NORM", as_choice("HIMPedance", "NORMal", "ZERO", "GUARd")),
            c(":OUTPut:INTerlock:STATe", write=self._set_interlock, query=lambda a: noargs(a, fmt_bool(self.interlock_enabled))),
            c(":OUTPut:INTerlock:TRIPped", query=lambda a: noargs(a, fmt_bool(self.interlock_closed))),
            c("[:SOURce]:FUNCtion[:MODE]", write=self.set_function, query=lambda a: noargs(a, self.st.source_function)),
            c("[:SOURce]:VOLTage[:LEVel][:IMMediate][:AMPLitude]", write=self._set_level, query=lambda a: noargs(a, fmt(self.st.level_v))),
            c("[:SOURce]:VOLTage:MODE", write=self.set_source_mode, query=lambda a: noargs(a, self.st.mode)),
            c("[:SOURce]:VOLTage:RANGe[:UPPer]", write=self._set_v_range, query=lambda a: noargs(a, fmt(self.st.v_range))),
            c("[:SOURce]:VOLTage:RANGe:AUTO", write=self.set_flag("v_range_auto"), query=self.get_flag("v_range_auto")),
            c("[:SOURce]:VOLTage:PROTection[:LEVel]", write=self._set_ovp, query=lambda a: noargs(a, self.st.extra["ovp_setting"])),
            c("[:SOURce]:CURRent[:LEVel][:IMMediate][:AMPLitude]", write=self._set_current_level, query=lambda a: noargs(a, fmt(self.st.level_i))),
            c("[:SOURce]:CURRent:MODE", write=self.set_source_mode, query=lambda a: noargs(a, self.st.mode)),
            c("[:SOURce]:CURRent:RANGe[:UPPer]", write=self._set_i_src_range, query=lambda a: noargs(a, fmt(self.st.i_src_range))),
            c("[:SOURce]:CURRent:RANGe:AUTO", write=self.set_flag("i_src_range_auto"), query=self.get_flag("i_src_range_auto")),
            c("[:SOURce]:LIST:VOLTage", write=self.set_list, query=self._get_list),
            c("[:SOURce]:LIST:VOLTage:APPend", write=self.append_list),
            c("[:SOURce]:LIST:VOLTage:POINts", query=lambda a: noargs(a, str(len(self.st.sweep)))),
            c("[:SOURce]:CLEar[:IMMediate]", write=self._clear_output),
            self.bool_row("[:SOURce]:CLEar:AUTO", "auto_off"),
            c("[:SOURce]:DELay", write=self._set_source_delay, query=lambda a: noargs(a, fmt(self.st.source_delay))),
            self.bool_row("[:SOURce]:DELay:AUTO", "source_delay_auto"),
            c("[:SENSe]:FUNCtion[:ON]", write=self._set_sense, query=self._get_sense),
            c("[:SENSe]:FUNCtion[:ON]:ALL", write=self._sense_all),
            c("[:SENSe]:FUNCtion:OFF:ALL", write=self._sense_none),
            c("[:SENSe]:FUNCtion:CONCurrent", write=self.set_extra_flag("concurrent"), query=self.get_extra_flag("concurrent")),
            c("[:SENSe]:CURRent[:DC]:PROTection[:LEVel]", write=self._set_compliance, query=lambda a: noargs(a, fmt(self.st.limit_i))),
            c("[:SENSe]:CURRent[:DC]:PROTection:TRIPped", query=lambda a: noargs(a, fmt_bool(bool(self._last) and self._last[-1].compliance))),
            c("[:SENSe]:CURRent[:DC]:RANGe[:UPPer]", write=self._set_i_range, query=lambda a: noargs(a, fmt(self.st.i_range))),
            c("[:SENSe]:CURRent[:DC]:RANGe:AUTO", write=self.set_flag("i_range_auto"), query=self.get_flag("i_range_auto")),
            c("[:SENSe]:CURRent[:DC]:NPLCycles", write=self._set_nplc, query=lambda a: noargs(a, fmt(self.st.nplc))),
            c("[:SENSe]:VOLTage[:DC]:NPLCycles", write=self._set_nplc, query=lambda a: noargs(a, fmt(self.st.nplc))),
            c("[:SENSe]:RESistance:NPLCycles", write=self._set_nplc, query=lambda a: noargs(a, fmt(self.st.nplc))),
            c("[:SENSe]:VOLTage[:DC]:PROTection[:LEVel]", write=self._set_vlimit, query=lambda a: noargs(a, fmt(self.st.limit_v))),
            S("[:SENSe]:VOLTage[:DC]:RANGe[:UPPer]", "vrange", fmt(21.0), as_number(-210.0, 210.0)),
            S("[:SENSe]:VOLTage[:DC]:RANGe:AUTO", "vrange_auto", "1", as_bool),
            S("[:SENSe]:RESistance:MODE", "res_mode", "MAN", as_choice("MANual", "AUTO")),
            self.bool_row("[:SENSe]:AVERage[:STATe]", "filter_on"),
            self.state_row("[:SENSe]:AVERage:COUNt", "filter_count", lambda a: round(number(a, 1, 100, 10)), lambda v: fmt(float(v))),
            self.state_row("[:SENSe]:AVERage:TCONtrol", "filter_type", lambda a: choice(a, ("REPeat", "MOVing")), str),
            c(":FORMat:ELEMents[:SENSe]", write=self._set_elements, query=lambda a: noargs(a, ",".join(self.st.extra["elements"]))),
            c(":FORMat[:DATA]", write=self._set_format, query=self._get_format),
            c(":FORMat:BORDer", write=self._set_border, query=lambda a: noargs(a, self.st.extra["border"])),
            self.state_row(":ROUTe:TERMinals", "terminals", lambda a: choice(a, ("FRONt", "REAR")), str),
            c(":TRIGger:COUNt", write=self._set_trigger_count, query=lambda a: noargs(a, str(self.st.trigger_count))),
            c(":ARM:COUNt", write=self._set_arm_count, query=lambda a: noargs(a, str(self.st.extra["arm_count"]))),
            self.state_row(":TRIGger:DELay", "trigger_delay", lambda a: number(a, 0.0, 999.9999, 0.0), fmt),
            S(":TRIGger:SOURce", "trigger_source", "IMM", as_choice("IMMediate", "TLINk")),
            S(":ARM:SOURce", "arm_source", "IMM", as_choice("IMMediate", "TIMer", "BUS", "MANual")),
            c(":TRIGger:CLEar", write=self.noop),
            c(":ABORt", write=self.noop),
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

    # ------------------------------------------------------------------ system

    def _preset(self, args: list[str]) -> None:
        """``:SYSTem:PRESet``: as *RST but the binary byte order becomes SWAPped (2400 manual,
        Table 18-3 note: "*RST default is NORMal. :SYSTem:PRESet default is SWAPped")."""
        self.cmd_reset(args)
        self.st.extra["border"] = "SWAP"

    def _set_lfreq(self, args: list[str]) -> None:
        value = number(one(args), 50.0, 60.0, 60.0)
        if value not in (50.0, 60.0):
            raise ScpiError(-222)
        self.line_frequency = value

    def _reset_time(self, args: list[str]) -> None:
        count(args, 0)
        self._time_zero = self.clock.now

    # ------------------------------------------------------------------ output and source

    def _clear_output(self, args: list[str]) -> None:
        count(args, 0)
        self.st.output = False
        self.ch.record()

    def _set_level(self, args: list[str]) -> None:
        if not self.ch.program_level("VOLT", self.checked_voltage(one(args)), _V_RANGES, 1.05):
            raise ScpiError(-222)

    def _set_current_level(self, args: list[str]) -> None:
        value = number(one(args), -1.05, 1.05, 0.0)
        if not self.ch.program_level("CURR", value, _I_RANGES, 1.05):
            raise ScpiError(-222)

    def _set_v_range(self, args: list[str]) -> None:
        value = number(one(args), -self.VOLTAGE_LIMIT, self.VOLTAGE_LIMIT, 20.0)
        self.st.v_range = range_for(value, _V_RANGES)
        self.st.v_range_auto = False

    def _set_i_src_range(self, args: list[str]) -> None:
        self.st.i_src_range = range_for(number(one(args), -1.05, 1.05, 1e-4), _I_RANGES)
        self.st.i_src_range_auto = False

    def _set_ovp(self, args: list[str]) -> None:
        arg = one(args)
        if arg.strip().upper() == "NONE":
            self.st.ovp, self.st.extra["ovp_setting"] = self.VOLTAGE_LIMIT, "NONE"
            return
        value = abs(number(arg, -self.VOLTAGE_LIMIT, self.VOLTAGE_LIMIT, self.VOLTAGE_LIMIT))
        step = next((s for s in _OVP_STEPS if value <= s), None)  # rounds up to the next step
        if step is None:
            self.st.ovp, self.st.extra["ovp_setting"] = self.VOLTAGE_LIMIT, "NONE"
        else:
            self.st.ovp, self.st.extra["ovp_setting"] = step, f"{step:g}"

    def _get_list(self, args: list[str]) -> str:
        count(args, 0)
        if not self.st.sweep:
            raise ScpiError(-230)
        return ",".join(fmt(v) for v in self.st.sweep)

    # ------------------------------------------------------------------ sense

    def _sense_names(self, args: list[str]) -> list[str]:
        if not args:
            raise ScpiError(-109)
        names = []
        for arg in args:
            name = unquote(arg).upper().split(":")[0]
            names.append(choice(name, ("VOLTage", "CURRent", "RESistance")))
        return names

    def _set_sense(self, args: list[str]) -> None:
        names = self._sense_names(args)
        extra = self.st.extra
        if extra["concurrent"]:
            extra["sense"] = extra["sense"] | set(names)
        else:
            if len(names) > 1:
                raise ScpiError(-108)
            extra["sense"] = set(names)

    def _get_sense(self, args: list[str]) -> str:
        count(args, 0)
        sense = self.st.extra["sense"]
        names = [f'"{_SENSE_NAMES[n]}"' for n in ("VOLT", "CURR", "RES") if n in sense]
        return ",".join(names) if names else '""'

    def _sense_all(self, args: list[str]) -> None:
        count(args, 0)
        self.st.extra["sense"] = {"VOLT", "CURR", "RES"}

    def _sense_none(self, args: list[str]) -> None:
        count(args, 0)
        self.st.extra["sense"] = set()

    def _set_compliance(self, args: list[str]) -> None:
        value = number(one(args), -1.05, 1.05, 105e-6)
        if abs(value) < 1e-9:
            raise ScpiError(-222)
        self.st.limit_i = abs(value)

    def _set_vlimit(self, args: list[str]) -> None:
        self.st.limit_v = abs(number(one(args), -210.0, 210.0, 21.0))

    def _set_i_range(self, args: list[str]) -> None:
        self.st.i_range = range_for(number(one(args), -1.05, 1.05, 1e-4), _I_RANGES)
        self.st.i_range_auto = False

    def _set_nplc(self, args: list[str]) -> None:
        self.st.nplc = number(one(args), 0.01, 10.0, 1.0)

    # ------------------------------------------------------------------ format and trigger

    def _set_elements(self, args: list[str]) -> None:
        if not args:
            raise ScpiError(-109)
        chosen = {choice(a, _ELEMENTS) for a in args}
        self.st.extra["elements"] = tuple(e for e in _ELEMENT_ORDER if e in chosen)

    def _set_format(self, args: list[str]) -> None:
        if not args or len(args) > 2:
            raise ScpiError(-109 if not args else -108)
        kind = choice(args[0], ("ASCii", "REAL", "SREal"))
        if kind == "REAL" and (len(args) != 2 or number(args[1], 1, 64) != 32):
            raise ScpiError(-224 if len(args) == 2 else -109)
        if kind != "REAL" and len(args) == 2:
            raise ScpiError(-108)
        self.st.extra["format"] = kind

    def _get_format(self, args: list[str]) -> str:
        kind = self.st.extra["format"]
        return noargs(args, "REAL,32" if kind == "REAL" else kind)

    def _set_border(self, args: list[str]) -> None:
        self.st.extra["border"] = choice(one(args), ("NORMal", "SWAPped"))

    def _set_trigger_count(self, args: list[str]) -> None:
        self.st.trigger_count = round(number(one(args), 1, self.MAX_POINTS, 1))

    def _set_arm_count(self, args: list[str]) -> None:
        self.st.extra["arm_count"] = round(number(one(args), 1, self.MAX_POINTS, 1))

    # ------------------------------------------------------------------ measurement

    def _cmd_init(self, args: list[str]) -> None:
        """``:INITiate`` (and the measuring half of ``:READ?``/``:MEASure?``).

        2400 manual, section 17 ``:READ?``: with auto output-off disabled (``:SOUR:CLE:AUTO
        OFF``, the *RST state) "the output must be turned on before you can perform a :READ?";
        with it enabled the output turns on at the start of each source-delay-measure cycle and
        off after the measurement. Refused here with +803 "Not permitted with OUTPUT off"
        (Table B-1): nothing is measured and a query gets no reply.
        """
        count(args, 0)
        st = self.st
        points = st.trigger_count * st.extra["arm_count"]
        if points > self.MAX_POINTS or (st.mode == "LIST" and not st.sweep):
            raise ScpiError(-221)
        if st.mode == "LIST" and st.source_function != "VOLT":
            raise ScpiError(-221)
        auto_off = st.auto_off
        if not st.output and not auto_off:
            raise ScpiError(*NOT_WITH_OUTPUT_OFF)
        saved = st.trigger_count
        st.trigger_count = points
        try:
            if auto_off:  # the source turns on for the source-measure cycles, off after
                self.refuse_blocked_output()
                st.output = True
                self.ch.record()
            self._last = self.ch.run()
            self.feed_trace(self._last)
        finally:
            st.trigger_count = saved
            if auto_off:
                st.output = False
                self.ch.record()

    def _query_fetch(self, args: list[str]) -> str:
        count(args, 0)
        if not self._last:
            raise ScpiError(-230)
        return self._format(self._last)

    def _query_read(self, args: list[str]) -> str:
        self._cmd_init(args)
        return self._format(self._last)

    def _values(self, point: Point) -> dict[str, float]:
        st = self.st
        status = STATUS_FRONT if st.terminals == "FRON" else 0
        current = point.current
        if point.overflow:
            current, status = OVERFLOW, status | STATUS_OFLO
        if point.compliance:
            status |= STATUS_COMPLIANCE
        if point.range_compliance:
            status |= STATUS_RANGE_COMPLIANCE
        sense = st.extra["sense"]
        resistance = NOT_MEASURED
        if "RES" in sense and not point.overflow and current != 0.0:
            resistance = point.voltage / current
        if "CURR" not in sense and not point.overflow:
            current = NOT_MEASURED
        return {
            "VOLT": point.voltage,
            "CURR": current,
            "RES": resistance,
            "TIME": point.time,
            "STAT": float(status),
        }

    def _format(self, points: Sequence[Point]) -> str:
        elements = self.st.extra["elements"]
        values = [v for p in points for v in (self._values(p)[e] for e in elements)]
        kind = self.st.extra["format"]
        if kind == "ASC":
            return ",".join(fmt(v) for v in values)
        order = ">" if self.st.extra["border"] == "NORM" else "<"
        data = b"".join(
            struct.pack(order + "f", v if math.isfinite(v) else OVERFLOW) for v in values
        )
        return "#0" + data.decode("latin-1")


#: The name the rest of the project has used for the virtual 2400.
VirtualSMU = Keithley2400
