"""Keithley Series 2600/2600B System SourceMeter over TSP (Lua commands), both channels.

Each SMU channel (``smua``, ``smub``) is a :class:`Keithley2600Channel` implementing
``SourceMeter``; the instrument object only holds the shared things (identity, error queue,
reset of the whole unit) and shuts down every channel.

Command sources: *Series 2600B Reference Manual* (2600BS-901-01), TSP command reference:
``smuX.source.levelv``, ``smuX.source.limiti``, ``smuX.source.compliance`` (true when the source
is limited), ``smuX.source.output = smuX.OUTPUT_ON|OUTPUT_OFF``, ``smuX.measure.nplc`` (0.001 to
25), ``smuX.measure.i()``, ``smuX.reset()``, ``reset()``, ``errorqueue.next()`` (returns code 0
"Queue Is Empty" when empty), reading buffers ``smuX.nvbuffer1`` with ``collectsourcevalues``,
``readings``/``sourcevalues``/``statuses`` (status bit B6, 0x40 = compliance), ``printbuffer()``,
sweeps via ``smuX.trigger.source.listv({...})``, ``smuX.trigger.source.action``,
``smuX.trigger.measure.i(buffer)``, ``smuX.trigger.measure.action``, ``smuX.trigger.count``,
``smuX.trigger.initiate()``, ``waitcomplete()``. Over-range readings are ``9.91e37``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from pymeasure.instruments import Channel, Instrument
from pymeasure.instruments.validators import strict_range

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
    run_ramp,
    status_word,
)

#: Reading-buffer status bit B6: source limited by compliance.
BUFFER_STATUS_COMPLIANCE = 0x40


def _parse_bool(reply: str) -> bool:
    text = reply.strip().lower()
    if text == "true":
        return True
    if text == "false":
        return False
    raise InstrumentError(f"expected true/false from TSP, got {reply!r}")


def parse_tsp_error(reply: str) -> tuple[int, str]:
    """Parse ``print(errorqueue.next())``: code, message, severity, node separated by tabs."""
    fields = reply.strip("\r\n").split("\t")
    try:
        code = int(float(fields[0]))
    except ValueError as exc:
        raise InstrumentError(f"unparseable TSP error-queue reply {reply!r}") from exc
    message = fields[1].strip() if len(fields) > 1 else ""
    return code, message


class Keithley2600Channel(Channel):
    """One SMU channel of a 2600 (``smua`` or ``smub``), voltage source / current measure."""

    VOLTAGE_LIMIT = 200.0  #: |V| bound accepted by the driver (2611B/2612B/2635B/2636B: 200 V)
    MAX_SWEEP_POINTS = 100  #: points per sweep (keeps the listv command line short)

    source_voltage = Channel.control(
        "print(smu{ch}.source.levelv)",
        "smu{ch}.source.levelv = %g",
        """Control the source voltage level in V (-200 to 200).""",
        validator=strict_range,
        values=[-VOLTAGE_LIMIT, VOLTAGE_LIMIT],
    )

    compliance_current = Channel.control(
        "print(smu{ch}.source.limiti)",
        "smu{ch}.source.limiti = %g",
        """Control the current limit in A (1 nA to 3 A, strict; 0 is rejected).""",
        validator=strict_range,
        values=[1e-9, 3.0],
    )

    nplc = Channel.control(
        "print(smu{ch}.measure.nplc)",
        "smu{ch}.measure.nplc = %g",
        """Control the measurement integration time in power-line cycles (0.001 to 25).""",
        validator=strict_range,
        values=[0.001, 25],
    )

    @property
    def _smu(self) -> str:
        return f"smu{self.id}"

    def _tsp(self, command: str) -> None:
        """Send a TSP line verbatim (no ``{ch}`` substitution, so Lua braces are safe)."""
        self.parent.write(command)

    def _tsp_query(self, command: str) -> str:
        self.parent.write(command)
        return self.parent.read()

    @property
    def idn(self) -> str:
        """Identification of the instrument this channel belongs to."""
        return self.parent.idn

    def reset(self) -> None:
        """Reset this channel only (``smuX.reset()``)."""
        self._tsp(f"{self._smu}.reset()")

    @property
    def output_enabled(self) -> bool:
        """Output state (bool); set with ``smuX.OUTPUT_ON``/``smuX.OUTPUT_OFF``."""
        value = parse_numbers(
            self._tsp_query(f"print({self._smu}.source.output)"), 1, "source.output"
        )
        return value[0] != 0

    @output_enabled.setter
    def output_enabled(self, state: bool) -> None:
        if not isinstance(state, bool):
            raise ValueError(f"output_enabled takes a bool, got {state!r}")
        constant = "OUTPUT_ON" if state else "OUTPUT_OFF"
        self._tsp(f"{self._smu}.source.output = {self._smu}.{constant}")

    def enable_output(self) -> None:
        """``smuX.source.output = smuX.OUTPUT_ON``."""
        self.output_enabled = True

    def disable_output(self) -> None:
        """``smuX.source.output = smuX.OUTPUT_OFF``."""
        self.output_enabled = False

    @property
    def compliance_tripped(self) -> bool:
        """Whether the source is presently limited (``smuX.source.compliance``)."""
        return _parse_bool(self._tsp_query(f"print({self._smu}.source.compliance)"))

    def measure_current(self) -> Reading:
        """Measure current, then read the source level and the compliance state in one line."""
        s = self._smu
        reply = self._tsp_query(f"print({s}.measure.i(), {s}.source.levelv, {s}.source.compliance)")
        fields = reply.strip().split("\t")
        if len(fields) != 3:
            raise InstrumentError(f"2600 measure_current: expected 3 fields, got {reply!r}")
        try:
            current, voltage = float(fields[0]), float(fields[1])
        except ValueError as exc:
            raise InstrumentError(f"2600 measure_current: bad reply {reply!r}") from exc
        return make_reading(voltage, current, compliance=_parse_bool(fields[2]))

    def sweep_voltages(self, voltages: Sequence[float]) -> list[Reading]:
        """Trigger-model list sweep into ``nvbuffer1``, read back with ``printbuffer``.

        The output must already be on. Readings, source values and statuses are printed
        interleaved per point; compliance is status bit B6. The source and measure actions are
        disabled again afterwards, even if the sweep failed; at the end of the sweep the
        source returns to :attr:`source_voltage` (trigger endsweep default, idle).

        :raises ValueError: empty list, more than 100 points, or a voltage out of range.
        :raises InstrumentError: malformed reply.
        """
        points = check_sweep(voltages, self.VOLTAGE_LIMIT, self.MAX_SWEEP_POINTS)
        n = len(points)
        s = self._smu
        buf = f"{s}.nvbuffer1"
        try:
            for line in (
                f"{buf}.clear()",
                f"{buf}.collectsourcevalues = 1",
                f"{s}.trigger.source.listv({{{format_list(points)}}})",
                f"{s}.trigger.source.action = {s}.ENABLE",
                f"{s}.trigger.measure.i({buf})",
                f"{s}.trigger.measure.action = {s}.ENABLE",
                f"{s}.trigger.count = {n}",
                f"{s}.trigger.initiate()",
                "waitcomplete()",
            ):
                self._tsp(line)
            reply = self._tsp_query(
                f"printbuffer(1, {n}, {buf}.readings, {buf}.sourcevalues, {buf}.statuses)"
            )
        finally:
            best_effort(
                f"{self.parent.name} {s}",
                [
                    (
                        "source action off",
                        lambda: self._tsp(f"{s}.trigger.source.action = {s}.DISABLE"),
                    ),
                    (
                        "measure action off",
                        lambda: self._tsp(f"{s}.trigger.measure.action = {s}.DISABLE"),
                    ),
                ],
            )
        numbers = parse_numbers(reply, 3, "2600 printbuffer")
        if len(numbers) != 3 * n:
            raise InstrumentError(f"2600 sweep: expected {n} points, got {len(numbers) // 3}")
        return [
            make_reading(
                numbers[3 * k + 1],
                numbers[3 * k],
                compliance=bool(status_word(numbers[3 * k + 2]) & BUFFER_STATUS_COMPLIANCE),
            )
            for k in range(n)
        ]

    def ramp_to_voltage(self, target: float, step: float, rate_v_per_s: float) -> None:
        """Ramp ``smuX.source.levelv`` from its present value to ``target`` V.

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
        """Best effort: ``levelv = 0`` then ``smuX.source.output = smuX.OUTPUT_OFF``; never raises."""
        s = self._smu
        best_effort(
            f"{self.parent.name} {s}",
            [
                ("source 0 V", lambda: self._tsp(f"{s}.source.levelv = 0")),
                ("output off", lambda: self._tsp(f"{s}.source.output = {s}.OUTPUT_OFF")),
            ],
        )


