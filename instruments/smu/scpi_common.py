"""What the Keithley 2400 and 2450 drivers share word for word in SCPI."""

from __future__ import annotations

from pymeasure.instruments import Instrument
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from instruments.smu.base import (
    best_effort,
    check_voltage,
    drain_error_queue,
    parse_scpi_error,
    run_ramp,
)


class KeithleyScpiBasics:
    """Integration time, output state, identity, ramp, error queue and shutdown of a Keithley
    SCPI source-measure unit.

    A mixin for pymeasure ``Instrument`` subclasses (put it first in the bases); the class
    provides ``VOLTAGE_LIMIT`` (V), ``source_voltage`` and a ``_sleep`` function.
    """

    nplc = Instrument.control(
        ":SENS:CURR:NPLC?",
        ":SENS:CURR:NPLC %g",
        """Control the current-measurement integration time in power-line cycles (0.01 to 10).""",
        validator=strict_range,
        values=[0.01, 10],
    )

    output_enabled = Instrument.control(
        ":OUTP?",
        ":OUTP %d",
        """Control the output state (bool).""",
        validator=strict_discrete_set,
        values={True: 1, False: 0},
        map_values=True,
    )

    @property
    def idn(self) -> str:
        """Identification string from ``*IDN?``."""
        return self.ask("*IDN?").strip()  # type: ignore[attr-defined]

    def enable_output(self) -> None:
        """Switch the output on (``:OUTP ON``)."""
        self.write(":OUTP ON")  # type: ignore[attr-defined]

    def disable_output(self) -> None:
        """Switch the output off (``:OUTP OFF``)."""
        self.write(":OUTP OFF")  # type: ignore[attr-defined]

    def ramp_to_voltage(self, target: float, step: float, rate_v_per_s: float) -> None:
        """Ramp the source level from its present value to ``target`` V.

        Steps are at most ``step`` V; after each the driver waits ``|dV| / rate_v_per_s`` s.

        :raises ValueError: target out of range, or non-positive step/rate (nothing sent).
        """
        target = check_voltage(target, self.VOLTAGE_LIMIT)  # type: ignore[attr-defined]
        if not (step > 0 and rate_v_per_s > 0):
            raise ValueError("ramp step and rate must be positive")
        start = float(self.source_voltage)  # type: ignore[attr-defined]
        run_ramp(self._set_level, start, target, step, rate_v_per_s, self._sleep)  # type: ignore[attr-defined]

    def _set_level(self, volts: float) -> None:
        self.source_voltage = volts

    def errors(self) -> list[tuple[int, str]]:
        """Drain the error queue with ``:SYST:ERR?`` until code 0."""
        return drain_error_queue(lambda: parse_scpi_error(self.ask(":SYST:ERR?")))  # type: ignore[attr-defined]

    def shutdown(self) -> None:
        """Best effort: ``:SOUR:VOLT 0`` then ``:OUTP OFF``, each tried even if the other
        fails. Never raises; failures are logged."""
        best_effort(
            self.name,  # type: ignore[attr-defined]
            [
                ("source 0 V", lambda: self.write(":SOUR:VOLT 0")),  # type: ignore[attr-defined]
                ("output off", lambda: self.write(":OUTP OFF")),  # type: ignore[attr-defined]
            ],
        )
        self.isShutdown = True
