"""Keithley 2400-family SourceMeter (2400/2401/2410/...), SCPI.

Built on :class:`pymeasure.instruments.keithley.Keithley2400`, which at construction sends
``:FORMAT:ELEMENTS VOLTAGE, CURRENT, RESISTANCE, TIME, STATUS`` so every ``:READ?`` returns five
numbers per point: voltage, current, resistance, timestamp, status word.

Command sources: *Series 2400 SourceMeter User's Manual* (2400S-900-01 Rev. K), section 18
"SCPI Command Reference": ``:FORMat:ELEMents`` (status word: bit 0 OFLO = over-range,
bit 3 = in real compliance; "an overflow reading reads as +9.9E37"), ``:SOURce:LIST:VOLTage``
and ``...:APPend`` (100 values per command, 2500 in total), ``:SOURce:VOLTage:MODE``,
``:TRIGger:COUNt``, ``[:SENSe]:CURRent:PROTection``, ``[:SENSe]:CURRent:NPLCycles``,
``:OUTPut``, ``:SYSTem:ERRor?``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from pymeasure.instruments import Instrument
from pymeasure.instruments.keithley import Keithley2400
from pymeasure.instruments.validators import strict_range

from instruments.errors import InstrumentError
from instruments.smu.base import (
    Reading,
    best_effort,
    check_sweep,
    format_list,
    make_reading,
    parse_numbers,
    status_word,
)
from instruments.smu.scpi_common import KeithleyScpiBasics

#: Status-word bits (2400 manual, :FORMat:ELEMents STATus).
STATUS_OVERFLOW = 1 << 0
STATUS_COMPLIANCE = 1 << 3

_ELEMENTS_PER_POINT = 5  # voltage, current, resistance, time, status


class Keithley2400SourceMeter(KeithleyScpiBasics, Keithley2400):
    """Keithley 2400 SMU implementing :class:`~instruments.smu.base.SourceMeter`.

    Assumes the voltage-source / current-measure configuration (the ``*RST`` default).

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
        super().__init__(adapter, name, **kwargs)
        self._sleep = sleep

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

    def _readings(self, reply: str, points: int) -> list[Reading]:
        numbers = parse_numbers(reply, _ELEMENTS_PER_POINT, "Keithley 2400 :READ?")
        if len(numbers) != points * _ELEMENTS_PER_POINT:
            raise InstrumentError(
                f"Keithley 2400 :READ?: expected {points} points, got "
                f"{len(numbers) // _ELEMENTS_PER_POINT}"
            )
        readings = []
        for k in range(points):
            voltage, current, _res, _time, status = numbers[5 * k : 5 * k + 5]
            word = status_word(status)
            readings.append(
                make_reading(
                    voltage,
                    current,
                    compliance=bool(word & STATUS_COMPLIANCE),
                    overflow=bool(word & STATUS_OVERFLOW),
                )
            )
        return readings

    def measure_current(self) -> Reading:  # type: ignore[override]
        """Trigger one source-measure point (``:READ?``) and decode it.

        Unlike pymeasure's ``measure_current`` (which configures the sense function) this
        measures; the output must be on.
        """
        return self._readings(self.ask(":READ?"), 1)[0]

    def sweep_voltages(self, voltages: Sequence[float]) -> list[Reading]:
        """Buffered list sweep: one trigger per voltage, all points returned by one ``:READ?``.

        The output must already be on. Afterwards the source is returned to fixed mode
        (``:SOUR:VOLT:MODE FIX``, i.e. back to :attr:`source_voltage`) and the trigger count to 1,
        even if the sweep failed.

        :raises ValueError: empty list, more than 2500 points, or a voltage out of range.
        :raises InstrumentError: malformed reply.
        """
        points = check_sweep(voltages, self.VOLTAGE_LIMIT, self.MAX_SWEEP_POINTS)
        chunks = [points[i : i + self.LIST_CHUNK] for i in range(0, len(points), self.LIST_CHUNK)]
        self.write(":SOUR:VOLT:MODE LIST")
        try:
            self.write(f":SOUR:LIST:VOLT {format_list(chunks[0])}")
            for chunk in chunks[1:]:
                self.write(f":SOUR:LIST:VOLT:APP {format_list(chunk)}")
            self.write(f":TRIG:COUN {len(points)}")
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
