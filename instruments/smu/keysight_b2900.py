"""Keysight (Agilent) B2900 precision SMU, B2901A/B2902A (and B2911A/B2912A), SCPI.

Each output channel is a :class:`KeysightB2900Channel` (``.ch1``, ``.ch2``) implementing
``SourceMeter``. At construction the driver sends ``:FORM:ELEM:SENS CURR,STAT,SOUR`` so that
every ``:MEAS?``/``:FETC:ARR?`` returns, per point, current, status word and source setting (the
instrument always returns elements in the order voltage, current, resistance, time, status,
source).

Command sources: *Agilent/Keysight B2900 SCPI Command Reference*: ``:FORMat:ELEMents:SENSe``;
status data bits (table 1-2: bits 1-2 = compliance, bit 13 = measurement range overflow);
``:SOURce[c]:FUNCtion:MODE``, ``:SOURce[c]:VOLTage``, ``:SOURce[c]:VOLTage:MODE LIST|FIXed``,
``:SOURce[c]:LIST:VOLTage`` (up to 2500 values), ``:SENSe[c]:CURRent:PROTection``,
``:SENSe[c]:CURRent:PROTection:TRIPped?``, ``:SENSe[c]:CURRent:NPLC``, ``:OUTPut[c]``,
``:MEASure? (@c)``, ``:INITiate (@c)``, ``:FETCh:ARRay? (@c)``, ``:SYSTem:ERRor?``. Missing or
over-range data reads ``+9.910000E+37``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from pymeasure.instruments import Channel, Instrument
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from instruments.errors import InstrumentError
from instruments.smu.base import (
    Reading,
    best_effort,
    check_sweep,
    check_voltage,
    drain_error_queue,
    format_list,
    make_reading,
    parse_numbers,
    parse_scpi_error,
    run_ramp,
    status_word,
)

#: Status data bits (B2900 SCPI reference, "Status Data").
STATUS_COMPLIANCE = 0b110  # bits 1 and 2
STATUS_OVERFLOW = 1 << 13

SENSE_ELEMENTS = "CURR,STAT,SOUR"
_PER_POINT = 3


class KeysightB2900Channel(Channel):
    """One B2900 output channel, voltage source / current measure."""

    VOLTAGE_LIMIT = 210.0  #: |V| bound of the B2901A/B2902A source, V
    MAX_SWEEP_POINTS = 2500  #: list length limit

    source_voltage = Channel.control(
        ":SOUR{ch}:VOLT?",
        ":SOUR{ch}:VOLT %g",
        """Control the source voltage level in V (-210 to 210).""",
        validator=strict_range,
        values=[-VOLTAGE_LIMIT, VOLTAGE_LIMIT],
    )

    compliance_current = Channel.control(
        ":SENS{ch}:CURR:PROT?",
        ":SENS{ch}:CURR:PROT %g",
        """Control the current compliance in A (1 nA to 3.03 A, strict).""",
        validator=strict_range,
        values=[1e-9, 3.03],
    )

    nplc = Channel.control(
        ":SENS{ch}:CURR:NPLC?",
        ":SENS{ch}:CURR:NPLC %g",
        """Control the current-measurement integration time in power-line cycles (4e-4 to 100).""",
        validator=strict_range,
        values=[4e-4, 100],
    )

    output_enabled = Channel.control(
        ":OUTP{ch}?",
        ":OUTP{ch} %d",
        """Control the output state (bool).""",
        validator=strict_discrete_set,
        values={True: 1, False: 0},
        map_values=True,
    )

    compliance_tripped = Channel.measurement(
        ":SENS{ch}:CURR:PROT:TRIP?",
        """Get whether the channel is presently in current compliance (bool).""",
        cast=int,
        get_process=bool,
    )

    @property
    def idn(self) -> str:
        """Identification of the instrument this channel belongs to."""
        return self.parent.idn

    def reset(self) -> None:
        """Reset the whole instrument (the B2900 has no per-channel reset)."""
        self.parent.reset()

    def enable_output(self) -> None:
        """``:OUTP<c> ON``."""
        self.write(":OUTP{ch} ON")

    def disable_output(self) -> None:
        """``:OUTP<c> OFF``."""
        self.write(":OUTP{ch} OFF")

    @staticmethod
    def _readings(reply: str, points: int, what: str) -> list[Reading]:
        numbers = parse_numbers(reply, _PER_POINT, what)
        if len(numbers) != _PER_POINT * points:
            raise InstrumentError(f"{what}: expected {points} points, got {len(numbers) // 3}")
        readings = []
        for k in range(points):
            current, status, source = numbers[3 * k : 3 * k + 3]
            word = status_word(status)
            readings.append(
                make_reading(
                    source,
                    current,
                    compliance=bool(word & STATUS_COMPLIANCE),
                    overflow=bool(word & STATUS_OVERFLOW),
                )
            )
        return readings

    def measure_current(self) -> Reading:
        """Spot measurement ``:MEAS? (@c)``: current, status word and source setting.

        Note: with the B2900's automatic output-on enabled (its default), a measurement may
        switch the output on.
        """
        return self._readings(self.ask(":MEAS? (@{ch})"), 1, "B2900 :MEAS?")[0]

    def sweep_voltages(self, voltages: Sequence[float]) -> list[Reading]:
        """List sweep: ``:SOUR:VOLT:MODE LIST``, list, trigger count, ``:INIT``, wait, fetch.

        Waits for completion with ``*OPC?`` before ``:FETC:ARR?``. Afterwards the source is put
        back in fixed mode (level :attr:`source_voltage`) and the trigger count to 1, even if
        the sweep failed.

        :raises ValueError: empty list, more than 2500 points, or a voltage out of range.
        :raises InstrumentError: malformed reply.
        """
        points = check_sweep(voltages, self.VOLTAGE_LIMIT, self.MAX_SWEEP_POINTS)
        n = len(points)
        try:
            self.write(":SOUR{ch}:FUNC:MODE VOLT")
            self.write(":SOUR{ch}:VOLT:MODE LIST")
            self.write(":SOUR{ch}:LIST:VOLT " + format_list(points))
            self.write(f":TRIG{{ch}}:COUN {n}")
            self.write(":INIT (@{ch})")
            done = self.ask("*OPC?").strip()
            if done != "1":
                raise InstrumentError(f"B2900 sweep: *OPC? answered {done!r}")
            reply = self.ask(":FETC:ARR? (@{ch})")
        finally:
            best_effort(
                f"{self.parent.name} ch{self.id}",
                [
                    ("fixed source mode", lambda: self.write(":SOUR{ch}:VOLT:MODE FIX")),
                    ("trigger count 1", lambda: self.write(":TRIG{ch}:COUN 1")),
                ],
            )
        return self._readings(reply, n, "B2900 :FETC:ARR?")

    def ramp_to_voltage(self, target: float, step: float, rate_v_per_s: float) -> None:
        """Ramp the source level from its present value to ``target`` V.

        Steps are at most ``step`` V; after each the driver waits ``|dV| / rate_v_per_s`` s.

        :raises ValueError: target out of range, or non-positive step/rate (nothing sent).
        """
        target = check_voltage(target, self.VOLTAGE_LIMIT)
        if not (step > 0 and rate_v_per_s > 0):
            raise ValueError("ramp step and rate must be positive")
        start = float(self.source_voltage)
        run_ramp(self._set_level, start, target, step, rate_v_per_s, self.parent._sleep)

    def _set_level(self, volts: float) -> None:
        self.source_voltage = volts

    def errors(self) -> list[tuple[int, str]]:
        """Drain the instrument's (shared) error queue."""
        return self.parent.errors()

    def shutdown(self) -> None:
        """Best effort: ``:SOUR<c>:VOLT 0`` then ``:OUTP<c> OFF``; never raises."""
        best_effort(
            f"{self.parent.name} ch{self.id}",
            [
                ("source 0 V", lambda: self.write(":SOUR{ch}:VOLT 0")),
                ("output off", lambda: self.write(":OUTP{ch} OFF")),
            ],
        )


