"""The instrument-neutral source-measure-unit interface and the helpers its drivers share.

Everything here is plain Python: no wire traffic. Drivers in this package turn these
conventions into SCPI or TSP commands.

Conventions (all drivers):

* SI units throughout: volts, amperes, seconds.
* Overflow and "no data" are kept apart. The Keithley 2400/2450 send ``9.9e37`` for an
  over-range reading and ``9.91e37`` ("not a number") for an element that was not measured;
  the 2600 sends ``9.91e37`` for over-range; the B2900 sends ``9.91e37`` for missing data and
  flags over-range in its status word. Each driver passes its model's "no data" sentinel to
  :func:`make_reading`; any other huge or non-finite value is an overflow. The
  :class:`Reading` then carries ``current = nan`` and ``overflow`` or ``no_data``, never the
  sentinel.
* Compliance: each :class:`Reading` carries the instrument's own compliance (current-limit)
  flag for that point, and separately *range* compliance (the reading was clipped by a fixed
  measurement range, e.g. 2400 status bit 16), both decoded from its status word.
* Timestamps: the instrument's own time of the point (s, its own clock) where the model
  returns one, else ``None``.
"""

from __future__ import annotations

import inspect
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from mtj_hil.instruments.errors import InstrumentError

log = logging.getLogger(__name__)

#: Magnitude at or above which a returned number is an instrument overflow sentinel.
OVERFLOW_THRESHOLD = 9.9e37

#: The SCPI "not a number" value: an element that holds no measurement.
NO_DATA_VALUE = 9.91e37

#: Upper bound on error-queue entries read by one :func:`drain_error_queue` call.
MAX_ERROR_DRAIN = 100


@dataclass(frozen=True, slots=True)
class Reading:
    """One source-measure point.

    :param voltage: source voltage at the point, V (nan if the instrument gave none).
    :param current: measured current, A; nan when ``overflow`` is set.
    :param compliance: the source was limited by the current compliance at this point.
    :param overflow: the measurement was over range; ``current`` is then nan.
    :param range_compliance: the reading was clipped by a fixed measurement range (its value
        is a bound, not the device's current).
    :param no_data: the instrument returned "no measurement" for the current; it is nan.
    :param timestamp: the instrument's time of the point, s (its own clock), or ``None``.
    """

    voltage: float
    current: float
    compliance: bool
    overflow: bool
    range_compliance: bool = False
    no_data: bool = False
    timestamp: float | None = None

    @property
    def trustworthy(self) -> bool:
        """True when the current is a real, unclipped measurement."""
        return not (self.compliance or self.overflow or self.range_compliance or self.no_data)

    def untrusted_because(self) -> list[str]:
        """Why the current is not a measurement, in plain words (empty when trustworthy)."""
        return [
            text
            for flag, text in (
                (self.compliance, "the source hit its current compliance (a short on the "
                 "path, or a compliance set too low)"),
                (self.range_compliance, "the current exceeded the fixed measurement range (a "
                 "range set too low here or by another client)"),
                (self.overflow, "the measurement overflowed its range"),
                (self.no_data, "the instrument returned no measurement (9.91E37, SCPI NaN)"),
            )
            if flag
        ]  # fmt: skip


def smu_name(smu: Any, role: str = "sense") -> str:
    """The SMU as its own messages name it (``SMU sense (keithley2400) at ADDR``, from its
    ``_who``), or ``<role> SMU`` when it cannot say."""
    who = getattr(smu, "_who", None)
    text = who() if callable(who) else ""
    return text if role in text else f"{role} SMU" + (f" ({text})" if text else "")


def is_overflow(value: float) -> bool:
    """True when ``value`` is an overflow sentinel or not a finite number."""
    return not math.isfinite(value) or abs(value) >= OVERFLOW_THRESHOLD


def make_reading(
    voltage: float,
    current: float,
    compliance: bool,
    overflow: bool = False,
    *,
    range_compliance: bool = False,
    timestamp: float | None = None,
    no_data_value: float | None = NO_DATA_VALUE,
) -> Reading:
    """Build a :class:`Reading`, turning sentinels into nan plus a flag.

    A current equal to ``no_data_value`` (the model's "not measured" sentinel; ``None`` when
    the model has none) is ``no_data``; any other sentinel or non-finite value is an
    overflow. ``overflow`` forces the overflow flag (e.g. from a status bit) even when the
    number looks finite. A sentinel timestamp becomes ``None``.
    """
    current = float(current)
    no_data = (
        no_data_value is not None
        and not overflow
        and math.isfinite(current)
        and math.isclose(abs(current), no_data_value, rel_tol=1e-4)
    )
    overflow = not no_data and (bool(overflow) or is_overflow(current))
    if timestamp is not None and is_overflow(timestamp):
        timestamp = None
    return Reading(
        voltage=math.nan if is_overflow(voltage) else float(voltage),
        current=math.nan if (overflow or no_data) else current,
        compliance=bool(compliance),
        overflow=overflow,
        range_compliance=bool(range_compliance),
        no_data=no_data,
        timestamp=None if timestamp is None else float(timestamp),
    )


