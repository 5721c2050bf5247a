"""One source-measure channel of a virtual SMU: its state and the physics of a point.

See :mod:`mtj_hil.sim.lab.smu.core` for the model; the instrument around the channels (error
queue, clock, faults, history) is :class:`~mtj_hil.sim.lab.smu.core.VirtualInstrument`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import numpy as np

from mtj_hil.sim.lab.clock import VirtualClock

__all__ = ["Applied", "ChannelDefaults", "Load", "Point", "SmuChannel", "range_for"]

Load = Callable[[float], float]


class ChannelHost(Protocol):
    """What a channel uses of the instrument that owns it (a
    :class:`~mtj_hil.sim.lab.smu.core.VirtualInstrument`): its clock and imperfections, the
    faults it injects and the history it keeps."""

    clock: VirtualClock
    line_frequency: float
    gain: float
    offset: float
    noise_abs: float
    noise_rel: float
    rng: np.random.Generator
    faults: Any
    history: list[Any]
    measured: list[Any]
    points_measured: int

    def extra_conditions(self, channel: Any) -> dict[str, Any]:
        """Dialect settings a point is taken with, beyond the shared ones."""
        ...

    def timestamp(self) -> float:
        """Seconds since the instrument's clock started."""
        ...


@dataclass(frozen=True)
class Applied:
    """One applied change of a channel's output or source (what reached the terminals).

    ``voltage`` is the programmed voltage level (V), ``output`` the relay state, ``function``
    the source function (``"VOLT"``/``"CURR"``), ``current`` the programmed current level (A),
    ``channel`` the channel name and ``terminal`` the voltage then on the terminals (V; 0 with
    the output off). Equality compares the first four fields, so ``Applied(0.0, False)`` names
    "output off at a 0 V level" whatever the channel. Indexable like a tuple.
    """

    voltage: float
    output: bool
    function: str = "VOLT"
    current: float = 0.0
    channel: str = field(default="1", compare=False)
    terminal: float = field(default=0.0, compare=False)

    def __getitem__(self, index: int) -> Any:
        return (self.voltage, self.output, self.function, self.current)[index]

    def __iter__(self) -> Iterator[Any]:
        return iter((self.voltage, self.output, self.function, self.current))


class Point(NamedTuple):
    """One measurement point: terminal voltage (V), current reading (A), what limited it and
    the settings it was taken with (``conditions``, see :meth:`SmuChannel.conditions`)."""

    voltage: float
    current: float
    time: float
    compliance: bool = False
    range_compliance: bool = False
    overflow: bool = False
    ovp: bool = False
    conditions: dict[str, Any] | None = None

    @property
    def beyond_range(self) -> bool:
        """Whether the current is no number the instrument can report: an overflow, or beyond
        a fixed measurement range. The 2450, 2600 and B2900 send both as their overflow
        number (with a status bit); the 2400 clamps the reading and sets its range-compliance
        status bit instead (:attr:`range_compliance`)."""
        return self.overflow or self.range_compliance


