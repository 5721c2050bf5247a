"""Known state on open: what every SMU driver sets, reads back and checks before output-on.

A driver's ``configure(settings)`` runs its model's sequence (abort; a live output is ramped
to 0 V and switched off; status and errors cleared; dialect checked; source function
voltage, sense current, the smallest fixed source range covering ``settings.max_voltage``,
the model's over-voltage protection or source limit, current compliance, current-range
policy, NPLC, data format and trigger count), reads every setting back and drains the error
queue. The result is a :class:`KnownState`; ``enable_output()`` refuses, with one
:class:`~mtj_hil.instruments.errors.InstrumentError` naming the setting, the value asked and the
value read, unless the last ``configure`` matched everything and left no error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mtj_hil.instruments.errors import InstrumentError

__all__ = [
    "KnownState",
    "Setting",
    "KnownStateMixin",
    "SettingCheck",
    "SmuSettings",
    "SourceCeiling",
    "check_current_range",
    "check_number",
    "check_range",
    "check_text",
    "smallest_covering",
]


@dataclass(frozen=True)
class SmuSettings:
    """What the known state must be (SI units).

    Attributes:
        max_voltage: largest |V| this SMU may ever source (the envelope's bound), V.
        compliance: current compliance, A.
        nplc: integration time, power-line cycles.
        current_range: fixed current-measurement range, A, or ``None`` for autorange.
        line_frequency: mains frequency, Hz (for timeouts).
        ramp_rate: largest slew of DC level changes (open and shutdown ramps), V/s.
        ramp_step: largest single level step of those ramps, V.
    """

    max_voltage: float
    compliance: float
    nplc: float = 1.0
    current_range: float | None = None
    line_frequency: float = 50.0
    ramp_rate: float = 1.0
    ramp_step: float = 0.05

    def __post_init__(self) -> None:
        for key in ("max_voltage", "compliance", "nplc", "line_frequency", "ramp_rate"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"SmuSettings.{key} must be a positive number, got {value!r}")
        if self.current_range is not None and not self.current_range > 0:
            raise ValueError(f"SmuSettings.current_range must be > 0 A, got {self.current_range!r}")
        if not self.ramp_step > 0:
            raise ValueError(f"SmuSettings.ramp_step must be > 0 V, got {self.ramp_step!r}")


@dataclass(frozen=True)
class SourceCeiling:
    """The most the owner of a channel (a station) lets it be configured for, whatever a
    caller asks of ``configure``: ``max_voltage`` (V, |source level|) and ``compliance``
    (A, current limit)."""

    max_voltage: float
    compliance: float

    def refusal(self, settings: SmuSettings) -> str | None:
        """Why ``settings`` go beyond this ceiling (None: they do not)."""
        beyond = [
            f"{name} {asked!r} {unit} above the owner's {bound!r} {unit}"
            for name, asked, bound, unit in (
                ("source bound", settings.max_voltage, self.max_voltage, "V"),
                ("compliance", settings.compliance, self.compliance, "A"),
            )
            if not asked <= bound
        ]
        return "; ".join(beyond) or None


@dataclass(frozen=True)
class SettingCheck:
    """One setting: its name, the value asked, the value the instrument reported, and
    whether they agree."""

    name: str
    asked: str
    read: str
    ok: bool

    def describe(self) -> str:
        return f"{self.name}: asked {self.asked}, instrument reports {self.read}"


@dataclass(frozen=True)
class Setting:
    """One step of a model's known-state sequence: the commands that put it in place (none for
    a setting that is only checked, e.g. the mains frequency) and the read-backs that verify
    it, each a function returning a :class:`SettingCheck`.

    ``steady`` settings are read back again mid-run (:meth:`SmuLifecycle.check_health
    <mtj_hil.instruments.smu.lifecycle.SmuLifecycle.check_health>`); the source level is not
    steady (a run moves it). A step's commands are sent in the order of the sequence; every
    check runs after the last command.
    """

    name: str
    commands: tuple[str, ...] = ()
    checks: tuple[Callable[[], SettingCheck], ...] = ()
    steady: bool = True


@dataclass(frozen=True)
class KnownState:
    """Result of a driver's ``configure``: every setting checked plus the errors left."""

    checks: tuple[SettingCheck, ...]
    errors: tuple[tuple[int, str], ...] = ()
    stale_errors: tuple[tuple[int, str], ...] = field(default=(), compare=False)
    settings: SmuSettings | None = field(default=None, compare=False)

    @property
    def ok(self) -> bool:
        """All settings match and the sequence left no error in the queue."""
        return all(c.ok for c in self.checks) and not self.errors

    def problems(self) -> list[str]:
        """One line per mismatched setting or queued error (empty when :attr:`ok`)."""
        lines = [c.describe() for c in self.checks if not c.ok]
        lines += [f"error queue: {code} {message}" for code, message in self.errors]
        return lines


