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
``smuX.trigger.initiate()``, ``waitcomplete()``, ``smuX.abort()``. Over-range readings are
``9.91e37``: a current beyond a fixed measurement range reads as that overflow (the 2600's
range compliance), so it is reported as ``overflow``, never as a number.

Known state (same manual): ``smuX.reset()``, ``errorqueue.clear()``, ``smuX.source.func =
smuX.OUTPUT_DCVOLTS``, ``smuX.source.autorangev = smuX.AUTORANGE_OFF``,
``smuX.source.rangev`` (a value selects the smallest range that holds it: 100 mV, 1 V, 6 V,
40 V on the 2601B/2602B/2604B; 200 mV, 2 V, 20 V, 200 V on the 2611B/2612B/2614B/2634B/
2635B/2636B), ``smuX.source.limitv`` (the source's voltage limit, the model's backstop
should the channel ever source current), ``smuX.source.limiti``, ``smuX.measure.autorangei``
/ ``smuX.measure.rangei``, ``smuX.measure.nplc``, ``smuX.measure.count``, ``format.data =
format.ASCII``, reading-buffer ``collecttimestamps``. Every attribute is read back with
``print()``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence

from pymeasure.instruments import Channel, Instrument
from pymeasure.instruments.validators import strict_range

from mtj_hil.instruments.bus.visa_session import GuardedChannel, GuardedVisa
from mtj_hil.instruments.errors import InstrumentError
from mtj_hil.instruments.smu.base import (
    Reading,
    best_effort,
    check_sweep,
    drain_error_queue,
    format_list,
    make_reading,
    parse_numbers,
    scpi_number,
    status_word,
)
from mtj_hil.instruments.smu.health import ChannelFound
from mtj_hil.instruments.smu.keithley2600_state import tsp_known_state
from mtj_hil.instruments.smu.known_state import Setting, SmuSettings
from mtj_hil.instruments.smu.lifecycle import SmuLifecycle, checked_compliance, checked_level
from mtj_hil.instruments.smu.multichannel import MultiChannelUnit
from mtj_hil.instruments.smu.tsp_replies import (
    parse_bool,
    parse_tsp_error,
    tsp_number,
    tsp_output_state,
)

log = logging.getLogger(__name__)

#: Reading-buffer status bit B6: source limited by compliance.
BUFFER_STATUS_COMPLIANCE = 0x40
#: status.questionable bits (reference manual appendix E): B12 over temperature, B10 high
#: voltage not ready (interlock not engaged).
QUESTIONABLE_OTEMP = 1 << 12
QUESTIONABLE_HIGHV_NOT_READY = 1 << 10


