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

from pymeasure.instruments import Instrument
from pymeasure.instruments.keithley import Keithley2400
from pymeasure.instruments.validators import strict_range

from mtj_hil.instruments.errors import InstrumentError
from mtj_hil.instruments.smu.base import (
    Reading,
    best_effort,
    check_sweep,
    format_list,
    make_reading,
    parse_numbers,
    status_word,
)
from mtj_hil.instruments.smu.known_state import (
    SettingCheck,
    SmuSettings,
    check_current_range,
    check_number,
    check_range,
    check_text,
    smallest_covering,
)
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

    compliance_current = Instrument.control(
        ":SENS:CURR:PROT?",
        ":SENS:CURR:PROT %g",
        """Control the current compliance in A (1 nA to 1.05 A; out of range raises ValueError).""",
        validator=strict_range,
        values=[1e-9, 1.05],
    )

    def reset(self) -> None:
        """``*RST``, then restore the five-element data format this driver parses."""
        self.write("*RST")
        self.reset_data_format()

    def _apply_known_state(self, s: SmuSettings) -> list[SettingCheck]:
        """2400 known state (manual section 18; see the module docstring)."""
        src_range = smallest_covering(s.max_voltage, SOURCE_RANGES)
        ovp = smallest_covering(s.max_voltage, OVP_LEVELS)
        for command in (
            "*RST",
            ":SOUR:FUNC VOLT",
            ":SOUR:VOLT:MODE FIX",
            f":SOUR:VOLT:RANG {s.max_voltage:g}",
            f":SOUR:VOLT:PROT {ovp:g}" if ovp is not None else ":SOUR:VOLT:PROT NONE",
            ":SOUR:VOLT 0",
            ':SENS:FUNC "CURR"',
            f":SENS:CURR:PROT {s.compliance:g}",
            ":SENS:CURR:RANG:AUTO ON"
            if s.current_range is None
            else f":SENS:CURR:RANG {s.current_range:g}",
            f":SENS:CURR:NPLC {s.nplc:g}",
            ":FORM:DATA ASC",
            f":FORM:ELEM {ELEMENTS}",
            ":TRIG:COUN 1",
            ":ARM:COUN 1",
        ):
            self.write(command)
        q = self.ask
        checks = [
            check_text("source function", "VOLT", q(":SOUR:FUNC?")),
            check_text("source mode", "FIX", q(":SOUR:VOLT:MODE?")),
            check_range("source range (V)", s.max_voltage, src_range, q(":SOUR:VOLT:RANG?")),
            check_text("source autorange", "0", q(":SOUR:VOLT:RANG:AUTO?")),
            check_range("over-voltage protection (V)", s.max_voltage, ovp, q(":SOUR:VOLT:PROT?")),
            check_number("source level (V)", 0.0, q(":SOUR:VOLT?")),
            check_text("sense function", '"CURR:DC"', q(":SENS:FUNC?"), lambda r: "CURR" in r),
            check_number("current compliance (A)", s.compliance, q(":SENS:CURR:PROT?")),
            check_current_range(
                s.current_range,
                CURRENT_RANGES,
                lambda: q(":SENS:CURR:RANG:AUTO?"),
                lambda: q(":SENS:CURR:RANG?"),
            ),
            check_number("NPLC", s.nplc, q(":SENS:CURR:NPLC?")),
            check_text("data format", "ASC", q(":FORM:DATA?")),
            check_text("data elements", ELEMENTS, q(":FORM:ELEM?"), _elements_ok),
            check_number("trigger count", 1, q(":TRIG:COUN?")),
            check_number("arm count", 1, q(":ARM:COUN?")),
        ]
        return checks

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
        """
        with self.io_timeout(self._work_s(1)):
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
            with self.io_timeout(self._work_s(len(points))):
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