class Keithley2600(Instrument):
    """Keithley 2600/2600B over TSP; use ``.smua`` / ``.smub`` as ``SourceMeter`` objects.

    :param adapter: VISA resource name or pymeasure adapter.
    :param channels: channel letters this unit has, for :meth:`shutdown` (``("a",)`` on a
        single-channel model such as the 2601B/2611B/2635B).
    :param sleep: function used to wait between ramp steps (injectable for tests).
    """

    smua = Instrument.ChannelCreator(Keithley2600Channel, "a")
    smub = Instrument.ChannelCreator(Keithley2600Channel, "b")

    def __init__(
        self,
        adapter: object,
        name: str = "Keithley 2600 SourceMeter",
        channels: Sequence[str] = ("a", "b"),
        sleep: Callable[[float], None] = time.sleep,
        **kwargs: object,
    ) -> None:
        super().__init__(adapter, name, includeSCPI=False, **kwargs)
        unknown = set(channels) - {"a", "b"}
        if unknown or not channels:
            raise ValueError(f"channels must be a non-empty subset of ('a', 'b'), got {channels!r}")
        self._channel_ids = tuple(channels)
        self._sleep = sleep

    @property
    def idn(self) -> str:
        """Identification string from ``*IDN?``."""
        return self.ask("*IDN?").strip()

    def reset(self) -> None:
        """Reset the whole unit, all channels (``reset()``)."""
        self.write("reset()")

    def errors(self) -> list[tuple[int, str]]:
        """Drain the error queue with ``print(errorqueue.next())`` until code 0."""
        return drain_error_queue(lambda: parse_tsp_error(self.ask("print(errorqueue.next())")))

    def shutdown(self) -> None:
        """Shut down every configured channel (each best effort); never raises."""
        for ch in self._channel_ids:
            getattr(self, f"smu{ch}").shutdown()
        self.isShutdown = True
