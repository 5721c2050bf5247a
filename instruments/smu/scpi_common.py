"""What the Keithley 2400 and 2450 drivers share word for word in SCPI."""

from __future__ import annotations

from pymeasure.instruments import Instrument
from pymeasure.instruments.validators import strict_range

from mtj_hil.instruments.bus.visa_session import GuardedVisa
from mtj_hil.instruments.smu.base import (
    drain_error_queue,
    output_state,
    parse_scpi_error,
    scpi_number,
)
from mtj_hil.instruments.smu.lifecycle import SmuLifecycle


class KeithleyScpiBasics(GuardedVisa, SmuLifecycle):
    """Integration time, output, identity, error queue and lifecycle hooks of a Keithley
    SCPI source-measure unit.

    A mixin for pymeasure ``Instrument`` subclasses (put it first in the bases); the class
    provides ``VOLTAGE_LIMIT`` (V), ``source_voltage`` and a ``_sleep`` function. Every
    transaction is guarded (:mod:`mtj_hil.instruments.bus.visa_session`); ``:ABORt`` is the recovery
    abort (2400 manual section 18 "TRIGger subsystem"; 2450 reference manual section 6).
    """

    ABORT_COMMAND = ":ABOR"

    nplc = Instrument.control(
        ":SENS:CURR:NPLC?",
        ":SENS:CURR:NPLC %g",
        """Control the current-measurement integration time in power-line cycles (0.01 to 10).""",
        validator=strict_range,
        values=[0.01, 10],
    )

    @property
    def idn(self) -> str:
        """Identification string from ``*IDN?``."""
        return self.ask("*IDN?").strip()

    def errors(self) -> list[tuple[int, str]]:
        """Drain the error queue with ``:SYST:ERR?`` until code 0."""
        return drain_error_queue(lambda: parse_scpi_error(self.ask(":SYST:ERR?")))

    # -- lifecycle hooks --------------------------------------------------------------------

    def _abort_channel(self) -> None:
        self.write(":ABOR")

    def _source_is_voltage(self) -> bool:
        return self.ask(":SOUR:FUNC?").strip().strip('"').upper().startswith("VOLT")

    def _read_level(self) -> float:
        return float(self.source_voltage)  # type: ignore[attr-defined]

    def _write_level(self, volts: float) -> None:
        self.write(f":SOUR:VOLT {scpi_number(volts)}")

    def _read_output(self) -> bool:
        return output_state(self.ask(":OUTP?"), f"{self._who()} :OUTP?")

    def _write_output_on(self) -> None:
        self.write(":OUTP ON")

    def _write_output_off(self) -> None:
        self.write(":OUTP OFF")

    def _clear_status(self) -> None:
        self.write("*CLS")