def parse_numbers(reply: str, expected_multiple: int, what: str) -> list[float]:
    """Split a comma/tab/space separated numeric reply into floats.

    :raises InstrumentError: if a field is not a number, or the count is not a positive
        multiple of ``expected_multiple``.
    """
    fields = [f for f in re.split(r"[\s,]+", reply.strip()) if f]
    try:
        numbers = [float(f) for f in fields]
    except ValueError as exc:
        raise InstrumentError(f"{what}: non-numeric reply {reply!r}") from exc
    if not numbers or len(numbers) % expected_multiple:
        raise InstrumentError(
            f"{what}: expected a multiple of {expected_multiple} values, got {len(numbers)}: "
            f"{reply!r}"
        )
    return numbers


def status_word(value: float | str) -> int:
    """Turn a status element (sent as a float such as ``4.00000e+00``, or ``0x..`` hex) into an int."""
    if isinstance(value, str):
        text = value.strip()
        if text.lower().startswith("0x"):
            return int(text, 16)
        value = float(text)
    if not math.isfinite(value) or value < 0:
        raise InstrumentError(f"invalid status word {value!r}")
    return int(value)


def output_state(reply: str, what: str) -> bool:
    """The output relay state in a SCPI ``:OUTPut[1][:STATe]?`` reply: ``1``/``ON`` is on,
    ``0``/``OFF`` is off (*2400 Series SourceMeter User's Manual* 2400S-900-01, section 18,
    OUTPut subsystem; *Model 2450 Reference Manual* 2450-901-01, section 6,
    ``:OUTPut[1][:STATe]``; Keysight B2900 SCPI command reference, ``:OUTPut[:STATe]``: the
    query returns 0 or 1).

    Anything else (an empty line, junk before the digit, another query's answer that arrived
    late) says nothing about the output and is refused: an output-off confirmation must never
    rest on a reply that merely is not "1".

    Raises:
        InstrumentError: the reply is not one of those (the message names ``what``).
    """
    text = reply.strip().upper()
    if text in ("1", "ON"):
        return True
    if text in ("0", "OFF"):
        return False
    raise InstrumentError(f"{what}: output state reply {reply!r} is neither 0 nor 1")


_SCPI_ERROR = re.compile(r'^\s*([+-]?\d+)\s*,\s*"?(.*?)"?\s*$', re.DOTALL)


def parse_scpi_error(reply: str) -> tuple[int, str]:
    """Parse a SCPI ``:SYST:ERR?`` reply such as ``-113,"Undefined header"``.

    :raises InstrumentError: if the reply is not of that form.
    """
    match = _SCPI_ERROR.match(reply)
    if match is None:
        raise InstrumentError(f"unparseable error-queue reply {reply!r}")
    return int(match.group(1)), match.group(2)


def drain_error_queue(
    next_error: Callable[[], tuple[int, str]], limit: int = MAX_ERROR_DRAIN
) -> list[tuple[int, str]]:
    """Call ``next_error`` until it reports code 0; return the non-zero entries, oldest first.

    Stops after ``limit`` entries (logging a warning) so a misbehaving instrument cannot
    hang the caller.
    """
    found: list[tuple[int, str]] = []
    for _ in range(limit):
        code, message = next_error()
        if code == 0:
            return found
        found.append((code, message))
    log.warning("error queue still not empty after %d entries", limit)
    return found


def check_voltage(value: float, limit: float) -> float:
    """Return ``value`` as float if finite and within ``[-limit, limit]`` V, else raise ValueError."""
    value = float(value)
    if not math.isfinite(value) or abs(value) > limit:
        raise ValueError(f"voltage {value!r} V outside [-{limit:g}, {limit:g}] V")
    return value


def check_sweep(voltages: Sequence[float], limit: float, max_points: int) -> list[float]:
    """Validate a list-sweep: 1..``max_points`` finite voltages within ``[-limit, limit]`` V.

    :raises ValueError: on an empty or too long list or any bad value.
    """
    points = [check_voltage(v, limit) for v in voltages]
    if not points:
        raise ValueError("a voltage sweep needs at least one point")
    if len(points) > max_points:
        raise ValueError(f"{len(points)} sweep points exceed this instrument's {max_points}")
    return points


def scpi_number(value: float) -> str:
    """A number as every SMU command carries it: 10 significant digits (an SCPI NRf
    number, IEEE 488.2 section 7.7.2.1, may carry any), more than any SMU resolves (6 1/2
    digits) so the instrument gets what the station asked, and few enough to drop
    arithmetic's last bits (``0.30000000000000004`` goes as ``0.3``). Safety checks compare
    :func:`sent_number` with their bounds."""
    return f"{float(value):.10g}"


def sent_number(value: float) -> float:
    """The value the instrument receives for ``value`` (:func:`scpi_number` read back)."""
    return float(scpi_number(value))


