"""What the Keithley 2400 and 2450 drivers share word for word in SCPI."""

from __future__ import annotations

from pymeasure.instruments import Instrument
from pymeasure.instruments.validators import strict_discrete_set, strict_range


class KeithleyScpiBasics:
    """Integration time, output state and identity of a Keithley SCPI source-measure unit.

    A mixin for pymeasure ``Instrument`` subclasses (put it first in the bases).
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