class Keithley2600Channel(GuardedChannel, SmuLifecycle, Channel):
    """One SMU channel of a 2600 (``smua`` or ``smub``), voltage source / current measure."""

    VOLTAGE_LIMIT = 200.0  #: |V| bound accepted by the driver (2611B/2612B/2635B/2636B: 200 V)
    MAX_SWEEP_POINTS = 100  #: points per sweep (keeps the listv command line short)
    UNCONFIGURED_NPLC = 25.0  #: largest smuX.measure.nplc; timeouts before configure

    source_voltage = checked_level(
        Channel.control(
            "print(smu{ch}.source.levelv)",
            "smu{ch}.source.levelv = %s",
            """Control the source voltage level in V (-200 to 200, and within the known
            state's bound once configured).""",
            validator=strict_range,
            values=[-VOLTAGE_LIMIT, VOLTAGE_LIMIT],
            set_process=scpi_number,
        )
    )

    compliance_current = checked_compliance(
        Channel.control(
            "print(smu{ch}.source.limiti)",
            "smu{ch}.source.limiti = %s",
            """Control the current limit in A (1 nA to 3 A, strict; 0 is rejected).""",
            validator=strict_range,
            values=[1e-9, 3.0],
            set_process=scpi_number,
        )
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

    def _label(self) -> str:
        return str(self.id)

    def _close_session(self) -> bool:
        return self.parent.release(str(self.id))

    @property
    def name(self) -> str:
        return f"{self.parent.name} {self._smu}"

    def _tsp(self, command: str) -> None:
        """Send a TSP line verbatim (no ``{ch}`` substitution, so Lua braces are safe)."""
        self.parent.write(command)

    def _tsp_query(self, command: str) -> str:
        with self.parent._io(command):
            self.parent.write(command)
            return self.parent.read()

    def _print(self, expression: str) -> str:
        return self._tsp_query(f"print({expression})")

    @property
    def idn(self) -> str:
        """Identification of the instrument this channel belongs to."""
        return self.parent.idn

    def reset(self) -> None:
        """Reset this channel only (``smuX.reset()``)."""
        self._tsp(f"{self._smu}.reset()")

    # -- lifecycle hooks --------------------------------------------------------------------

    def _session(self) -> object:
        return self.parent

    def _sleep_fn(self) -> Callable[[float], None]:
        return self.parent._sleep  # type: ignore[no-any-return]

    def _abort_channel(self) -> None:
        self._tsp(f"{self._smu}.abort()")

    def _prepare_dialect(self) -> None:
        # print() of a number follows format.data: binary (REAL32/64) replies would be
        # unreadable, so ASCII comes before any query (reference manual, format.data).
        self._tsp("format.data = format.ASCII")

    def _source_is_voltage(self) -> bool:
        return tsp_number(self._print(f"{self._smu}.source.func")) == 1

    def _read_level(self) -> float:
        return tsp_number(self._print(f"{self._smu}.source.levelv"))

    def _write_level(self, volts: float) -> None:
        self._tsp(f"{self._smu}.source.levelv = {scpi_number(volts)}")

    def _read_output(self) -> bool:
        return tsp_output_state(
            self._print(f"{self._smu}.source.output"), f"{self._who()} {self._smu}.source.output"
        )

    def _write_output_on(self) -> None:
        self._tsp(f"{self._smu}.source.output = {self._smu}.OUTPUT_ON")

    def _write_output_off(self) -> None:
        self._tsp(f"{self._smu}.source.output = {self._smu}.OUTPUT_OFF")

    def _clear_status(self) -> None:
        # *CLS: the status model's event registers (the power-on bit of *ESR? included) and
        # the error queue (2600B reference manual, "Common commands")
        self._tsp("*CLS")

    def _send(self, command: str) -> None:
        self._tsp(command)

    def _read_current_level(self) -> float:
        return tsp_number(self._print(f"{self._smu}.source.leveli"))

    def _event_status(self) -> int:
        return int(tsp_number(self._tsp_query("*ESR?")))

    def _questionable(self) -> int:
        return int(tsp_number(self._print("status.questionable.condition")))

    def _status_problems(self) -> list[str]:
        """Over temperature and the high-voltage interlock from the questionable status
        condition register (2600B reference manual, appendix E "Questionable Status
        Registers" and ``status.questionable.*``: bit B12 OTEMP = 4096, over temperature;
        bit B10 HIGHV_NOT_READY = 1024, interlock not engaged, 2611B/2612B/2614B/2634B/
        2635B/2636B): B12 set, or B10 changed since open, is reported."""
        word = self._questionable()
        problems = []
        if word & QUESTIONABLE_OTEMP:
            problems.append("over-temperature (status.questionable bit B12 OTEMP)")
        opened = self.parent._open_questionable
        if opened is not None and (word ^ opened) & QUESTIONABLE_HIGHV_NOT_READY:
            problems.append("interlock changed since open (status.questionable bit B10)")
        return problems

    def _before_known_state(self, settings: SmuSettings) -> None:
        """The other channels of the unit are found, made safe and verified off first."""
        self.parent.secure_unused(settings.ramp_rate, settings.ramp_step)
        self.parent._open_questionable = self._questionable()

    def _known_state(self, st: SmuSettings) -> list[Setting]:
        """The 2600B known state (see :func:`tsp_known_state`)."""
        return tsp_known_state(self, st)

    @property
    def smu_name(self) -> str:
        """The TSP name of this channel (``smua``, ``smub``)."""
        return self._smu

    @property
    def unit_idn(self) -> str:
        """The unit's identity string."""
        return self.parent.idn

    def print_value(self, expression: str) -> str:
        """The unit's ``print()`` of ``expression``."""
        return self._print(expression)

    @property
    def compliance_tripped(self) -> bool:
        """Whether the source is presently limited (``smuX.source.compliance``)."""
        return parse_bool(self._tsp_query(f"print({self._smu}.source.compliance)"))

    def measure_current(self) -> Reading:
        """Measure current, then read the source level, the compliance state and the output
        relay in the same line (a 26xx measures with the output off too: after a reset or a
        power cycle 0 A would pass as a reading).

        Raises:
            InstrumentStateLost: the output was off while the run had it on.
        """
        s = self._smu
        with self._no_reading_explained(), self.parent.io_timeout(self._work_s(1)):
            reply = self._tsp_query(
                f"print({s}.measure.i(), {s}.source.levelv, {s}.source.compliance, "
                f"{s}.source.output)"
            )
        fields = reply.strip().split("\t")
        if len(fields) != 4:
            raise InstrumentError(f"2600 measure_current: expected 4 fields, got {reply!r}")
        self._confirm_reading(tsp_output_state(fields[3], f"{self._who()} measure_current"))
        try:
            current, voltage = float(fields[0]), float(fields[1])
        except ValueError as exc:
            raise InstrumentError(f"2600 measure_current: bad reply {reply!r}") from exc
        return make_reading(voltage, current, compliance=parse_bool(fields[2]), no_data_value=None)

    def sweep_voltages(self, voltages: Sequence[float]) -> list[Reading]:
        """Trigger-model list sweep into ``nvbuffer1``, read back with ``printbuffer``.

        The output must already be on. Readings, source values, statuses and timestamps are
        printed interleaved per point; compliance is status bit B6. The wait for completion
        has a timeout scaled to the sweep. The source and measure actions are disabled again
        afterwards, even if the sweep failed; at the end of the sweep the source returns to
        :attr:`source_voltage` (trigger endsweep default, idle).

        :raises ValueError: empty list, more than 100 points, or a voltage out of range.
        :raises SafetyViolation: a voltage beyond the configured bound.
        :raises InstrumentError: malformed reply or no reply in time.
        """
        points = check_sweep(voltages, self.VOLTAGE_LIMIT, self.MAX_SWEEP_POINTS)
        for v in points:
            self._check_level(v)
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
            ):
                self._tsp(line)
            with self._no_reading_explained(), self.parent.io_timeout(self._work_s(n)):
                self._tsp("waitcomplete()")
                reply = self._tsp_query(
                    f"printbuffer(1, {n}, {buf}.readings, {buf}.sourcevalues, {buf}.statuses, "
                    f"{buf}.timestamps)"
                )
                self._confirm_reading(
                    tsp_output_state(self._print(f"{s}.source.output"), f"{self._who()} sweep")
                )
        finally:
            best_effort(
                self.name,
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
        numbers = parse_numbers(reply, 4, "2600 printbuffer")
        if len(numbers) != 4 * n:
            raise InstrumentError(f"2600 sweep: expected {n} points, got {len(numbers) // 4}")
        return [
            make_reading(
                numbers[4 * k + 1],
                numbers[4 * k],
                compliance=bool(status_word(numbers[4 * k + 2]) & BUFFER_STATUS_COMPLIANCE),
                timestamp=numbers[4 * k + 3],
                no_data_value=None,
            )
            for k in range(n)
        ]

    def errors(self) -> list[tuple[int, str]]:
        """Drain the instrument's (shared) error queue."""
        return self.parent.errors()


class Keithley2600(MultiChannelUnit, GuardedVisa, Instrument):
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
        self._open_questionable: int | None = None
        self._init_channels()
        self._init_guard()

    def all_channel_ids(self) -> tuple[str, ...]:
        """Every channel of the unit: one on a 2601B/2611B/2635B (model number ending in 1
        or 5), two otherwise (2602B/2604B/2612B/2614B/2634B/2636B)."""
        match = re.search(r"MODEL\s*26\d(\d)", self.idn.upper())
        return ("a",) if match and match.group(1) in ("1", "5") else ("a", "b")

    def abort_commands(self) -> list[str]:
        """``smuX.abort()`` for every configured channel."""
        return [f"smu{ch}.abort()" for ch in self._channel_ids]

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

    def channel(self, key: str) -> Keithley2600Channel:
        return getattr(self, f"smu{key}")  # type: ignore[no-any-return]

    def _secure(self, key: str, rate: float, step: float) -> ChannelFound:
        """Make safe as the base, then ``smuX.reset()`` (output off, 0 V) and read back."""
        ch = self.channel(key)
        found = ch._make_safe(rate, step, used=False)
        ch._tsp(f"smu{key}.reset()")
        secured = not ch._read_output()
        return ChannelFound(
            found.channel, found.output, found.function, found.level, secured, False
        )
