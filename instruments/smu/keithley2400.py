"""Keithley 2400-family SourceMeter (2400/2401/2410/...), SCPI.

Built on :class:`pymeasure.instruments.keithley.Keithley2400`, which at construction sends
``:FORMAT:ELEMENTS VOLTAGE, CURRENT, RESISTANCE, TIME, STATUS``; :meth:`configure` sets the
same five elements again (and checks them), so every ``:READ?`` returns voltage, current,
resistance, timestamp and status word per point.

Command sources: *Series 2400 SourceMeter User's Manual* (2400S-900-01 Rev. K), section 18
"SCPI Command Reference": ``:FORMat:ELEMents`` and ``:FORMat[:DATA]`` (status word: bit 0 OFLO
= over-range, bit 3 = in real compliance, bit 16 = range compliance; "an overflow reading
reads as +9.9E37", an element that was not measured reads +9.91E37), ``:SOURce:FUNCtion``,
``:SOURce:VOLTage:RANGe`` (200 mV, 2 V, 20 V, 200 V; a value selects the smallest range that
holds it and turns autorange off), ``:SOURce:VOLTage:PROTection`` (over-voltage protection:
20, 40, 60, 80, 100, 120, 160 V or NONE; a value selects the smallest level that holds it),
``:SOURce:VOLTage:MODE``, ``:SOURce:LIST:VOLTage`` and ``...:APPend`` (100 values per
command, 2500 in total), ``:TRIGger:COUNt``, ``:ARM:COUNt``, ``:ABORt``,
``[:SENSe]:FUNCtion``, ``[:SENSe]:CURRent:PROTection``, ``[:SENSe]:CURRent:RANGe[:AUTO]``,
``[:SENSe]:CURRent:NPLCycles``, ``:OUTPut``, ``:SYSTem:ERRor?``, ``*CLS``, ``*RST``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from pymeasure.instruments import Instrument
from pymeasure.instruments.keithley import Keithley2400
from pymeasure.instruments.validators import strict_range

from mtj_hil.instruments.errors import InstrumentError, SafetyViolation
from mtj_hil.instruments.smu.base import (
    Reading,
    best_effort,
    check_sweep,
    format_list,
    make_reading,
    parse_numbers,
    scpi_number,
    status_word,
)
from mtj_hil.instruments.smu.known_state import (
    Setting,
    SmuSettings,
    check_current_range,
    check_number,
    check_range,
    check_text,
    smallest_covering,
)
from mtj_hil.instruments.smu.lifecycle import checked_compliance, checked_level
from mtj_hil.instruments.smu.scpi_common import KeithleyScpiBasics

#: Status-word bits (2400 manual, :FORMat:ELEMents STATus).
STATUS_OVERFLOW = 1 << 0
STATUS_COMPLIANCE = 1 << 3
STATUS_RANGE_COMPLIANCE = 1 << 16

SOURCE_RANGES = (0.2, 2.0, 20.0, 200.0)  #: V
OVP_LEVELS = (20.0, 40.0, 60.0, 80.0, 100.0, 120.0, 160.0)  #: V
CURRENT_RANGES = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)  #: A
ELEMENTS = "VOLT,CURR,RES,TIME,STAT"

_ELEMENTS_PER_POINT = 5  # voltage, current, resistance, time, status


def _refused_setter(name: str) -> Callable[[Any, object], None]:
    """A property setter that refuses (SafetyViolation) setting ``name`` on the driver."""

    def fset(self: Any, value: object) -> None:
        raise self._inherited_refused(f"setting {name}")

    return fset


class Keithley2400SourceMeter(KeithleyScpiBasics, Keithley2400):
    """Keithley 2400 SMU implementing :class:`~mtj_hil.instruments.smu.base.SourceMeter`.

    :param adapter: VISA resource name or pymeasure adapter.
    :param sleep: function used to wait between ramp steps (injectable for tests).
    """

    VOLTAGE_LIMIT = 210.0  #: |V| bound of the 2400 source, V
    MAX_SWEEP_POINTS = 2500  #: list length limit (manual 18-92)
    LIST_CHUNK = 100  #: values per :SOUR:LIST:VOLT[:APP] command

    def __init__(
        self,
        adapter: object,
        name: str = "Keithley 2400 SourceMeter",
        sleep: Callable[[float], None] = time.sleep,
        **kwargs: object,
    ) -> None:
        self._sleep = sleep
        super().__init__(adapter, name, **kwargs)
        self._init_guard()

    source_voltage = checked_level(
        Instrument.control(
            ":SOURCE:VOLTAGE?",
            ":SOURCE:VOLTAGE %s",
            """Control the source voltage in V (-210 to 210, and within the known state's
            bound once configured).""",
            validator=strict_range,
            values=[-VOLTAGE_LIMIT, VOLTAGE_LIMIT],
            set_process=scpi_number,
        )
    )

    compliance_current = checked_compliance(
        Instrument.control(
            ":SENS:CURR:PROT?",
            ":SENS:CURR:PROT %s",
            """Control the current compliance in A (1 nA to 1.05 A; out of range raises ValueError).""",
            validator=strict_range,
            values=[1e-9, 1.05],
            set_process=scpi_number,
        )
    )

    # pymeasure's Keithley2400 also sources current, sets its own compliance and switches the
    # output on by itself; through this driver the output goes on only in the verified known
    # state (a voltage source, configured by ``configure``), so those calls are refused or
    # routed through the guarded output.

    def _inherited_refused(self, what: str) -> SafetyViolation:
        return SafetyViolation(
            f"{self._who()}: {what} is refused: this driver sources voltage only, in the "
            "known state configure() verified (configure a new one to change it)"
        )

    def apply_current(self, *args: object, **kwargs: object) -> None:
        """Refused (SafetyViolation): the known state sources voltage."""
        raise self._inherited_refused("apply_current")

    def apply_voltage(self, *args: object, **kwargs: object) -> None:
        """Refused (SafetyViolation): pymeasure's version sets its own 0.1 A compliance;
        ``configure`` sets the voltage source and its compliance."""
        raise self._inherited_refused("apply_voltage")

    def ramp_to_current(self, *args: object, **kwargs: object) -> None:
        """Refused (SafetyViolation): the known state sources voltage."""
        raise self._inherited_refused("ramp_to_current")

    source_current = property(Keithley2400.source_current.fget, _refused_setter("source_current"))
    source_mode = property(Keithley2400.source_mode.fget, _refused_setter("source_mode"))
    compliance_voltage = property(
        Keithley2400.compliance_voltage.fget, _refused_setter("compliance_voltage")
    )

    @property
    def source_enabled(self) -> bool:
        """Output state; setting it goes through the guarded ``output_enabled``."""
        return self.output_enabled

    @source_enabled.setter
    def source_enabled(self, state: bool) -> None:
        self.output_enabled = state

    def enable_source(self) -> None:
        """:meth:`enable_output` (only in the verified known state)."""
        self.enable_output()

    def disable_source(self) -> None:
        """:meth:`disable_output`."""
        self.disable_output()

    def reset(self) -> None:
        """``*RST``, then restore the five-element data format this driver parses."""
        self.write("*RST")
        self.reset_data_format()

    def _read_current_level(self) -> float:
        return float(self.ask(":SOUR:CURR?"))

    _open_interlock: str | None = None

    def _before_known_state(self, settings: SmuSettings) -> None:
        self._open_interlock = self.ask(":OUTP:INT:TRIP?").strip()

    def _status_problems(self) -> list[str]:
        """The interlock line (2400 manual section 18, ``:OUTPut:INTerlock:TRIPped?``: "1"
        the source can be turned on, "0" the interlock line is open): a change since open
        means the fixture's interlock opened (with ``:OUTPut:INTerlock:STATe ON`` it also
        switched the source off)."""
        state = self.ask(":OUTP:INT:TRIP?").strip()
        if self._open_interlock is not None and state != self._open_interlock:
            return [
                f"interlock changed since open (:OUTP:INT:TRIP? {state}, was {self._open_interlock})"
            ]
        return []

    def _known_state(self, s: SmuSettings) -> list[Setting]:
        """2400 known state (User's Manual 2400S-900-01, section 18; module docstring).

        ``*RST`` (section 18, table 18-3 "*RST" defaults) puts every setting this driver does
        not send in place, and each is read back: voltage source at 0 V in FIXed mode,
        current sense, ASCii data with all five elements, trigger and arm counts 1, FRONt
        terminals (``:ROUTe:TERMinals``), 2-wire sense (``:SYSTem:RSENse OFF``), averaging
        filter off (``[:SENSe]:AVERage``), auto-zero on (``:SYSTem:AZERo``), auto output-off
        disabled (``:SOURce:CLEar:AUTO OFF``), automatic source delay (``:SOURce:DELay:AUTO``),
        trigger delay 0 (``:TRIGger:DELay``), immediate arm and trigger sources, current
        autorange. Then only the settings a station chooses are sent. The mains frequency
        (``:SYSTem:LFRequency?``) is checked against the station's, not changed.
        """
        src_range = smallest_covering(s.max_voltage, SOURCE_RANGES)
        ovp = smallest_covering(s.max_voltage, OVP_LEVELS)
        q = self.ask
        reset_checks = [
            lambda: check_text("source function", "VOLT", q(":SOUR:FUNC?")),
            lambda: check_text("source mode", "FIX", q(":SOUR:VOLT:MODE?")),
            lambda: check_text(
                "sense function", '"CURR:DC"', q(":SENS:FUNC?"), lambda r: "CURR" in r
            ),
            lambda: check_text("data format", "ASC", q(":FORM:DATA?")),
            lambda: check_text("data elements", ELEMENTS, q(":FORM:ELEM?"), _elements_ok),
            lambda: check_number("trigger count", 1, q(":TRIG:COUN?")),
            lambda: check_number("arm count", 1, q(":ARM:COUN?")),
            lambda: check_text("terminals", "FRON", q(":ROUT:TERM?")),
            lambda: check_text("remote sense (4-wire)", "0", q(":SYST:RSEN?")),
            lambda: check_text("averaging filter", "0", q(":SENS:AVER?")),
            lambda: check_text("auto-zero", "1", q(":SYST:AZER?")),
            lambda: check_text("auto output-off", "0", q(":SOUR:CLE:AUTO?")),
            lambda: check_text("automatic source delay", "1", q(":SOUR:DEL:AUTO?")),
            lambda: check_number("trigger delay (s)", 0.0, q(":TRIG:DEL?")),
            lambda: check_text("arm source", "IMM", q(":ARM:SOUR?")),
            lambda: check_text("trigger source", "IMM", q(":TRIG:SOUR?")),
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
                (
                    f":SOUR:VOLT:PROT {scpi_number(ovp)}"
                    if ovp is not None
                    else ":SOUR:VOLT:PROT NONE",
                ),
                (
                    lambda: check_range(
                        "over-voltage protection (V)", s.max_voltage, ovp, q(":SOUR:VOLT:PROT?")
                    ),
                ),
            ),
            Setting(
                "compliance",
                (f":SENS:CURR:PROT {scpi_number(s.compliance)}",),
                (
                    lambda: check_number(
                        "current compliance (A)", s.compliance, q(":SENS:CURR:PROT?")
                    ),
                ),
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

    def _readings(self, reply: str, points: int) -> list[Reading]:
        numbers = parse_numbers(reply, _ELEMENTS_PER_POINT, "Keithley 2400 :READ?")
        if len(numbers) != points * _ELEMENTS_PER_POINT:
            raise InstrumentError(
                f"Keithley 2400 :READ?: expected {points} points, got "
                f"{len(numbers) // _ELEMENTS_PER_POINT}"
            )
        readings = []
        for k in range(points):
            voltage, current, _res, stamp, status = numbers[5 * k : 5 * k + 5]
            word = status_word(status)
            readings.append(
                make_reading(
                    voltage,
                    current,
                    compliance=bool(word & STATUS_COMPLIANCE),
                    overflow=bool(word & STATUS_OVERFLOW),
                    range_compliance=bool(word & STATUS_RANGE_COMPLIANCE),
                    timestamp=stamp,
                )
            )
        return readings

    def measure_current(self) -> Reading:  # type: ignore[override]
        """Trigger one source-measure point (``:READ?``) and decode it.

        Unlike pymeasure's ``measure_current`` (which configures the sense function) this
        measures; the output must be on.

        Raises:
            InstrumentStateLost: no reading, and the output found off while the run had it
                on (a reset, power cycle or trip: the 2400 refuses ``:READ?`` then).
        """
        with self._no_reading_explained(), self.io_timeout(self._work_s(1)):
            return self._readings(self.ask(":READ?"), 1)[0]

    def sweep_voltages(self, voltages: Sequence[float]) -> list[Reading]:
        """Buffered list sweep: one trigger per voltage, all points returned by one ``:READ?``.

        The output must already be on. The ``:READ?`` timeout is scaled to the sweep
        (points x NPLC / line frequency + margin). Afterwards the source is returned to fixed
        mode (``:SOUR:VOLT:MODE FIX``, i.e. back to :attr:`source_voltage`) and the trigger
        count to 1, even if the sweep failed.

        :raises ValueError: empty list, more than 2500 points, or a voltage out of range.
        :raises SafetyViolation: a voltage beyond the configured bound.
        :raises InstrumentError: malformed reply or no reply in time.
        """
        points = check_sweep(voltages, self.VOLTAGE_LIMIT, self.MAX_SWEEP_POINTS)
        for v in points:
            self._check_level(v)
        chunks = [points[i : i + self.LIST_CHUNK] for i in range(0, len(points), self.LIST_CHUNK)]
        self.write(":SOUR:VOLT:MODE LIST")
        try:
            self.write(f":SOUR:LIST:VOLT {format_list(chunks[0])}")
            for chunk in chunks[1:]:
                self.write(f":SOUR:LIST:VOLT:APP {format_list(chunk)}")
            self.write(f":TRIG:COUN {len(points)}")
            with self._no_reading_explained(), self.io_timeout(self._work_s(len(points))):
                reply = self.ask(":READ?")
        finally:
            best_effort(
                self.name,
                [
                    ("fixed source mode", lambda: self.write(":SOUR:VOLT:MODE FIX")),
                    ("trigger count 1", lambda: self.write(":TRIG:COUN 1")),
                ],
            )
        return self._readings(reply, len(points))


def _elements_ok(reply: str) -> bool:
    names = [e.strip()[:3] for e in reply.replace('"', "").split(",")]
    return names == ["VOL", "CUR", "RES", "TIM", "STA"]
