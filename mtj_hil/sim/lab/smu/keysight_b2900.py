"""The virtual Keysight B2902A Precision Source/Measure Unit (SCPI with channel suffixes).

Per the *Keysight B2900 SCPI Command Reference*: subsystems with a channel suffix
``:SOURce[c]``, ``:SENSe[c]``, ``:OUTPut[c]``, ``:TRIGger[c]`` (``c`` = 1 or 2, none = 1) and
measurement commands with a channel list ``(@1)``, ``(@2)`` or ``(@1,2)``: ``:MEASure[:<f>]?`` (CURRent, VOLTage, RESistance),
``:INITiate[:IMMediate][:ALL|ACQuire|TRANsient]``, ``:FETCh:ARRay[:<f>]?``, ``:READ:ARRay?``.
Source ``:FUNCtion:MODE VOLT|CURR``, levels, ``:VOLTage:MODE FIXed|LIST``, ``:LIST:VOLTage``
(up to 2500 points), source ranges; sense ``:CURRent:PROTection`` (current compliance),
``:VOLTage:PROTection`` (voltage compliance), ``...:PROTection:TRIPped?``, ``:RANGe[:AUTO]``,
``:NPLCycles``; ``:OUTPut:PROTection`` (output off when compliance is reached);
``:OUTPut:ON:AUTO`` (default on: a measurement or ``:INIT`` switches the output on);
``:FORMat:ELEMents:SENSe`` (VOLT, CURR, RES, TIME, STAT, SOUR; sent in that order);
``:TRIGger[c]<:ACQuire|:TRANsient|[:ALL]>:COUNt`` (the ALL form sets both actions and has no
query form: ``:TRIG:ALL:COUN?`` is refused with -113, as peer drivers that treat it as
write-only report; query ``:TRIG:ACQ:COUN?``); ``:SYSTem:ERRor[:NEXT]?`` (``+0,"No error"``
when empty).

ARM layer (same reference, ARM subsystem; the User's Guide "Trigger System": an INIT passes the
arm layer ``arm count`` times and each pass runs the trigger layer ``trigger count`` times, so
one acquisition yields arm count x trigger count points), per channel and per action, the
``[:ALL]`` node setting both actions and having no query form (-113, as for ``:TRIG``):
``:ARM[c]<:ACQuire|:TRANsient|[:ALL]>:COUNt`` 1..100000 or ``INFinity`` (= 2147483647), *RST 1;
an INIT whose arm x trigger count exceeds 100000 points (so any infinite count) is refused here
with -221: the model cannot run forever;
``...:DELay`` 0..100000 s, *RST 0 (stored, no time modelled); ``...:SOURce``
AINT|BUS|TIMer|INT1|INT2|LAN|TIN|EXT1..EXT14, *RST AINT (stored; every source behaves as
immediate); ``...:BYPass OFF|ONCE``, *RST OFF (stored); ``...[:IMMediate]`` (the immediate arm
event, no query; a no-op since the arm event is always immediate here). Not modelled:
``...:TIMer``, ``...:TOUTput``, ``...:SOURce:LAN``.

Status word: bit 1 (2) current compliance, bit 2 (4) voltage compliance, bit 13 range
overflow. *RST (SCPI Command Reference, SENSe subsystem "default" entries): voltage source at
0 V, 100 uA current compliance, 2 V voltage compliance (``:SENS:<CURR|VOLT>:PROT``, "default is
100 uA or 2 V"), auto ranges, 0.1 PLC (``:SENS:<f>:APERture``/``:NPLCycles``, "default is
0.1 PLC"), all six elements, output off. ``:NPLCycles`` takes 4E-4..100 at 50 Hz or 4.8E-4..120
at 60 Hz; a value outside is set to MIN or MAX, not refused (same entry).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from mtj_hil.sim.lab.smu.core import ChannelDefaults, Point, SmuChannel
from mtj_hil.sim.lab.smu.keysight_b2900_layers import (
    _ARM_ACTIONS,
    _ARM_SETTINGS,
    B2900Layers,
)
from mtj_hil.sim.lab.smu.scpi import (
    CommandTable,
    ScpiError,
    as_bool,
    as_choice,
    choice,
    cmd,
    count,
    fmt,
    fmt_bool,
    noargs,
    number,
    one,
)
from mtj_hil.sim.lab.smu.scpi_handlers import ScpiSmu

__all__ = ["KeysightB2900"]

OVERFLOW = 9.9e37
NOT_MEASURED = 9.91e37
STATUS_I_COMPLIANCE = 1 << 1
STATUS_V_COMPLIANCE = 1 << 2
STATUS_OVERFLOW = 1 << 13
_ELEMENT_NAMES = ("VOLTage", "CURRent", "RESistance", "TIME", "STATus", "SOURce")
_ORDER = ("VOLT", "CURR", "RES", "TIME", "STAT", "SOUR")
_V_RANGES = (0.2, 2.0, 20.0, 200.0)
#: B2901A/B2902A DC current ranges (User's Guide table 2-5; 10 nA is B2911A/B2912A only).
_I_RANGES = (1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 1.5, 3.0)
_SUFFIXED = {
    "SOUR",
    "SOURCE",
    "SENS",
    "SENSE",
    "OUTP",
    "OUTPUT",
    "TRIG",
    "TRIGGER",
    "ARM",
    "TRAC",
    "TRACE",
}
_CHANLIST = re.compile(r"^\(@\s*([12])(?:\s*[,:]\s*([12]))?\s*\)$")


class KeysightB2900(B2900Layers, ScpiSmu):
    """Virtual Keysight B2902A (two channels ``"1"``, ``"2"``); see the module docstring."""

    CHANNELS = ("1", "2")
    VOLTAGE_LIMIT = 210.0
    MAX_POINTS = 2500
    #: points one acquisition may produce in the model (the B2900 result buffer holds 100000
    #: data per channel); more, or an infinite count, is refused with -221
    MAX_RESULTS = 100000
    NO_ERROR = '+0,"No error"'
    DEFAULT_IDN = "Keysight Technologies,B2902A,MY51140123,3.4.2011.5100 (virtual)"
    OUTPUT_ON = (":OUTP1 ON",)
    START_LINES = {
        "current-source": (":SOUR1:FUNC:MODE CURR", ":SOUR1:CURR 1E-3", ":SENS1:VOLT:PROT 20"),
        "fixed-low-range": (":SENS1:CURR:RANG 1E-6", ":SOUR1:VOLT:RANG 0.2"),
        "output-on": (":SOUR1:VOLT 0.5",),
        "odd-format": (":FORM:ELEM:SENS TIME,VOLT",),
        "remote-sense": (":SENS1:REM ON",),
        "short-integration": (":SENS1:CURR:NPLC 0.01",),
        "trigger-delay": (":TRIG1:ACQ:DEL 0.2",),
        "auto-output-off": (":OUTP1:OFF:AUTO ON",),
        "arm-count": (":ARM1:ACQ:COUN 3",),
        "other-channel-live": (":SOUR2:VOLT 5", ":OUTP2 ON"),
        "other-channel-current": (":SOUR2:FUNC:MODE CURR", ":SOUR2:CURR 1E-3", ":OUTP2 ON"),
        "floating-lo": (":OUTP1:LOW FLO",),
        "pulse-shape": (":SOUR1:FUNC:SHAP PULS",),
        "compliance-high": (":SENS1:CURR:PROT 1",),
        "vlimit-high": (":SENS1:VOLT:PROT 20",),
    }
    V_RANGES = _V_RANGES
    PROTECTION = ("limit_v", None)

    def __init__(self, load: object, **kwargs: object) -> None:
        super().__init__(load, **kwargs)
        self._last: dict[str, list[Point]] = {}
        self.elements: tuple[str, ...] = _ORDER

    def channel_defaults(self, name: str) -> ChannelDefaults:
        """*RST state of one channel."""
        return ChannelDefaults(
            limit_i=1e-4,
            limit_v=2.0,
            nplc=0.1,
            ovp=self.VOLTAGE_LIMIT,
            v_range=0.2,
            i_range=1e-4,
            extra={
                "auto_on": True,
                "protection": False,
                **{f"arm_count_{a}": 1 for a in _ARM_ACTIONS},
                **{f"arm_{k}_{a}": v for _, k, v, _ in _ARM_SETTINGS for a in _ARM_ACTIONS},
                **{f"trig_{k}_{a}": v for _, k, v, _ in _ARM_SETTINGS[:2] for a in _ARM_ACTIONS},
            },
        )

    def on_reset(self) -> None:
        self._last = {}
        self.elements = _ORDER

    def select_channel(self, tokens: list[str]) -> list[str]:
        """A digit on the first node picks the channel (1 or 2); it is then matched without."""
        self.ch = self.channels["1"]
        if not tokens:
            return tokens
        first = tokens[0]
        stem = first.rstrip("0123456789")
        digits = first[len(stem) :]
        if not digits:
            return tokens
        if stem not in _SUFFIXED or digits not in self.CHANNELS:
            return ["?"]
        self.ch = self.channels[digits]
        return [stem, *tokens[1:]]

    def _channels_in(self, args: list[str]) -> list[SmuChannel]:
        """The channel list parameter ``(@1)``, ``(@1,2)``; none = channel 1."""
        if not args:
            return [self.channels["1"]]
        text = ",".join(args).replace(" ", "")
        m = _CHANLIST.match(text)
        if m is None:
            raise ScpiError(-224)
        names = [m.group(1)] + ([m.group(2)] if m.group(2) else [])
        return [self.channels[n] for n in names]

    def build_commands(self) -> CommandTable:
        c = cmd
        S = self.stored  # noqa: N806
        return [
            *self.status_rows(),
            *self._trace_rows(),
            c(":SYSTem:VERSion", query=lambda a: noargs(a, "1999.0")),
            S(":SYSTem:BEEPer:STATe", "beeper", "1", as_bool),
            S(":DISPlay:ENABle", "display", "1", as_bool),
            S(":DISPlay[:WINDow]:TEXT:DATA", "display_text", '""', lambda a: a.strip()),
            c(":SYSTem:ERRor[:NEXT]", query=self.query_error),
            c(":SYSTem:ERRor:ALL", query=self.query_error_all),
            c(":SYSTem:ERRor:COUNt", query=lambda a: noargs(a, str(len(self._errors)))),
            c(":SYSTem:LFRequency", query=lambda a: noargs(a, f"{self.line_frequency:g}")),
            c(":OUTPut[:STATe]", write=self.set_output, query=lambda a: noargs(a, fmt_bool(self.st.output))),
            c(":OUTPut:ON:AUTO", write=self.set_extra_flag("auto_on"), query=self.get_extra_flag("auto_on")),
            c(":OUTPut:PROTection[:STATe]", write=self.set_extra_flag("protection"), query=self.get_extra_flag("protection")),
            S(":OUTPut:OFF:MODE", "off_mode", "ZERO", as_choice("ZERO", "HIZ", "NORMal")),
            S(":OUTPut:LOW", "low", "GRO", as_choice("GROund", "FLOat")),
            self.bool_row(":OUTPut:OFF:AUTO", "auto_off"),
            S(":SOURce:FUNCtion:SHAPe", "shape", "DC", as_choice("DC", "PULSe")),
            c(":SOURce:FUNCtion:MODE", write=self.set_function, query=lambda a: noargs(a, self.st.source_function)),
            c(":SOURce:VOLTage[:LEVel][:IMMediate][:AMPLitude]", write=self._set_level, query=lambda a: noargs(a, fmt(self.st.level_v))),
            c(":SOURce:CURRent[:LEVel][:IMMediate][:AMPLitude]", write=self._set_current, query=lambda a: noargs(a, fmt(self.st.level_i))),
            c(":SOURce:VOLTage:MODE", write=self.set_source_mode, query=lambda a: noargs(a, self.st.mode)),
            c(":SOURce:VOLTage:RANGe", write=self.set_range("v_range", _V_RANGES, _V_RANGES[-1]), query=lambda a: noargs(a, fmt(self.st.v_range))),
            c(":SOURce:VOLTage:RANGe:AUTO", write=self.set_flag("v_range_auto"), query=self.get_flag("v_range_auto")),
            c(":SOURce:CURRent:RANGe", write=self.set_range("i_src_range", _I_RANGES, _I_RANGES[-1]), query=lambda a: noargs(a, fmt(self.st.i_src_range))),
            c(":SOURce:CURRent:RANGe:AUTO", write=self.set_flag("i_src_range_auto"), query=self.get_flag("i_src_range_auto")),
            c(":SOURce:LIST:VOLTage", write=self._set_list, query=self._get_list),
            c(":SOURce:LIST:VOLTage:POINts", query=lambda a: noargs(a, str(len(self.st.sweep)))),
            c(":SENSe:CURRent[:DC]:PROTection[:LEVel]", write=self._set_ilimit, query=lambda a: noargs(a, fmt(self.st.limit_i))),
            c(":SENSe:CURRent[:DC]:PROTection:TRIPped", query=lambda a: noargs(a, fmt_bool(self._tripped()))),
            c(":SENSe:VOLTage[:DC]:PROTection[:LEVel]", write=self._set_vlimit, query=lambda a: noargs(a, fmt(self.st.limit_v))),
            c(":SENSe:VOLTage[:DC]:PROTection:TRIPped", query=lambda a: noargs(a, fmt_bool(self._tripped()))),
            c(":SENSe:CURRent[:DC]:RANGe[:UPPer]", write=self.set_range("i_range", _I_RANGES, _I_RANGES[-1]), query=lambda a: noargs(a, fmt(self.st.i_range))),
            c(":SENSe:CURRent[:DC]:RANGe:AUTO", write=self.set_flag("i_range_auto"), query=self.get_flag("i_range_auto")),
            c(":SENSe:CURRent[:DC]:NPLCycles", write=self._set_nplc, query=lambda a: noargs(a, fmt(self.st.nplc))),
            c(":SENSe:VOLTage[:DC]:NPLCycles", write=self._set_nplc, query=lambda a: noargs(a, fmt(self.st.nplc))),
            S(":SENSe:FUNCtion[:ON]", "sense", '"CURR","VOLT"', lambda a: a),
            self.bool_row(":SENSe:REMote", "remote_sense"),
            c(":FORMat:ELEMents:SENSe", write=self._set_elements, query=lambda a: noargs(a, ",".join(self.elements))),
            S(":FORMat[:DATA]", "format", "ASC", as_choice("ASCii")),
            c(":TRIGger[:ALL]:COUNt", write=self._set_count),  # write-only: query ACQ or TRAN
            c(":TRIGger:ACQuire:COUNt", write=self._set_count, query=lambda a: noargs(a, str(self.st.trigger_count))),
            c(":TRIGger:TRANsient:COUNt", write=self._set_count, query=lambda a: noargs(a, str(self.st.trigger_count))),
            *self._arm_commands(),
            *self._trigger_commands(),
            c(":ABORt[:ALL]", write=lambda a: None),
            c(":INITiate[:IMMediate][:ALL]", write=self._init),
            c(":INITiate[:IMMediate]:ACQuire", write=self._init),
            c(":INITiate[:IMMediate]:TRANsient", write=self._init),
            c(":MEASure", query=self._measure(None)),
            c(":MEASure:CURRent[:DC]", query=self._measure("CURR")),
            c(":MEASure:VOLTage[:DC]", query=self._measure("VOLT")),
            c(":MEASure:RESistance", query=self._measure("RES")),
            c(":READ[:SCALar]", query=self._measure(None)),
            c(":READ:ARRay", query=self._read_array),
            c(":FETCh:ARRay", query=self._fetch(None)),
            c(":FETCh:ARRay:CURRent", query=self._fetch("CURR")),
            c(":FETCh:ARRay:VOLTage", query=self._fetch("VOLT")),
            c(":FETCh[:SCALar]", query=self._fetch(None, last_only=True)),
        ]  # fmt: skip

    # ------------------------------------------------------------------ settings

    def condition(self, register: str) -> int:
        return self._questionable() if register == "QUES" else 0

    def _questionable(self) -> int:
        """``:STAT:QUES:COND?`` (table 4-4): bit 4 over temperature, bits 2/3 output
        protection of channel 1/2."""
        word = 16 if self.over_temperature else 0
        for k, name in enumerate(self.CHANNELS):
            if self.channels[name].state.extra.get("protection_tripped"):
                word |= 4 << k
        return word

    def extra_conditions(self, channel: SmuChannel) -> dict[str, object]:
        ex = channel.state.extra
        return {
            "lo": ex.get("low", "GRO"),
            "shape": ex.get("shape", "DC"),
            "auto_on": ex["auto_on"],
            "protection": ex["protection"],
        }

    def _set_level(self, args: list[str]) -> None:
        if not self.ch.program_level("VOLT", self.checked_voltage(one(args)), _V_RANGES, 1.05):
            raise ScpiError(-222)

    def _set_current(self, args: list[str]) -> None:
        value = number(one(args), -3.03, 3.03, 0.0)
        if not self.ch.program_level("CURR", value, _I_RANGES, 1.05):
            raise ScpiError(-222)

    def _set_list(self, args: list[str]) -> None:
        if not args:
            raise ScpiError(-109)
        if len(args) > self.MAX_POINTS:
            raise ScpiError(-223)
        self.st.sweep = [self.checked_voltage(a) for a in args]

    def _get_list(self, args: list[str]) -> str:
        count(args, 0)
        return ",".join(fmt(v) for v in self.st.sweep) if self.st.sweep else fmt(0.0)

    def _set_ilimit(self, args: list[str]) -> None:
        self.st.limit_i = abs(number(one(args), -3.03, 3.03, 1e-4)) or self._too_small()

    @staticmethod
    def _too_small() -> float:
        raise ScpiError(-222)

    def _set_vlimit(self, args: list[str]) -> None:
        self.st.limit_v = abs(number(one(args), -210.0, 210.0, 2.0)) or self._too_small()

    def _set_nplc(self, args: list[str]) -> None:
        """``:SENS:<f>:NPLC``: 4E-4..100 PLC at 50 Hz, 4.8E-4..120 at 60 Hz, clamped (manual)."""
        lo, hi = (4e-4, 100.0) if self.line_frequency == 50 else (4.8e-4, 120.0)
        self.st.nplc = min(hi, max(lo, number(one(args), -math.inf, math.inf, 0.1)))

    def _set_count(self, args: list[str]) -> None:
        self.st.trigger_count = round(number(one(args), 1, 100000, 1))

    def _set_elements(self, args: list[str]) -> None:
        if not args:
            raise ScpiError(-109)
        chosen = {choice(a, _ELEMENT_NAMES) for a in args}
        self.elements = tuple(e for e in _ORDER if e in chosen)

    def _tripped(self) -> bool:
        last = self._last.get(self.ch.name)
        return bool(last) and last[-1].compliance  # type: ignore[index]

    # ------------------------------------------------------------------ measurement

    def _auto_on(self, ch: SmuChannel) -> None:
        if ch.state.extra["auto_on"] and not ch.state.output:
            self.refuse_blocked_output()
            ch.state.output = True
            ch.record()

    def _acquire(self, ch: SmuChannel, points: int | None) -> list[Point]:
        st = ch.state
        if st.mode == "LIST" and not st.sweep:
            raise ScpiError(-221)
        if points is None:
            points = st.trigger_count * st.extra["arm_count_acq"]
            if points > self.MAX_RESULTS:
                raise ScpiError(-221, "Settings conflict; more points than the model buffers")
        self._auto_on(ch)
        saved = st.trigger_count
        st.trigger_count = points
        try:
            result = ch.run()
        finally:
            st.trigger_count = saved
        if st.extra["protection"] and any(p.compliance for p in result):
            st.output = False  # output protection: off at compliance
            st.extra["protection_tripped"] = True
            ch.record()
        elif st.auto_off and st.output:
            st.output = False  # :OUTP:OFF:AUTO ON: off after the measurement
            ch.record()
        self._last[ch.name] = result
        self._feed(ch, result)
        return result

    def _measure(self, only: str | None) -> Callable[[list[str]], str]:
        def query(args: list[str]) -> str:
            replies = [
                self._format(self._acquire(ch, 1), ch, only) for ch in self._channels_in(args)
            ]
            return ",".join(replies)

        return query

    def _read_array(self, args: list[str]) -> str:
        return ",".join(
            self._format(self._acquire(ch, None), ch, None) for ch in self._channels_in(args)
        )

    def _init(self, args: list[str]) -> None:
        for ch in self._channels_in(args):
            self._acquire(ch, None)

    def _fetch(self, only: str | None, last_only: bool = False) -> Callable[[list[str]], str]:
        def query(args: list[str]) -> str:
            replies = []
            for ch in self._channels_in(args):
                points = self._last.get(ch.name)
                if not points:
                    raise ScpiError(-230)
                replies.append(self._format(points[-1:] if last_only else points, ch, only))
            return ",".join(replies)

        return query

    def _format(self, points: list[Point], ch: SmuChannel, only: str | None) -> str:
        elements = (only,) if only else self.elements
        fields = []
        for k, p in enumerate(points):
            st = ch.state
            status = 0
            if p.compliance:
                status |= (
                    STATUS_I_COMPLIANCE if st.source_function == "VOLT" else STATUS_V_COMPLIANCE
                )
            # beyond a fixed range, too: the overflow number and status bit 13 (module docstring)
            current = OVERFLOW if p.beyond_range else p.current
            if p.beyond_range:
                status |= STATUS_OVERFLOW
            source = st.level_v if st.source_function == "VOLT" else st.level_i
            if st.mode == "LIST" and st.sweep:
                source = st.sweep[k % len(st.sweep)]
            values = {
                "VOLT": p.voltage,
                "CURR": current,
                "RES": p.voltage / current if current and not p.beyond_range else NOT_MEASURED,
                "TIME": p.time,
                "STAT": float(status),
                "SOUR": source,
            }
            fields.extend(fmt(values[e]) for e in elements)
        return ",".join(fields)