@dataclass
class ChannelDefaults:
    """Power-on / reset state of one channel; each dialect passes its manual's values."""

    source_function: str = "VOLT"
    level_v: float = 0.0
    level_i: float = 0.0
    limit_i: float = 105e-6
    limit_v: float = 21.0
    ovp: float = 210.0
    v_range: float = 20.0
    v_range_auto: bool = True
    i_src_range: float = 1e-4
    i_src_range_auto: bool = True
    i_range: float = 1e-4
    i_range_auto: bool = True
    nplc: float = 1.0
    output: bool = False
    mode: str = "FIX"
    sweep: list[float] = field(default_factory=list)
    trigger_count: int = 1
    #: FRONt or REAR terminals (2400/2450); the lab's die is wired to the front ones
    terminals: str = "FRON"
    #: remote (4-wire) sense; the lab wires no sense leads
    remote_sense: bool = False
    #: averaging filter: on, type (REP repeating / MOV moving), count of conversions
    filter_on: bool = False
    filter_type: str = "REP"
    filter_count: int = 10
    #: relative offset (REL / null): on and the level subtracted from every reading, A
    rel_on: bool = False
    rel_level: float = 0.0
    autozero: bool = True
    #: source delay before each measurement, s (``source_delay_auto``: the model's own,
    #: range dependent and short, not booked on the clock)
    source_delay: float = 0.0
    source_delay_auto: bool = True
    #: delay of each trigger (measurement) event, s
    trigger_delay: float = 0.0
    #: output switched off after each measurement (2400 :SOUR:CLE:AUTO, B2900 :OUTP:OFF:AUTO)
    auto_off: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class SmuChannel:
    """One source-measure channel: state plus physics (see the module docstring).

    :param name: channel name (``"1"``, ``"a"``...).
    :param instrument: the owning instrument (clock, imperfections, history, faults).
    :param load: the device on this channel's terminals; ``None`` = open terminals (0 A).
    :param defaults: factory of the power-on state.
    """

    def __init__(
        self,
        name: str,
        instrument: ChannelHost,
        load: Load | None,
        defaults: Callable[[], ChannelDefaults],
    ) -> None:
        self.name = name
        self.instrument = instrument
        self.load = load
        self._defaults = defaults
        self.state = defaults()
        self._stack: list[float] = []  # moving-average filter conversions

    def reset(self) -> None:
        """Back to the power-on state (output off; recorded if it was on)."""
        was_on = self.state.output
        self.state = self._defaults()
        self._stack = []
        if was_on:
            self.record()

    def program_level(
        self, function: str, value: float, ranges: Sequence[float], headroom: float
    ) -> bool:
        """Set the source level of ``function`` (``"VOLT"``: ``value`` in V, else A) and record it.

        With the source range on auto the range becomes the smallest of ``ranges`` holding
        ``value``; on a fixed range a level beyond ``headroom`` times the range is refused:
        nothing changes and False is returned (the dialect reports its own error).
        """
        st = self.state
        volt = function == "VOLT"
        rng = "v_range" if volt else "i_src_range"
        if getattr(st, rng + "_auto"):
            setattr(st, rng, range_for(value, ranges))
        elif abs(value) > getattr(st, rng) * headroom:
            return False
        if volt:
            st.level_v = value
        else:
            st.level_i = value
        self.record()
        return True

    # ------------------------------------------------------------------ terminals

    def terminal_voltage(self, level: float | None = None) -> float:
        """Voltage on the terminals, V (0 with the output off)."""
        st = self.state
        if not st.output:
            return 0.0
        if st.source_function == "VOLT":
            if st.remote_sense:
                return self.runaway_voltage()
            v = st.level_v if level is None else level
            return max(-st.ovp, min(st.ovp, v))  # in compliance: an upper bound
        return self._solve_voltage(st.level_i if level is None else level)[0]

    def record(self, level: float | None = None) -> None:
        """Append the present output/source state to the instrument's history."""
        st = self.state
        volt_level = st.level_v if level is None or st.source_function != "VOLT" else level
        curr_level = st.level_i if level is None or st.source_function != "CURR" else level
        self.instrument.history.append(
            Applied(
                volt_level,
                st.output,
                st.source_function,
                curr_level,
                self.name,
                self.terminal_voltage(level),
            )
        )

    def runaway_voltage(self) -> float:
        """Remote sense with no sense leads wired: the loop sees no voltage and drives the
        output to what the range and the protection allow, V."""
        st = self.state
        return min(
            st.ovp, st.v_range * 1.05, st.limit_v if st.source_function == "CURR" else math.inf
        )

    def _raw_current(self, volts: float) -> float:
        if self.load is None or self.state.terminals != "FRON":
            return 0.0  # open terminals: nothing is wired to the rear ones
        return float(self.load(volts))

    def conditions(self) -> dict[str, Any]:
        """The settings a point is taken with (kept on every :class:`Point`)."""
        st = self.state
        return {
            "nplc": st.nplc,
            "line_frequency": self.instrument.line_frequency,
            "terminals": st.terminals,
            "remote_sense": st.remote_sense,
            "filter": (st.filter_type, st.filter_count) if st.filter_on else None,
            "rel": st.rel_level if st.rel_on else None,
            "autozero": st.autozero,
            "source_delay": 0.0 if st.source_delay_auto else st.source_delay,
            "trigger_delay": st.trigger_delay,
            "auto_off": st.auto_off,
            "i_range": None if st.i_range_auto else st.i_range,
            "limit_i": st.limit_i,
            "limit_v": st.limit_v,
            "ovp": st.ovp,
            "v_range": st.v_range,
            "v_range_auto": st.v_range_auto,
            **self.instrument.extra_conditions(self),
        }

    def _solve_voltage(self, amps: float) -> tuple[float, bool]:
        """Terminal voltage at which the load draws ``amps``; (voltage, in compliance)."""
        vmax = min(self.state.limit_v, self.state.ovp)
        hi_i = self._raw_current(vmax)
        lo_i = self._raw_current(-vmax)
        if not (math.isfinite(hi_i) and math.isfinite(lo_i)):
            return (math.copysign(vmax, amps) if amps else 0.0), True
        if amps >= hi_i:
            return vmax, amps > hi_i
        if amps <= lo_i:
            return -vmax, amps < lo_i
        lo, hi = -vmax, vmax
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if self._raw_current(mid) < amps:
                lo = mid
            else:
                hi = mid
        return 0.5 * (lo + hi), False

    # ------------------------------------------------------------------ measurement

    def integrate(self) -> None:
        """Book one integration time (NPLC / line frequency) on the clock."""
        inst = self.instrument
        inst.clock.advance(self.state.nplc / inst.line_frequency)

    def measure(self, level: float | None = None) -> Point:
        """One point at the present level (or ``level`` of the source function), time booked:
        source and trigger delays, then the integration of every conversion the filter
        needs. The reading is the filter's (repeating: the mean of ``filter_count`` fresh
        conversions; moving: of the last ``filter_count`` conversions, earlier points
        included), minus the REL level when REL is on."""
        inst = self.instrument
        st = self.state
        # the automatic source delay is range dependent and short: not booked
        inst.clock.advance((0.0 if st.source_delay_auto else st.source_delay) + st.trigger_delay)
        conversions = st.filter_count if st.filter_on and st.filter_type == "REP" else 1
        values = []
        point = None
        for _ in range(conversions):
            point = self._convert(level)
            values.append(point.current)
        assert point is not None
        inst.points_measured += 1
        current = point.current
        if not (point.overflow or point.compliance or point.range_compliance):
            if st.filter_on and st.filter_type == "MOV":
                self._stack = (self._stack + [current])[-st.filter_count :]
                current = sum(self._stack) / len(self._stack)
            elif st.filter_on:
                current = sum(values) / len(values)
            if st.rel_on:
                current -= st.rel_level
        point = point._replace(current=current, conditions=self.conditions())
        inst.measured.append((self.name, point))
        return point

    def _convert(self, level: float | None) -> Point:
        """One A/D conversion (integration time booked).

        A voltage source whose load would draw more than the current limit is in compliance:
        it becomes a current source at the limit and the load sets the voltage (2400 User's
        Manual, section 6 "Compliance"; 2600B Reference Manual, "Source-measure limits"), so
        a 1 kohm load set to 1 V with a 100 uA limit reads 0.1 V and 100 uA. That voltage is
        taken from the one reading of the load, ``V I_limit / I`` (exact for an ohmic load):
        asking the load again would read the die again (noise, disturb, time).
        :meth:`terminal_voltage` keeps the programmed voltage, an upper bound."""
        inst = self.instrument
        st = self.state
        self.integrate()
        faults = inst.faults
        now = inst.timestamp()
        if not st.output:
            return Point(0.0, 0.0, now)
        compliance = False
        ovp = False
        if st.source_function == "VOLT":
            target = st.level_v if level is None else level
            volts = max(-st.ovp, min(st.ovp, target))
            ovp = volts != target
            if st.remote_sense:
                volts = self.runaway_voltage()
            current = self._raw_current(volts)
            if not st.remote_sense and math.isfinite(current) and abs(current) > st.limit_i:
                volts, compliance = volts * st.limit_i / abs(current), True
        else:
            volts, compliance = self._solve_voltage(st.level_i if level is None else level)
            current = self._raw_current(volts)
        if math.isfinite(current):
            current = inst.gain * current + inst.offset
            if inst.noise_abs or inst.noise_rel:
                # white noise given at 1 NPLC, averaged down over the integration: a tenth of
                # the time, sqrt(10) times the noise; ten times the time, a third of it
                sigma = math.hypot(inst.noise_abs, inst.noise_rel * current)
                current += inst.rng.gauss(0.0, sigma / math.sqrt(st.nplc))
        if faults.overflow:
            faults.overflow -= 1
            return Point(volts, math.inf, now, overflow=True)
        if not math.isfinite(current):
            return Point(volts, math.inf, now, overflow=True)
        if st.source_function == "VOLT" and (
            faults.compliance or compliance or abs(current) > st.limit_i
        ):
            if faults.compliance:
                faults.compliance -= 1
            sign = current if current else (volts or 1.0)
            return Point(volts, math.copysign(st.limit_i, sign), now, compliance=True, ovp=ovp)
        if not st.i_range_auto and abs(current) > st.i_range * 1.05:
            current = math.copysign(st.i_range * 1.05, current)
            return Point(volts, current, now, compliance, range_compliance=True, ovp=ovp)
        return Point(volts, current, now, compliance, ovp=ovp)

    def run(self) -> list[Point]:
        """Run the trigger model: ``trigger_count`` points, a list sweep if mode is LIST.

        The source steps through the list (repeating it when the count is larger) and
        returns to the fixed level afterwards; every step is recorded in the history.
        """
        st = self.state
        points = []
        for k in range(st.trigger_count):
            if st.mode == "LIST":
                level = st.sweep[k % len(st.sweep)]
                self.record(level)
                points.append(self.measure(level))
            else:
                points.append(self.measure())
        if st.mode == "LIST":
            self.record()
        return points


def range_for(value: float, ranges: Iterable[float]) -> float:
    """Smallest range (of an ascending sequence) holding ``|value|`` (5 % over-range)."""
    options = list(ranges)
    value = abs(value)
    return next((r for r in options if value <= r * 1.05), options[-1])
