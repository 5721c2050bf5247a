"""Keysight (Agilent) B2900 precision SMU, B2901A/B2902A (and B2911A/B2912A), SCPI.

Each output channel is a :class:`KeysightB2900Channel` (``.ch1``, ``.ch2``) implementing
``SourceMeter``. Construction sends nothing; :meth:`KeysightB2900.reset` (after ``*RST``) and
each channel's known-state sequence (``configure``) send ``:FORM:ELEM:SENS CURR,TIME,STAT,SOUR``
so that every ``:MEAS?``/``:FETC:ARR?`` returns, per point, current, time stamp, status word and
source setting (the instrument always returns elements in the order voltage, current,
resistance, time, status, source).

Command sources: *Agilent/Keysight B2900 SCPI Command Reference*: ``:FORMat:ELEMents:SENSe``;
status data bits (table 1-2: bits 1-2 = compliance, bit 13 = measurement range overflow);
``:SOURce[c]:FUNCtion:MODE``, ``:SOURce[c]:VOLTage``, ``:SOURce[c]:VOLTage:MODE LIST|FIXed``,
``:SOURce[c]:LIST:VOLTage`` (up to 2500 values), ``:SENSe[c]:CURRent:PROTection``,
``:SENSe[c]:CURRent:PROTection:TRIPped?``, ``:SENSe[c]:CURRent:NPLC``, ``:OUTPut[c]``,
``:MEASure? (@c)``, ``:INITiate (@c)``, ``:FETCh:ARRay? (@c)``, ``:SYSTem:ERRor?``. Missing data
reads ``+9.910000E+37`` ("not a number"); a reading beyond a fixed measurement range sets status
bit 13 (range compliance).

Known state (same reference): ``:ABORt (@c)``, ``*CLS``, ``:SOURce[c]:FUNCtion:MODE VOLT``,
``:SOURce[c]:VOLTage:MODE FIXed``, ``:SOURce[c]:VOLTage:RANGe:AUTO OFF`` and
``:SOURce[c]:VOLTage:RANGe`` (200 mV, 2 V, 20 V, 200 V), ``:SENSe[c]:FUNCtion``,
``:SENSe[c]:CURRent:PROTection`` (compliance), ``:SENSe[c]:VOLTage:PROTection`` (the
voltage limit, the backstop should the channel ever source current),
``:OUTPut[c]:PROTection`` (output off on compliance or over-voltage),
``:OUTPut[c]:ON:AUTO OFF`` (no automatic output-on by a measurement),
``:SENSe[c]:CURRent:RANGe[:AUTO]``, ``:SENSe[c]:CURRent:NPLC``, ``:FORMat[:DATA] ASCii``,
``:FORMat:ELEMents:SENSe CURR,TIME,STAT,SOUR``, ``:TRIGger[c][:ALL]:COUNt`` (write-only; read
back with ``:TRIGger[c]:ACQuire:COUNt?`` and ``:TRIGger[c]:TRANsient:COUNt?``) and
``:ARM[c][:ALL]:COUNt`` 1 (ARM subsystem, likewise write-only; read back per action with
``:ARM[c]:ACQuire:COUNt?`` and ``:ARM[c]:TRANsient:COUNt?``): a unit left with an arm count
above 1 would return arm x trigger count points per sweep. Every
channel of the instrument is found, made safe and verified off on open (used or not) before
the one ``*RST`` per session; at shutdown every channel is checked off again.
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
    output_state,
    parse_numbers,
    parse_scpi_error,
    scpi_number,
    status_word,
)
from mtj_hil.instruments.smu.known_state import (
    Setting,
    SettingCheck,
    SmuSettings,
    check_current_range,
    check_number,
    check_range,
    check_text,
    smallest_covering,
)
from mtj_hil.instruments.smu.lifecycle import SmuLifecycle, checked_compliance, checked_level
from mtj_hil.instruments.smu.multichannel import MultiChannelUnit

log = logging.getLogger(__name__)

#: Status data bits (B2900 SCPI reference, "Status Data").
STATUS_COMPLIANCE = 0b110  # bits 1 and 2
STATUS_OVERFLOW = 1 << 13
#: Questionable status condition bits (SCPI command reference, table 4-4).
QUESTIONABLE_CH1_PROTECTION = 1 << 2
QUESTIONABLE_TEMPERATURE = 1 << 4

SENSE_ELEMENTS = "CURR,TIME,STAT,SOUR"
_PER_POINT = 4
SOURCE_RANGES = (0.2, 2.0, 20.0, 200.0)  #: V
CURRENT_RANGES = (1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 1.5, 3.0)  #: A


class KeysightB2900Channel(GuardedChannel, SmuLifecycle, Channel):
    """One B2900 output channel, voltage source / current measure."""

    VOLTAGE_LIMIT = 210.0  #: |V| bound of the B2901A/B2902A source, V
    UNCONFIGURED_NPLC = 100.0  #: largest :SENS:CURR:NPLC at 50 Hz; timeouts before configure
    MAX_SWEEP_POINTS = 2500  #: list length limit

    source_voltage = checked_level(
        Channel.control(
            ":SOUR{ch}:VOLT?",
            ":SOUR{ch}:VOLT %s",
            """Control the source voltage level in V (-210 to 210, and within the known
            state's bound once configured).""",
            validator=strict_range,
            values=[-VOLTAGE_LIMIT, VOLTAGE_LIMIT],
            set_process=scpi_number,
        )
    )

    compliance_current = checked_compliance(
        Channel.control(
            ":SENS{ch}:CURR:PROT?",
            ":SENS{ch}:CURR:PROT %s",
            """Control the current compliance in A (1 nA to 3.03 A, strict).""",
            validator=strict_range,
            values=[1e-9, 3.03],
            set_process=scpi_number,
        )
    )

    nplc = Channel.control(
        ":SENS{ch}:CURR:NPLC?",
        ":SENS{ch}:CURR:NPLC %g",
        """Control the current-measurement integration time in power-line cycles (4e-4 to 100).""",
        validator=strict_range,
        values=[4e-4, 100],
    )

    compliance_tripped = Channel.measurement(
        ":SENS{ch}:CURR:PROT:TRIP?",
        """Get whether the channel is presently in current compliance (bool).""",
        cast=int,
        get_process=bool,
    )

    @property
    def name(self) -> str:
        return f"{self.parent.name} ch{self.id}"

    @property
    def idn(self) -> str:
        """Identification of the instrument this channel belongs to."""
        return self.parent.idn

    def reset(self) -> None:
        """Reset the whole instrument (the B2900 has no per-channel reset)."""
        self.parent.reset()

    # -- lifecycle hooks --------------------------------------------------------------------

    def _session(self) -> object:
        return self.parent

    def _sleep_fn(self) -> Callable[[float], None]:
        return self.parent._sleep  # type: ignore[no-any-return]

    def _abort_channel(self) -> None:
        self.write(":ABOR (@{ch})")

    def _source_is_voltage(self) -> bool:
        return self.ask(":SOUR{ch}:FUNC:MODE?").strip().upper().startswith("VOLT")

    def _read_level(self) -> float:
        return float(self.ask(":SOUR{ch}:VOLT?"))

    def _write_level(self, volts: float) -> None:
        self.write(f":SOUR{{ch}}:VOLT {scpi_number(volts)}")

    def _read_output(self) -> bool:
        return output_state(self.ask(":OUTP{ch}?"), f"{self._who()} channel {self.id} :OUTP?")

    def _write_output_on(self) -> None:
        self.write(":OUTP{ch} ON")

    def _write_output_off(self) -> None:
        self.write(":OUTP{ch} OFF")

    def _clear_status(self) -> None:
        self.write("*CLS")

    def _read_current_level(self) -> float:
        return float(self.ask(":SOUR{ch}:CURR?"))

    def _label(self) -> str:
        return str(self.id)

    def _close_session(self) -> bool:
        return self.parent.release(int(self.id))

    def _status_problems(self) -> list[str]:
        """The questionable status condition register (SCPI command reference,
        ``:STATus:QUEStionable:CONDition?``, table 4-4): bit 4 over temperature, bit 2 / 3
        channel 1 / 2 output relay opened by the automatic output-off at compliance."""
        word = int(float(self.ask(":STAT:QUES:COND?")))
        problems = []
        if word & QUESTIONABLE_TEMPERATURE:
            problems.append("over-temperature (:STAT:QUES:COND? bit 4)")
        if word & (QUESTIONABLE_CH1_PROTECTION << (int(self.id) - 1)):
            problems.append("output protection opened the output relay (:STAT:QUES:COND?)")
        return problems

    def _before_known_state(self, settings: SmuSettings) -> None:
        """The other channel is found, made safe and verified off before the ``*RST``."""
        self.parent.secure_unused(settings.ramp_rate, settings.ramp_step)

    def _known_state(self, s: SmuSettings) -> list[Setting]:
        """B2900 known state (SCPI command reference; see the module docstring).

        ``*RST`` (sent once per instrument and session, after every channel was made safe;
        each command's "*RST" value) puts in place, and each is read back: DC voltage source
        (``:SOURce:FUNCtion:MODE VOLT``, ``:FUNCtion:SHAPe DC``) at 0 V in FIXed mode,
        current among the sense functions, ASCii data, trigger and arm counts 1 for both
        actions, local (2-wire) sense (``:SENSe:REMote OFF``), grounded LO
        (``:OUTPut:LOW GROund``), automatic arm and trigger sources (``AINT``) with no
        delay, automatic output-off disabled (``:OUTPut:OFF:AUTO``), current autorange.
        Then the settings a station chooses, and automatic output-on off
        (``:OUTPut:ON:AUTO OFF``; *RST has it on: a measurement would switch the output on,
        even after a trip) and output protection on (``:OUTPut:PROTection``). The mains
        frequency (``:SYSTem:LFRequency?``) is checked against the station's.
        """
        src_range = smallest_covering(s.max_voltage, SOURCE_RANGES)
        q = self.ask
        reset_checks = [
            lambda: check_text("source function", "VOLT", q(":SOUR{ch}:FUNC:MODE?")),
            lambda: check_text("pulse shape", "DC", q(":SOUR{ch}:FUNC:SHAP?")),
            lambda: check_text("source mode", "FIX", q(":SOUR{ch}:VOLT:MODE?")),
            lambda: check_text(
                "sense function", '"CURR"', q(":SENS{ch}:FUNC?"), lambda r: "CURR" in r
            ),
            lambda: check_text(
                "data format", "ASC", q(":FORM:DATA?"), lambda r: r.startswith("ASC")
            ),
            lambda: check_number("trigger count (acquire)", 1, q(":TRIG{ch}:ACQ:COUN?")),
            lambda: check_number("trigger count (transient)", 1, q(":TRIG{ch}:TRAN:COUN?")),
            lambda: check_number("arm count (acquire)", 1, q(":ARM{ch}:ACQ:COUN?")),
            lambda: check_number("arm count (transient)", 1, q(":ARM{ch}:TRAN:COUN?")),
            lambda: check_text("remote sense (4-wire)", "0", q(":SENS{ch}:REM?")),
            lambda: check_text("LO terminal", "GRO", q(":OUTP{ch}:LOW?")),
            lambda: check_text("arm source (acquire)", "AINT", q(":ARM{ch}:ACQ:SOUR?")),
            lambda: check_number("arm delay (acquire, s)", 0.0, q(":ARM{ch}:ACQ:DEL?")),
            lambda: check_text("trigger source (acquire)", "AINT", q(":TRIG{ch}:ACQ:SOUR?")),
            lambda: check_number("trigger delay (acquire, s)", 0.0, q(":TRIG{ch}:ACQ:DEL?")),
            lambda: check_text("automatic output-off", "0", q(":OUTP{ch}:OFF:AUTO?")),
            lambda: check_text(
                "data elements",
                SENSE_ELEMENTS,
                q(":FORM:ELEM:SENS?"),
                lambda r: [e.strip()[:3] for e in r.split(",")] == ["CUR", "TIM", "STA", "SOU"],
            ),
        ]
        if s.current_range is None:
            reset_checks.append(
                lambda: check_text("current autorange", "1", q(":SENS{ch}:CURR:RANG:AUTO?"))
            )
        # *RST restores all six data elements: the four this driver parses follow it at once
        reset = ("*RST", f":FORM:ELEM:SENS {SENSE_ELEMENTS}") if not self.parent._reset_done else ()
        steps = [
            Setting("reset", reset, tuple(reset_checks)),
            Setting(
                "source level",
                checks=(lambda: check_number("source level (V)", 0.0, q(":SOUR{ch}:VOLT?")),),
                steady=False,
            ),
            Setting(
                "source range",
                (
                    ":SOUR{ch}:VOLT:RANG:AUTO OFF",
                    f":SOUR{{ch}}:VOLT:RANG {scpi_number(s.max_voltage)}",
                ),
                (
                    lambda: check_text("source autorange", "0", q(":SOUR{ch}:VOLT:RANG:AUTO?")),
                    lambda: check_range(
                        "source range (V)", s.max_voltage, src_range, q(":SOUR{ch}:VOLT:RANG?")
                    ),
                ),
            ),
            Setting(
                "compliance",
                (f":SENS{{ch}}:CURR:PROT {scpi_number(s.compliance)}",),
                (
                    lambda: check_number(
                        "current compliance (A)", s.compliance, q(":SENS{ch}:CURR:PROT?")
                    ),
                ),
            ),
            Setting(
                "voltage limit",
                (f":SENS{{ch}}:VOLT:PROT {scpi_number(s.max_voltage)}",),
                (
                    lambda: check_number(
                        "voltage limit (V)", s.max_voltage, q(":SENS{ch}:VOLT:PROT?")
                    ),
                ),
            ),
            Setting(
                "output protection",
                (":OUTP{ch}:PROT ON",),
                (lambda: check_text("output protection", "1", q(":OUTP{ch}:PROT?")),),
            ),
            Setting(
                "automatic output-on",
                (":OUTP{ch}:ON:AUTO OFF",),
                (lambda: check_text("automatic output-on", "0", q(":OUTP{ch}:ON:AUTO?")),),
            ),
            Setting(
                "NPLC",
                (f":SENS{{ch}}:CURR:NPLC {scpi_number(s.nplc)}",),
                (lambda: check_number("NPLC", s.nplc, q(":SENS{ch}:CURR:NPLC?")),),
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
                    (f":SENS{{ch}}:CURR:RANG {scpi_number(s.current_range)}",),
                    (
                        lambda: check_current_range(
                            s.current_range,
                            CURRENT_RANGES,
                            lambda: q(":SENS{ch}:CURR:RANG:AUTO?"),
                            lambda: q(":SENS{ch}:CURR:RANG?"),
                        ),
                    ),
                )
            )
        return steps

    def _apply_known_state(self, settings: SmuSettings) -> list[SettingCheck]:
        checks = super()._apply_known_state(settings)
        self.parent._reset_done = True
        return checks

    @staticmethod
    def _readings(reply: str, points: int, what: str) -> list[Reading]:
        numbers = parse_numbers(reply, _PER_POINT, what)
        if len(numbers) != _PER_POINT * points:
            raise InstrumentError(
                f"{what}: expected {points} points, got {len(numbers) // _PER_POINT}"
            )
        readings = []
        for k in range(points):
            current, stamp, status, source = numbers[_PER_POINT * k : _PER_POINT * (k + 1)]
            word = status_word(status)
            readings.append(
                make_reading(
                    source,
                    current,
                    compliance=bool(word & STATUS_COMPLIANCE),
                    range_compliance=bool(word & STATUS_OVERFLOW),
                    timestamp=stamp,
                )
            )
        return readings

    def measure_current(self) -> Reading:
        """Spot measurement ``:MEAS? (@c)``: current, timestamp, status word and source setting.

        Automatic output-on is switched off by :meth:`configure`, so a measurement never
        turns the output on by itself.
        """
        with self._no_reading_explained(), self.parent.io_timeout(self._work_s(1)):
            reply = self.ask(":MEAS? (@{ch});:OUTP{ch}?;:OUTP{ch}:ON:AUTO?")
        return self._readings(self._output_checked(reply, "B2900 :MEAS?"), 1, "B2900 :MEAS?")[0]

    def _output_checked(self, reply: str, what: str) -> str:
        """Split ``<data>;<output>;<auto output-on>`` and refuse data read with the output
        off mid-run, or after a reset (``*RST`` turns automatic output-on back on, so a
        measurement would switch the output on by itself and pass)."""
        parts = reply.rsplit(";", 2)
        if len(parts) != 3:
            raise InstrumentError(f"{what}: no output state after the data: {reply!r}")
        data, output, auto_on = parts
        self._confirm_reading(
            output_state(output, f"{what} (output)"),
            "automatic output-on found ON (the instrument was reset: *RST turns it on)"
            if output_state(auto_on, f"{what} (automatic output-on)")
            else None,
        )
        return data

    def sweep_voltages(self, voltages: Sequence[float]) -> list[Reading]:
        """List sweep: ``:SOUR:VOLT:MODE LIST``, list, trigger count, ``:INIT``, wait, fetch.

        Waits for completion with ``*OPC?`` (timeout scaled to the sweep) before
        ``:FETC:ARR?``. Afterwards the source is put back in fixed mode (level
        :attr:`source_voltage`) and the trigger count to 1, even if the sweep failed.

        :raises ValueError: empty list, more than 2500 points, or a voltage out of range.
        :raises SafetyViolation: a voltage beyond the configured bound.
        :raises InstrumentError: malformed reply or no reply in time.
        """
        points = check_sweep(voltages, self.VOLTAGE_LIMIT, self.MAX_SWEEP_POINTS)
        for v in points:
            self._check_level(v)
        n = len(points)
        try:
            self.write(":SOUR{ch}:FUNC:MODE VOLT")
            self.write(":SOUR{ch}:VOLT:MODE LIST")
            self.write(":SOUR{ch}:LIST:VOLT " + format_list(points))
            self.write(f":TRIG{{ch}}:COUN {n}")
            self.write(":INIT (@{ch})")
            with self._no_reading_explained(), self.parent.io_timeout(self._work_s(n)):
                done = self.ask("*OPC?").strip()
            if done != "1":
                raise InstrumentError(f"B2900 sweep: *OPC? answered {done!r}")
            reply = self._output_checked(
                self.ask(":FETC:ARR? (@{ch});:OUTP{ch}?;:OUTP{ch}:ON:AUTO?"), "B2900 :FETC:ARR?"
            )
        finally:
            best_effort(
                self.name,
                [
                    ("fixed source mode", lambda: self.write(":SOUR{ch}:VOLT:MODE FIX")),
                    ("trigger count 1", lambda: self.write(":TRIG{ch}:COUN 1")),
                ],
            )
        return self._readings(reply, n, "B2900 :FETC:ARR?")

    def errors(self) -> list[tuple[int, str]]:
        """Drain the instrument's (shared) error queue."""
        return self.parent.errors()


class KeysightB2900(MultiChannelUnit, GuardedVisa, Instrument):
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
        self._reset_done = False
        self._init_channels()
        self._init_guard()

    def all_channel_ids(self) -> tuple[int, ...]:
        """Every channel: one on a B2901A/B2911A, two on a B2902A/B2912A (``*IDN?`` model)."""
        match = re.search(r"B29\d(\d)", self.idn.upper())
        return (1,) if match and match.group(1) == "1" else (1, 2)

    def abort_commands(self) -> list[str]:
        """``:ABORt (@c)`` for every configured channel."""
        return [f":ABOR (@{ch})" for ch in self._channel_ids]

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

    def channel(self, key: int) -> KeysightB2900Channel:
        return getattr(self, f"ch{key}")  # type: ignore[no-any-return]
