"""Source levels of an SMU channel: the configured bound, a level read back twice, and ramps
that never start from a level they cannot trust. A mixin of
:class:`~mtj_hil.instruments.smu.lifecycle.SmuLifecycle`, which provides the hooks it calls
(``_read_level``, ``_write_level``, ``_sleep_fn``, ``_who``, ``_settings``)."""

from __future__ import annotations

import logging
import math

from mtj_hil.errors import apart
from mtj_hil.instruments.errors import InstrumentError, SafetyViolation
from mtj_hil.instruments.smu.base import ramp_points, scpi_number, sent_number

log = logging.getLogger("mtj_hil.instruments.smu.lifecycle")  # the records they always had


class SourceLevels:
    """Levels and ramps of a channel (see the module docstring)."""

    #: the level (V) this driver last wrote, as the instrument received it (None: not
    #: tracked: before the first write since ``configure``, or after a shutdown); the
    #: mid-run health check reads the level back against it
    _expect_level: float | None = None

    def _level_bound(self) -> float:
        """The level (V) a run never exceeds: the configured bound, else the model's source."""
        settings = getattr(self, "_settings", None)
        if settings is not None and settings.max_voltage is not None:
            return settings.max_voltage
        return getattr(self, "VOLTAGE_LIMIT", math.inf)

    def _level_read_twice(self, bound: float) -> float:
        """The programmed voltage level, V, from two level queries in a row, or NaN when
        they do not confirm one level: a reply that is not a number, is beyond ``bound``
        (V), or differs from the other (a garbled reply, or another query's answer arriving
        late, reads as a level the output is not at; ramping down from it would first drive
        the output there). The query is the model's programmed-level query:
        ``:SOURce[1]:VOLTage[:LEVel][:IMMediate][:AMPLitude]?`` (*2400 Series SourceMeter
        User's Manual* 2400S-900-01, section 18, SOURce subsystem, "Query programmed
        amplitude of V-Source"; *Model 2450 Reference Manual* 2450-901-01, section 6,
        ``:SOURce[1]:<function>[:LEVel][:IMMediate][:AMPLitude]?``), ``:SOURce<c>:VOLTage?``
        on the B2900 (*B2900 SCPI Command Reference*, chapter 4, ``[:SOURce[c]]:<CURRent|
        VOLTage>[:LEVel][:IMMediate][:AMPLitude]?``: "returns the present setting") and
        ``print(smuX.source.levelv)`` on the 26xx (*Series 2600B Reference Manual*,
        ``smuX.source.levelv``). Each returns the programmed setting, not a measurement, so a
        level nobody changes reads the same twice.

        Raises:
            InstrumentError: neither query was answered (the last one's error).
        """
        readings: list[float] = []
        replies: list[str] = []
        failure: InstrumentError | None = None
        for _ in range(2):
            try:
                value = float(self._read_level())
            except InstrumentError as exc:  # no answer, or a TSP reply that is no number
                failure, value = exc, math.nan
                replies.append(f"unreadable ({exc})")
            except (ValueError, TypeError) as exc:  # a SCPI reply pymeasure could not cast
                value = math.nan
                replies.append(f"unreadable ({exc})")
            else:
                replies.append(f"{value!r} V")
            readings.append(value)
        if failure is not None and all(math.isnan(v) for v in readings):
            raise failure
        first, second = readings
        plausible = all(math.isfinite(v) and abs(v) <= bound * (1 + 1e-9) for v in readings)
        if plausible and math.isclose(first, second, rel_tol=1e-9, abs_tol=1e-12):
            return first
        log.warning(
            "%s: source level read back as %s, then %s (bound +-%s V): not confirmed, no "
            "ramp starts from it",
            self._who(),
            *replies,
            scpi_number(bound) if math.isfinite(bound) else "none",
        )
        return math.nan

    # -- levels ---------------------------------------------------------------------------

    def _bound_of(self, name: str) -> float | None:
        """The tighter of the known state's and the owner's ceiling's ``name``
        (``max_voltage`` V or ``compliance`` A); None when neither is set."""
        bounds = [
            getattr(holder, name)
            for holder in (getattr(self, "_settings", None), getattr(self, "ceiling", None))
            if holder is not None
        ]
        return min(bounds) if bounds else None

    def _check_compliance(self, amps: float) -> float:
        """``amps`` as a float once it (and the value the instrument receives for it) is at
        most the known state's compliance and the owner's ceiling (A).

        Raises:
            SafetyViolation: above either, or not a number.
        """
        amps = float(amps)
        limit = self._bound_of("compliance")
        if limit is not None and not (amps <= limit and sent_number(amps) <= limit):
            raise SafetyViolation(
                f"{self._who()}: compliance {amps!r} A above the verified {limit!r} A "
                "(configure a new known state to change it)"
            )
        return amps

    def _check_level(self, volts: float) -> float:
        """``volts`` as a float, once it and the level the instrument will receive for it
        (:func:`~mtj_hil.instruments.smu.base.sent_number`, 6 significant digits) lie within
        the configured bound.

        Raises:
            SafetyViolation: either beyond the bound (or not a number).
        """
        volts = float(volts)
        limit = self._bound_of("max_voltage")
        if limit is None:
            return volts
        if not abs(volts) <= limit * (1 + 1e-9):
            shown, bound = apart(abs(volts), limit)
            sign = "-" if volts < 0 else ""
            raise SafetyViolation(
                f"{self._who()}: source level {sign}{shown} V outside the configured "
                f"+-{bound} V (the known state's or owner's source bound)"
            )
        if not abs(sent_number(volts)) <= limit:
            raise SafetyViolation(
                f"{self._who()}: source level {volts!r} V goes to the instrument as "
                f"{scpi_number(volts)} V (6 significant digits), outside the configured "
                f"+-{limit!r} V (the known state's or owner's source bound)"
            )
        return volts

    def _ramp(self, start: float, target: float, step: float, rate: float) -> list[float]:
        """Write the set-points from ``start`` (a level read back; NaN: not known, ``target``
        is written at once, a step that never raises the output) to ``target``. Returns the
        points written."""
        points = ramp_points(start, target, step) if math.isfinite(start) else [target]
        previous = start if math.isfinite(start) else target
        sleep = self._sleep_fn()
        for point in points:
            self._write_level(point)
            self._expect_level = sent_number(point)
            sleep(abs(point - previous) / rate)
            previous = point
        return points

    def _ramp_down_found_level(self, step: float, rate: float) -> None:
        """At shutdown: ramp to 0 V from the level two reads in a row confirm within the
        model's source (``VOLTAGE_LIMIT``); an unconfirmed level gets 0 V at once.

        A confirmed level beyond the run's own bound (:meth:`_level_bound`) was set by
        someone else (the front panel, another client): the output is there, so it is ramped
        down from too rather than dropped in one step, and the log names it."""
        bound = self._level_bound()
        level = self._level_read_twice(getattr(self, "VOLTAGE_LIMIT", math.inf))
        if math.isfinite(level) and not abs(level) <= bound * (1 + 1e-9):
            log.warning(
                "%s: source level found at %s V, beyond the +-%s V the run sets (changed from "
                "the front panel or by another client): ramping down from it",
                self._who(),
                scpi_number(level),
                scpi_number(bound),
            )
        self._ramp(level, 0.0, step, rate)
