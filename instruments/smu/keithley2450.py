"""Keithley 2450 Interactive SourceMeter in its native SCPI command set (not 2400 emulation).

Command sources: *Model 2450 Reference Manual* (2450-901-01), section 6 "SCPI command
reference": ``:SOURce:VOLTage``, ``:SOURce:VOLTage:ILIMit`` and ``...:ILIMit:TRIPped?``
(returns 1 if the source was clamped by the limit), ``:SENSe:CURRent:NPLCycles``, ``:OUTPut``,
``:MEASure:CURRent? <buffer>, <elements>``, ``:SOURce:LIST:VOLTage`` (up to 100 values),
``:SOURce:SWEep:VOLTage:LIST <startIndex>, <delay>``, ``:INITiate``, ``*WAI``,
``:TRACe:CLEar``, ``:TRACe:DATA? <start>, <end>, <buffer>, <elements>`` with the
``SOURSTATus`` element (bit 5, value 32 = "source function was limited", manual section 8,
``bufferVar.sourcestatuses``), ``:SYSTem:ERRor?``. An overflow reading is ``9.9e37``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from pymeasure.instruments import Instrument, SCPIMixin
from pymeasure.instruments.validators import strict_range

from instruments.errors import InstrumentError
from instruments.smu.base import (
    Reading,
    check_sweep,
    format_list,
    make_reading,
    parse_numbers,
    status_word,
)
from instruments.smu.scpi_common import KeithleyScpiBasics

#: Source-status bit "source function was limited" (buffer.STAT_LIMIT).
SOURCE_STATUS_LIMIT = 1 << 5

BUFFER = '"defbuffer1"'


class Keithley2450(KeithleyScpiBasics, SCPIMixin, Instrument):
    """Keithley 2450 SMU (voltage source, current measure) implementing ``SourceMeter``.

    The current limit is validated strictly: values outside 1 nA .. 1.05 A raise ValueError
    instead of being clipped.

    :param adapter: VISA resource name or pymeasure adapter.
    :param sleep: function used to wait between ramp steps (injectable for tests).
    """

    VOLTAGE_LIMIT = 210.0  #: |V| bound of the 2450 source, V
    MAX_SWEEP_POINTS = 100  #: :SOUR:LIST:VOLT takes up to 100 values

    def __init__(
        self,
        adapter: object,
        name: str = "Keithley 2450 SourceMeter",
        sleep: Callable[[float], None] = time.sleep,
        **kwargs: object,
    ) -> None:
        super().__init__(adapter, name, **kwargs)
        self._sleep = sleep

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

    def measure_current(self) -> Reading:
        """Measure current once (``:MEAS:CURR?`` with source value) and read the limit flag."""
        numbers = parse_numbers(
            self.ask(f":MEAS:CURR? {BUFFER}, SOUR, READ"), 2, "Keithley 2450 :MEAS:CURR?"
        )
        if len(numbers) != 2:
            raise InstrumentError(f"Keithley 2450 :MEAS:CURR?: expected 2 values, got {numbers}")
        voltage, current = numbers
        return make_reading(voltage, current, compliance=self.compliance_tripped)

    def sweep_voltages(self, voltages: Sequence[float]) -> list[Reading]:
        """List sweep through the instrument's sweep trigger model, read back from defbuffer1.

        Sends the list, builds the sweep (``:SOUR:SWE:VOLT:LIST 1, 0``: start at index 1, no
        extra delay), clears the buffer, runs it and waits (``*WAI``), then reads source value,
        current and source status per point. Compliance is bit 5 of the source status.

        :raises ValueError: empty list, more than 100 points, or a voltage out of range.
        :raises InstrumentError: malformed reply.
        """
        points = check_sweep(voltages, self.VOLTAGE_LIMIT, self.MAX_SWEEP_POINTS)
        n = len(points)
        self.write(f":SOUR:LIST:VOLT {format_list(points)}")
        self.write(":SOUR:SWE:VOLT:LIST 1, 0")
        self.write(f":TRAC:CLE {BUFFER}")
        self.write(":INIT")
        self.write("*WAI")
        reply = self.ask(f":TRAC:DATA? 1, {n}, {BUFFER}, SOUR, READ, SOURSTAT")
        numbers = parse_numbers(reply, 3, "Keithley 2450 :TRAC:DATA?")
        if len(numbers) != 3 * n:
            raise InstrumentError(f"Keithley 2450 sweep: expected {n} points, got {len(numbers)}")
        return [
            make_reading(
                numbers[3 * k],
                numbers[3 * k + 1],
                compliance=bool(status_word(numbers[3 * k + 2]) & SOURCE_STATUS_LIMIT),
            )
            for k in range(n)
        ]