def _parse_float(reply: str) -> float | None:
    try:
        value = float(reply.strip().strip('"'))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def check_number(name: str, asked: float, reply: str, rel: float = 1e-6) -> SettingCheck:
    """Compare a numeric read-back with the value asked (relative tolerance ``rel``)."""
    value = _parse_float(reply)
    ok = value is not None and math.isclose(value, asked, rel_tol=rel, abs_tol=1e-15)
    return SettingCheck(name, f"{asked:.10g}", reply.strip() or "(empty)", ok)


def check_range(name: str, needed: float, expected: float | None, reply: str) -> SettingCheck:
    """A range read-back must cover ``needed`` and (when the model's table is known) be the
    ``expected`` smallest such range (5 % slack for over-range headroom in the reply)."""
    value = _parse_float(reply)
    asked = f"{expected:g}" if expected is not None else f">= {needed:g}"
    ok = value is not None and value >= needed * (1 - 1e-9)
    if ok and expected is not None:
        ok = value <= expected * 1.051  # type: ignore[operator]
    return SettingCheck(name, asked, reply.strip() or "(empty)", ok)


def check_text(
    name: str, asked: str, reply: str, accept: Callable[[str], bool] | None = None
) -> SettingCheck:
    """Compare a text read-back (case, blanks and quotes ignored) or apply ``accept``."""
    norm = reply.strip().strip('"').strip().upper()
    ok = accept(norm) if accept is not None else norm == asked.upper()
    return SettingCheck(name, asked, reply.strip() or "(empty)", ok)


def check_current_range(
    needed: float | None,
    ranges: Sequence[float],
    read_auto: Callable[[], str],
    read_range: Callable[[], str],
) -> SettingCheck:
    """The measure current range of a SCPI SMU: with ``needed`` ``None`` (A) autorange must
    read back on (``1``), else the fixed range must be the smallest of the model's ``ranges``
    covering ``needed``. Only the read-back that applies is queried (``read_auto`` or
    ``read_range``, each returning the instrument's reply)."""
    if needed is None:
        return check_text("current autorange", "1", read_auto())
    expected = smallest_covering(needed, ranges)
    return check_range("current range (A)", needed, expected, read_range())


def smallest_covering(value: float, choices: Sequence[float]) -> float | None:
    """The smallest of ``choices`` at or above ``|value|``, or ``None``."""
    return next((c for c in sorted(choices) if c >= abs(value) * (1 - 1e-9)), None)


class KnownStateMixin:
    """Holds the last :class:`KnownState` and guards output-on with it."""

    known_state: KnownState | None = None

    def _who(self) -> str:
        label = getattr(self, "resource_label", None)
        name = getattr(self, "name", "SMU")
        return f"{name} at {label}" if label else str(name)

    def require_known_state(self) -> None:
        """Raise unless the last ``configure`` verified every setting.

        Raises:
            InstrumentError: never configured, or a setting differs (names setting, asked
                and read values), or the sequence left an error in the queue.
        """
        state = self.known_state
        if state is None:
            raise InstrumentError(
                f"{self._who()}: output-on refused: the known-state sequence has not run "
                "(configure the SMU first)"
            )
        if not state.ok:
            raise InstrumentError(
                f"{self._who()}: output-on refused: {'; '.join(state.problems())}"
            )
