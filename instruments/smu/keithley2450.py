"""Keithley 2450 Interactive SourceMeter in its native SCPI command set (not 2400 emulation).

Command sources: *Model 2450 Reference Manual* (2450-901-01), appendix B ``*LANG`` (command
set TSP / SCPI / SCPI2400, kept in nonvolatile memory, effective after a power cycle) and
section 6 "SCPI command reference": ``:SOURce:FUNCtion``, ``:SOURce:VOLTage``,
``:SOURce:VOLTage:RANGe`` (20 mV, 200 mV, 2 V, 20 V, 200 V; autorange off once a range is
set), ``:SOURce:VOLTage:PROTection`` (over-voltage protection PROT2, PROT5, PROT10, PROT20,
PROT40 ... PROT180, NONE), ``:SOURce:VOLTage:ILIMit``, ``:SENSe:FUNCtion``,
``:SENSe:CURRent:RANGe[:AUTO]``, ``:SENSe:CURRent:NPLCycles``, ``:SENSe:COUNt``,
``:FORMat:DATA``, ``:OUTPut``, ``:ABORt``, ``:MEASure:CURRent? <buffer>, <elements>``,
``:SOURce:LIST:VOLTage`` (up to 100 values), ``:SOURce:SWEep:VOLTage:LIST <startIndex>,
<delay>``, ``:INITiate``, ``*WAI``, ``:TRACe:CLEar``, ``:TRACe:DATA? <start>, <end>, <buffer>,
<elements>`` with the elements ``RELative`` (timestamp, s), ``STATus`` (measure status;
0x01 STAT_QUESTIONABLE: the reading is not trustworthy, e.g. clipped by a fixed range) and
``SOURSTATus`` (0x20 STAT_LIMIT: "source function level was limited", i.e. compliance),
``:SYSTem:ERRor?``. An overflow reading is ``9.9e37``, a missing one ``9.91e37``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from pymeasure.instruments import Instrument, SCPIMixin
from pymeasure.instruments.validators import strict_range

from mtj_hil.instruments.errors import InstrumentError
from mtj_hil.instruments.smu.base import (
    Reading,
    check_sweep,
    format_list,
    make_reading,
    output_state,
    parse_numbers,
    scpi_number,
    sent_number,
    status_word,
)
from mtj_hil.instruments.smu.known_state import (
    KnownState,
    Setting,
    SmuSettings,
    check_current_range,
    check_number,
    check_range,
    check_text,
    smallest_covering,
)
from mtj_hil.instruments.smu.lifecycle import checked_compliance, checked_level, refuse_dialect
from mtj_hil.instruments.smu.scpi_common import KeithleyScpiBasics

#: Source-status bit "source function was limited" (buffer.STAT_LIMIT).
SOURCE_STATUS_LIMIT = 1 << 5
#: Measure-status bit "measure status questionable" (buffer.STAT_QUESTIONABLE).
MEASURE_STATUS_QUESTIONABLE = 1 << 0

SOURCE_RANGES = (0.02, 0.2, 2.0, 20.0, 200.0)  #: V
OVP_LEVELS = (2, 5, 10, 20, 40, 60, 80, 100, 120, 140, 160, 180)  #: V
CURRENT_RANGES = (1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)  #: A

BUFFER = '"defbuffer1"'
ELEMENTS = "SOUR, READ, REL, STAT, SOURSTAT"
_PER_POINT = 5


class Keithley2450(KeithleyScpiBasics, SCPIMixin, Instrument):
    """Keithley 2450 SMU (voltage source, current measure) implementing ``SourceMeter``.

    The current limit is validated strictly: values outside 1 nA .. 1.05 A raise ValueError
    instead of being clipped.

    :param adapter: VISA resource name or pymeasure adapter.
    :param sleep: function used to wait between ramp steps (injectable for tests).
    """

    VOLTAGE_LIMIT = 210.0  #: |V| bound of the 2450 source, V
    MAX_SWEEP_POINTS = 100  #: :SOUR:LIST:VOLT takes up to 100 values
    foreign_dialect: str | None = None  #: set when *LANG? reported TSP / SCPI2400

    def __init__(
        self,
        adapter: object,
        name: str = "Keithley 2450 SourceMeter",
        sleep: Callable[[float], None] = time.sleep,
        **kwargs: object,
    ) -> None:
        super().__init__(adapter, name, **kwargs)
        self._sleep = sleep
        self._init_guard()

    source_voltage = checked_level(
        Instrument.control(
            ":SOUR:VOLT?",
            ":SOUR:VOLT %s",
            """Control the source voltage level in V (-210 to 210, and within the known
            state's bound once configured).""",
            validator=strict_range,
            values=[-VOLTAGE_LIMIT, VOLTAGE_LIMIT],
            set_process=scpi_number,
        )
    )

    compliance_current = checked_compliance(
        Instrument.control(
            ":SOUR:VOLT:ILIM?",
            ":SOUR:VOLT:ILIM %s",
            """Control the current limit of the voltage source in A (1 nA to 1.05 A, strict).""",
            validator=strict_range,
            values=[1e-9, 1.05],
            set_process=scpi_number,
        )
    )

    compliance_tripped = Instrument.measurement(
        ":SOUR:VOLT:ILIM:TRIP?",
        """Get whether the voltage source is presently clamped by its current limit (bool).""",
        cast=int,
        get_process=bool,
    )

    def reset(self) -> None:
        """``*RST`` (voltage source, current measure, output off)."""
        self.write("*RST")

    @property
    def language(self) -> str:
        """The active command set from ``*LANG?`` (``SCPI``, ``TSP`` or ``SCPI2400``)."""
        return self.ask("*LANG?").strip().strip('"').upper()

    def configure(self, settings: SmuSettings) -> KnownState:
        """Check the dialect (``*LANG?`` must be SCPI), then the known-state sequence.

        Raises:
            SafetyViolation: ``settings`` above the owner's ceiling (nothing sent).
            InstrumentError: the unit runs TSP or 2400 emulation (nothing else is sent; the
                message says to send ``*LANG SCPI`` and power-cycle).
        """
        self._check_ceiling(settings)
        self.known_state = None
        lang = self.language
        if lang != "SCPI":
            self.foreign_dialect = lang or "an unknown language"
            raise refuse_dialect(self._who(), lang)
        self.foreign_dialect = None
        return super().configure(settings)

    def _read_current_level(self) -> float:
        return float(self.ask(":SOUR:CURR?"))

    def _status_problems(self) -> list[str]:
        """The safety interlock (reference manual, ``:OUTPut[1]:INTerlock:TRIPped?``: 1 =
        asserted, all ranges available; 0 = not asserted, high-voltage ranges disabled): a
        change since open means the fixture's interlock opened mid-run."""
        state = self.ask(":OUTP:INT:TRIP?").strip()
        if self._open_interlock is not None and state != self._open_interlock:
            return [
                f"interlock changed since open (:OUTP:INT:TRIP? {state}, was {self._open_interlock})"
            ]
        return []

    _open_interlock: str | None = None

    def _before_known_state(self, settings: SmuSettings) -> None:
        self._open_interlock = self.ask(":OUTP:INT:TRIP?").strip()

    def _known_state(self, s: SmuSettings) -> list[Setting]:
        """2450 known state (reference manual 2450-901-01, section 6; module docstring).

        ``*RST`` (each command's "Default value", restored by "Instrument reset") puts every
        setting this driver does not send in place, and each is read back: voltage source
        at 0 V, current sense, ASCII data, measure count 1, FRONt terminals
        (``:ROUTe:TERMinals``), 2-wire sense (``:SENSe:CURRent:RSENse OFF``), averaging
        filter off (``:SENSe:CURRent:AVERage``), relative offset off
        (``:SENSe:CURRent:RELative:STATe``), auto-zero on (``:SENSe:CURRent:AZERo``),
        automatic source delay (``:SOURce:VOLTage:DELay:AUTO``), source read-back on
        (``:SOURce:VOLTage:READ:BACK``), automatic ASCII precision
        (``:FORMat:ASCii:PRECision`` 0), current autorange. Then only what a station chooses
        is sent; the mains frequency (``:SYSTem:LFRequency?``) is checked, not set.
        """
        src_range = smallest_covering(s.max_voltage, SOURCE_RANGES)
        ovp = smallest_covering(s.max_voltage, OVP_LEVELS)
        ovp_text = f"PROT{scpi_number(ovp)}" if ovp is not None else "NONE"
        q = self.ask
        reset_checks = [
            lambda: check_text("source function", "VOLT", q(":SOUR:FUNC?")),
            lambda: check_text(
                "sense function", '"CURR:DC"', q(":SENS:FUNC?"), lambda r: "CURR" in r
            ),
            lambda: check_text(
                "data format", "ASC", q(":FORM:DATA?"), lambda r: r.startswith("ASC")
            ),
            lambda: check_number("measure count", 1, q(":SENS:COUN?")),
            lambda: check_text("terminals", "FRON", q(":ROUT:TERM?")),
            lambda: check_text("remote sense (4-wire)", "0", q(":SENS:CURR:RSEN?")),
            lambda: check_text("averaging filter", "0", q(":SENS:CURR:AVER?")),
            lambda: check_text("relative offset", "0", q(":SENS:CURR:REL:STAT?")),
            lambda: check_text("auto-zero", "1", q(":SENS:CURR:AZER?")),
            lambda: check_text("automatic source delay", "1", q(":SOUR:VOLT:DEL:AUTO?")),
            lambda: check_text("source read-back", "1", q(":SOUR:VOLT:READ:BACK?")),
            lambda: check_number("ASCII precision (0 = automatic)", 0, q(":FORM:ASC:PREC?")),
        ]
        if s.current_range is None:
            reset_checks.append(
                lambda: check_text("current autorange", "1", q(":SENS:CURR:RANG:AUTO?"))
            )
        steps = [
            Setting("reset", ("*RST",), tuple(reset_checks)),
            Setting(
                "source level",
                checks=(lambda: check_number("source level (V)", 0.0, q(":SOUR:VOLT?")),),
                steady=False,
            ),
            Setting(
                "source range",
                (f":SOUR:VOLT:RANG {scpi_number(s.max_voltage)}",),
                (
                    lambda: check_range(
                        "source range (V)", s.max_voltage, src_range, q(":SOUR:VOLT:RANG?")
                    ),
                    lambda: check_text("source autorange", "0", q(":SOUR:VOLT:RANG:AUTO?")),
                ),
            ),
            Setting(
                "over-voltage protection",
                (f":SOUR:VOLT:PROT {ovp_text}",),
                (lambda: check_text("over-voltage protection", ovp_text, q(":SOUR:VOLT:PROT?")),),
            ),
            Setting(
                "current limit",
                (f":SOUR:VOLT:ILIM {scpi_number(s.compliance)}",),
                (lambda: check_number("current limit (A)", s.compliance, q(":SOUR:VOLT:ILIM?")),),
            ),
            Setting(
                "NPLC",
                (f":SENS:CURR:NPLC {scpi_number(s.nplc)}",),
                (lambda: check_number("NPLC", s.nplc, q(":SENS:CURR:NPLC?")),),
            ),
            Setting(
                "line frequency",
                checks=(
                    lambda: check_number("mains frequency (Hz)", s.line_frequency, q(":SYST:LFR?")),
                ),
            ),
        ]
        if s.current_range is not None:
            steps.append(
                Setting(
                    "current range",
                    (f":SENS:CURR:RANG {scpi_number(s.current_range)}",),
                    (
                        lambda: check_current_range(
                            s.current_range,
                            CURRENT_RANGES,
                            lambda: q(":SENS:CURR:RANG:AUTO?"),
                            lambda: q(":SENS:CURR:RANG?"),
                        ),
                    ),
                )
            )
        return steps

    def _output_checked(self, reply: str, what: str) -> str:
        """Split ``<data>;<output state>`` (a compound query: the output relay is read in the
        same message as the data) and refuse data read with the output off mid-run."""
        data, sep, state = reply.rpartition(";")
        if not sep:
            raise InstrumentError(f"{what}: no output state after the data: {reply!r}")
        self._confirm_reading(output_state(state, what))
        return data

    @staticmethod
    def _decode(numbers: Sequence[float], n: int) -> list[Reading]:
        readings = []
        for k in range(n):
            source, current, stamp, stat, sourstat = numbers[_PER_POINT * k : _PER_POINT * (k + 1)]
            readings.append(
                make_reading(
                    source,
                    current,
                    compliance=bool(status_word(sourstat) & SOURCE_STATUS_LIMIT),
                    range_compliance=bool(status_word(stat) & MEASURE_STATUS_QUESTIONABLE),
                    timestamp=stamp,
                )
            )
        return readings

    def measure_current(self) -> Reading:
        """Measure current once (``:MEAS:CURR?`` returning source value, reading, relative
        time, measure status and source status, compounded with ``:OUTPut?``) and decode the
        flags.

        Raises:
            InstrumentStateLost: the output was off while the run had it on (the 2450 measures
                0 A with the output off: after a reset or power cycle that would pass as a
                reading).
        """
        with self._no_reading_explained(), self.io_timeout(self._work_s(1)):
            reply = self.ask(f":MEAS:CURR? {BUFFER}, {ELEMENTS};:OUTP?")
        reply = self._output_checked(reply, "Keithley 2450 :MEAS:CURR?")
        numbers = parse_numbers(reply, _PER_POINT, "Keithley 2450 :MEAS:CURR?")
        if len(numbers) != _PER_POINT:
            raise InstrumentError(f"Keithley 2450 :MEAS:CURR?: expected 5 values, got {numbers}")
        return self._decode(numbers, 1)[0]

    def sweep_voltages(self, voltages: Sequence[float]) -> list[Reading]:
        """List sweep through the instrument's sweep trigger model, read back from defbuffer1.

        The output state is read in the same message as the data (mid-run trust, see
        :mod:`mtj_hil.instruments.smu.health`). Sends the list, builds the sweep (``:SOUR:SWE:VOLT:LIST 1, 0, 1, OFF``: start at
        index 1, no extra delay, one pass, and every point measured even where the source
        limit is reached: its source status says so, where the default ``failAbort`` ON
        would end the sweep early and leave the buffer short; 2450 Reference Manual
        ``:SOURce[1]:SWEep:<function>:LIST``), clears the buffer, runs it and waits (``*WAI``), then reads source value,
        current, relative time, measure status and source status per point with a timeout
        scaled to the sweep.

        :raises ValueError: empty list, more than 100 points, or a voltage out of range.
        :raises SafetyViolation: a voltage beyond the configured bound.
        :raises InstrumentError: malformed reply or no reply in time.
        """
        points = check_sweep(voltages, self.VOLTAGE_LIMIT, self.MAX_SWEEP_POINTS)
        for v in points:
            self._check_level(v)
        n = len(points)
        self._expect_level = None  # not known while the sweep runs (or if it fails)
        self.write(f":SOUR:LIST:VOLT {format_list(points)}")
        self.write(":SOUR:SWE:VOLT:LIST 1, 0, 1, OFF")
        self.write(f":TRAC:CLE {BUFFER}")
        self.write(":INIT")
        self.write("*WAI")
        with self._no_reading_explained(), self.io_timeout(self._work_s(n)):
            reply = self.ask(f":TRAC:DATA? 1, {n}, {BUFFER}, {ELEMENTS};:OUTP?")
        reply = self._output_checked(reply, "Keithley 2450 :TRAC:DATA?")
        numbers = parse_numbers(reply, _PER_POINT, "Keithley 2450 :TRAC:DATA?")
        if len(numbers) != _PER_POINT * n:
            raise InstrumentError(f"Keithley 2450 sweep: expected {n} points, got {len(numbers)}")
        # unlike the 2400's list mode (back to :SOUR:VOLT:MODE FIX) the sweep leaves the
        # source at its last point: the level the mid-run check expects from now on
        self._expect_level = sent_number(points[-1])
        return self._decode(numbers, n)