class KeysightB2900(Instrument):
    """Keysight B2900 SMU; use ``.ch1`` (and ``.ch2`` on two-channel models) as ``SourceMeter``.

    :param adapter: VISA resource name or pymeasure adapter.
    :param channels: channel numbers this unit has, for :meth:`shutdown` (``(1,)`` on a B2901A).
    :param sleep: function used to wait between ramp steps (injectable for tests).
    """

    ch1 = Instrument.ChannelCreator(KeysightB2900Channel, 1)
    ch2 = Instrument.ChannelCreator(KeysightB2900Channel, 2)

    def __init__(
        self,
        adapter: object,
        name: str = "Keysight B2900 SMU",
        channels: Sequence[int] = (1, 2),
        sleep: Callable[[float], None] = time.sleep,
        **kwargs: object,
    ) -> None:
        unknown = set(channels) - {1, 2}
        if unknown or not channels:
            raise ValueError(f"channels must be a non-empty subset of (1, 2), got {channels!r}")
        super().__init__(adapter, name, includeSCPI=False, **kwargs)
        self._channel_ids = tuple(channels)
        self._sleep = sleep
        self.write(f":FORM:ELEM:SENS {SENSE_ELEMENTS}")

    @property
    def idn(self) -> str:
        """Identification string from ``*IDN?``."""
        return self.ask("*IDN?").strip()

    def reset(self) -> None:
        """``*RST``, then restore the sense data elements this driver parses."""
        self.write("*RST")
        self.write(f":FORM:ELEM:SENS {SENSE_ELEMENTS}")

    def errors(self) -> list[tuple[int, str]]:
        """Drain the error queue with ``:SYST:ERR?`` until ``+0,"No error"``."""
        return drain_error_queue(lambda: parse_scpi_error(self.ask(":SYST:ERR?")))

    def shutdown(self) -> None:
        """Shut down every configured channel (each best effort); never raises."""
        for ch in self._channel_ids:
            getattr(self, f"ch{ch}").shutdown()
        self.isShutdown = True