def format_list(values: Sequence[float]) -> str:
    """Comma-separated :func:`scpi_number` rendering of a list of numbers."""
    return ",".join(scpi_number(v) for v in values)


def ramp_points(start: float, target: float, step: float) -> list[float]:
    """Intermediate set-points from ``start`` (excluded) to ``target`` (included).

    Consecutive points differ by at most ``step``; the list is empty when start equals target.
    """
    if not (math.isfinite(step) and step > 0):
        raise ValueError(f"ramp step must be a positive number of volts, got {step!r}")
    delta = target - start
    if delta == 0:
        return []
    count = max(1, math.ceil(abs(delta) / step - 1e-9))
    points = [start + delta * k / count for k in range(1, count)]
    points.append(target)
    return points


def run_ramp(
    set_voltage: Callable[[float], None],
    start: float,
    target: float,
    step: float,
    rate_v_per_s: float,
    sleep: Callable[[float], None],
) -> list[float]:
    """Step from ``start`` to ``target``; after each step wait ``|dV| / rate`` seconds.

    The slew therefore never exceeds ``rate_v_per_s`` on average over any step, and no
    single step is larger than ``step``. Returns the set-points sent.

    :raises ValueError: for a non-positive step or rate (before anything is sent).
    """
    if not (math.isfinite(rate_v_per_s) and rate_v_per_s > 0):
        raise ValueError(f"ramp rate must be a positive number of V/s, got {rate_v_per_s!r}")
    points = ramp_points(start, target, step)
    previous = start
    for point in points:
        set_voltage(point)
        sleep(abs(point - previous) / rate_v_per_s)
        previous = point
    return points


def best_effort(name: str, actions: Sequence[tuple[str, Callable[[], object]]]) -> list[str]:
    """Run every action in order even if some fail; log and return the failures.

    Used by ``shutdown()``: a failing step must not stop the steps after it (in particular
    the output-off command), and nothing is raised.
    """
    failures: list[str] = []
    for label, action in actions:
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - shutdown must never raise
            log.error("%s: shutdown step %r failed: %r", name, label, exc)
            failures.append(f"{label}: {exc!r}")
    return failures


_MISSING = object()


class _StaticProtocolMeta(type(Protocol)):  # type: ignore[misc]
    """Protocol metaclass whose ``isinstance`` looks attributes up statically.

    Python 3.11's ``runtime_checkable`` uses ``hasattr``, which would *evaluate* each property
    and so send queries to the instrument. Here ``isinstance(x, SourceMeter)`` only checks that
    the names exist on the object or its class, without calling anything.
    """

    def __instancecheck__(cls, instance: object) -> bool:
        members = getattr(cls, "_static_members", None)
        if members is None:
            return super().__instancecheck__(instance)
        return all(inspect.getattr_static(instance, m, _MISSING) is not _MISSING for m in members)


@runtime_checkable
class SourceMeter(Protocol, metaclass=_StaticProtocolMeta):
    """What the rest of mtj-hil may rely on from any SMU channel (SI units).

    ``isinstance(obj, SourceMeter)`` is safe on live instruments: it sends nothing.
    """

    @property
    def idn(self) -> str:
        """Identification string (``*IDN?``)."""
        ...

    def reset(self) -> None:
        """Return the instrument to its reset defaults."""
        ...

    source_voltage: float
    """Programmed source level, V."""
    compliance_current: float
    """Current compliance (limit), A; out-of-range values raise ValueError."""
    nplc: float
    """Current-measurement integration time, power-line cycles."""
    output_enabled: bool
    """Output relay state."""

    def enable_output(self) -> None: ...

    def disable_output(self) -> None: ...

    def measure_current(self) -> Reading:
        """One source-measure point at the present source level."""
        ...

    def sweep_voltages(self, voltages: Sequence[float]) -> list[Reading]:
        """Buffered list sweep: one :class:`Reading` per voltage, in order."""
        ...

    def ramp_to_voltage(self, target: float, step: float, rate_v_per_s: float) -> None:
        """Move the source level to ``target`` in steps of at most ``step`` V, slower than the rate."""
        ...

    def errors(self) -> list[tuple[int, str]]:
        """Read and clear the error queue; ``[]`` if empty."""
        ...

    def configure(self, settings: Any) -> Any:
        """Known state on open (``mtj_hil.instruments.smu.known_state``); returns a ``KnownState``."""
        ...

    def shutdown(self) -> bool:
        """Abort, ramp to 0 V, output off, confirm, close; never raises; True if confirmed off."""
        ...


SourceMeter._static_members = (  # type: ignore[attr-defined]
    "idn",
    "reset",
    "source_voltage",
    "compliance_current",
    "nplc",
    "output_enabled",
    "enable_output",
    "disable_output",
    "measure_current",
    "sweep_voltages",
    "ramp_to_voltage",
    "errors",
    "configure",
    "shutdown",
)
