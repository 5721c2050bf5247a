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
    parse_numbers,
    status_word,
)
from mtj_hil.instruments.smu.known_state import (
    KnownState,
    SettingCheck,
    SmuSettings,
    check_current_range,
    check_number,
    check_range,
    check_text,
    smallest_covering,
)
from mtj_hil.instruments.smu.lifecycle import refuse_dialect
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

    source_voltage = Instrument.control(
        ":SOUR:VOLT?",
        ":SOUR:VOLT %g",
        """Control the source voltage level in V (-210 to 210).""",
        validator=strict_range,
        values=[-VOLTAGE_LIMIT, VOLTAGE_LIMIT],
    )

    compliance_current = Instrument.control(
        ":SOUR:VOLT:ILIM?",
        ":SOUR:VOLT:ILIM %g",
        """Control the current limit of the voltage source in A (1 nA to 1.05 A, strict).""",
        validator=strict_range,
        values=[1e-9, 1.05],
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
            InstrumentError: the unit runs TSP or 2400 emulation (nothing else is sent; the
                message says to send ``*LANG SCPI`` and power-cycle).
        """
        self.known_state = None
        lang = self.language
        if lang != "SCPI":
            self.foreign_dialect = lang or "an unknown language"
            raise refuse_dialect(self._who(), lang)
        self.foreign_dialect = None
        return super().configure(settings)

    def _apply_known_state(self, s: SmuSettings) -> list[SettingCheck]:
        """2450 known state (reference manual section 6; see the module docstring)."""
        src_range = smallest_covering(s.max_voltage, SOURCE_RANGES)
        ovp = smallest_covering(s.max_voltage, OVP_LEVELS)
        ovp_text = f"PROT{ovp:g}" if ovp is not None else "NONE"
        for command in (
            "*RST",
            ":SOUR:FUNC VOLT",
            f":SOUR:VOLT:RANG {s.max_voltage:g}",
            f":SOUR:VOLT:PROT {ovp_text}",
            ":SOUR:VOLT 0",
            f":SOUR:VOLT:ILIM {s.compliance:g}",
            ':SENS:FUNC "CURR"',
            ":SENS:CURR:RANG:AUTO ON"
            if s.current_range is None
            else f":SENS:CURR:RANG {s.current_range:g}",
            f":SENS:CURR:NPLC {s.nplc:g}",
            ":FORM:DATA ASC",
            ":SENS:COUN 1",
        ):
            self.write(command)
        q = self.ask
        checks = [
            check_text("source function", "VOLT", q(":SOUR:FUNC?")),
            check_range("source range (V)", s.max_voltage, src_range, q(":SOUR:VOLT:RANG?")),
            check_text("source autorange", "0", q(":SOUR:VOLT:RANG:AUTO?")),
            check_text("over-voltage protection", ovp_text, q(":SOUR:VOLT:PROT?")),
            check_number("source level (V)", 0.0, q(":SOUR:VOLT?")),
            check_number("current limit (A)", s.compliance, q(":SOUR:VOLT:ILIM?")),
            check_text("sense function", '"CURR:DC"', q(":SENS:FUNC?"), lambda r: "CURR" in r),
            check_current_range(
                s.current_range,
                CURRENT_RANGES,
                lambda: q(":SENS:CURR:RANG:AUTO?"),
                lambda: q(":SENS:CURR:RANG?"),
            ),
            check_number("NPLC", s.nplc, q(":SENS:CURR:NPLC?")),
            check_text("data format", "ASC", q(":FORM:DATA?"), lambda r: r.startswith("ASC")),
            check_number("measure count", 1, q(":SENS:COUN?")),
        ]
        return checks

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
        time, measure status and source status) and decode the flags."""
        with self.io_timeout(self._work_s(1)):
            reply = self.ask(f":MEAS:CURR? {BUFFER}, {ELEMENTS}")
        numbers = parse_numbers(reply, _PER_POINT, "Keithley 2450 :MEAS:CURR?")
        if len(numbers) != _PER_POINT:
            raise InstrumentError(f"Keithley 2450 :MEAS:CURR?: expected 5 values, got {numbers}")
        return self._decode(numbers, 1)[0]

    def sweep_voltages(self, voltages: Sequence[float]) -> list[Reading]:
        """List sweep through the instrument's sweep trigger model, read back from defbuffer1.

        Sends the list, builds the sweep (``:SOUR:SWE:VOLT:LIST 1, 0``: start at index 1, no
        extra delay), clears the buffer, runs it and waits (``*WAI``), then reads source value,
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
        self.write(f":SOUR:LIST:VOLT {format_list(points)}")
        self.write(":SOUR:SWE:VOLT:LIST 1, 0")
        self.write(f":TRAC:CLE {BUFFER}")
        self.write(":INIT")
        self.write("*WAI")
        with self.io_timeout(self._work_s(n)):
            reply = self.ask(f":TRAC:DATA? 1, {n}, {BUFFER}, {ELEMENTS}")
        numbers = parse_numbers(reply, _PER_POINT, "Keithley 2450 :TRAC:DATA?")
        if len(numbers) != _PER_POINT * n:
            raise InstrumentError(f"Keithley 2450 sweep: expected {n} points, got {len(numbers)}")
        return self._decode(numbers, n)
