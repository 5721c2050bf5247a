"""Open-to-close life of an SMU channel, shared by every driver: known state, guarded
output-on, ramps, and a shutdown that works mid-sweep.

A driver mixes in :class:`SmuLifecycle` and provides a few small hooks (its model's commands):
``_abort_channel``, ``_source_is_voltage``, ``_read_level``, ``_write_level``,
``_write_output_off``, ``_read_output``, ``_write_output_on``, ``_clear_status``,
``_known_state(settings) -> list[Setting]`` (the model's sequence, each step citing its manual),
``errors()``, ``_session()`` (the :class:`~mtj_hil.instruments.bus.visa_session.GuardedVisa`
that owns the wire) and ``_sleep_fn()``; mid-run checks come from
:class:`~mtj_hil.instruments.smu.health.SmuHealth`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from mtj_hil.instruments.bus.signals import HeldInterrupt
from mtj_hil.instruments.bus.transport import measurement_timeout
from mtj_hil.instruments.errors import InstrumentError, SafetyViolation
from mtj_hil.instruments.smu.base import check_voltage, scpi_number, sent_number
from mtj_hil.instruments.smu.health import ChannelFound, SmuHealth
from mtj_hil.instruments.smu.known_state import (
    KnownState,
    KnownStateMixin,
    Setting,
    SettingCheck,
    SmuSettings,
    SourceCeiling,
)
from mtj_hil.instruments.smu.levels import SourceLevels

log = logging.getLogger(__name__)


def checked_level(control: property) -> property:
    """A driver's ``source_voltage`` from its pymeasure ``control`` (whose set command
    carries the value exactly, ``set_process=scpi_number``): set only within the known
    state's bound (:meth:`SmuLifecycle._check_level`, SafetyViolation beyond it), the
    control's own range check (ValueError) and command unchanged."""

    def fset(self: SmuLifecycle, volts: float) -> None:
        volts = self._check_level(volts)
        control.fset(self, volts)  # type: ignore[misc]
        self._expect_level = sent_number(volts)

    return property(control.fget, fset, doc=control.__doc__)


def checked_compliance(control: property) -> property:
    """A driver's ``compliance_current`` from its pymeasure ``control``: set only at or below
    the compliance of the known state (before ``configure``: of the owner's ceiling), so a
    caller can tighten the limit mid-run but never raise it past what was verified
    (SafetyViolation); the control's own range check and command unchanged."""

    def fset(self: SmuLifecycle, amps: float) -> None:
        control.fset(self, self._check_compliance(amps))  # type: ignore[misc]

    return property(control.fget, fset, doc=control.__doc__)


#: Ramp used when a shutdown comes before any ``configure`` (V/s, V).
DEFAULT_RAMP = (1.0, 0.05)


class SmuLifecycle(SourceLevels, SmuHealth, KnownStateMixin):
    """Known state on open, refused output-on in any other state, ramps, shutdown."""

    _settings: SmuSettings | None = None
    #: the channel as found by the last ``configure`` (before it was made safe)
    found: ChannelFound | None = None
    #: channel label in reports (``"a"``, ``"1"``; single-channel instruments: ``"1"``)
    CHANNEL_LABEL = "1"
    #: NPLC an I/O timeout assumes before ``configure`` (the model's slowest integration).
    UNCONFIGURED_NPLC: float = 10.0
    #: the most the channel's owner lets ``configure`` ask for (None: the model's limits)
    ceiling: SourceCeiling | None = None

    # -- hooks (drivers override) ---------------------------------------------------------

    def _abort_channel(self) -> None:
        raise NotImplementedError

    def _source_is_voltage(self) -> bool:
        raise NotImplementedError

    def _read_level(self) -> float:
        raise NotImplementedError

    def _write_level(self, volts: float) -> None:
        raise NotImplementedError

    def _read_output(self) -> bool:
        raise NotImplementedError

    def _write_output_on(self) -> None:
        raise NotImplementedError

    def _write_output_off(self) -> None:
        raise NotImplementedError

    def _clear_status(self) -> None:
        raise NotImplementedError

    def _known_state(self, settings: SmuSettings) -> list[Setting]:
        """The model's known-state sequence for ``settings`` (builds closures; sends nothing)."""
        raise NotImplementedError

    def _send(self, command: str) -> None:
        """Send one known-state command (channels substitute ``{ch}``)."""
        self.write(command)  # type: ignore[attr-defined]

    def _read_current_level(self) -> float:
        """The programmed current level, A (only read when the channel sources current)."""
        raise NotImplementedError

    def _before_known_state(self, settings: SmuSettings) -> None:
        """Hook run after this channel is safe and before its sequence: a multi-channel
        instrument secures its other channels and resets once here."""

    def _apply_known_state(self, settings: SmuSettings) -> list[SettingCheck]:
        """Send every command of the sequence in order, then run every read-back."""
        steps = self._known_state(settings)
        for step in steps:
            for command in step.commands:
                self._send(command)
        return [check() for step in steps for check in step.checks]

    def _prepare_dialect(self) -> None:
        """Put the reply format into a state the driver can parse, before any query (models
        whose query replies depend on a data-format setting override this)."""

    def _session(self) -> object:
        return self

    def _sleep_fn(self) -> Callable[[float], None]:
        return self._sleep  # type: ignore[attr-defined,no-any-return]

    def _work_s(self, points: int) -> float:
        """I/O timeout, s, for a measurement of ``points`` points at the configured NPLC and
        line frequency (before ``configure``: :attr:`UNCONFIGURED_NPLC` at 50 Hz)."""
        st = self._settings
        nplc, lf = (
            (st.nplc, st.line_frequency) if st is not None else (self.UNCONFIGURED_NPLC, 50.0)
        )
        return measurement_timeout(points, nplc, lf, commands=2)

    # -- open -----------------------------------------------------------------------------

    def configure(self, settings: SmuSettings) -> KnownState:
        """Bring the channel to the known state for ``settings`` and verify it.

        Sequence: abort; a live output is ramped to 0 V (voltage source) at
        ``settings.ramp_rate`` and switched off; status cleared and stale errors drained;
        the model's settings sent; every setting read back; the error queue drained.
        Never turns the output on.

        Returns:
            the :class:`KnownState` (also kept in :attr:`known_state`); ``ok`` is False when
            a setting differs or the instrument queued an error.

        Raises:
            SafetyViolation: ``settings`` above the owner's :attr:`ceiling` (nothing sent).
            InstrumentError: the instrument does not answer (or speaks the wrong dialect).
        """
        self._check_ceiling(settings)
        self.known_state = None
        self._settings = settings
        self._expect_output = None
        self._expect_level = None
        try:
            self._prepare_dialect()
            self._open_idn = self.idn  # type: ignore[attr-defined]
            self._make_safe(settings.ramp_rate, settings.ramp_step)
            self._expect_output = False
            self._before_known_state(settings)
            self._clear_status()
            stale = tuple(self.errors())  # type: ignore[attr-defined]
            if stale:
                log.warning("%s: cleared stale errors on open: %s", self._who(), stale)
            checks = self._apply_known_state(settings)
            errors = tuple(self.errors())  # type: ignore[attr-defined]
        except (ValueError, TypeError) as exc:  # a garbled reply pymeasure could not cast
            raise InstrumentError(
                f"{self._who()}: unreadable reply during the known-state sequence: {exc}"
            ) from exc
        self.known_state = KnownState(tuple(checks), errors, stale, settings)
        if not self.known_state.ok:
            log.error("%s: known state not reached: %s", self._who(), self.known_state.problems())
        return self.known_state

    def _check_ceiling(self, settings: SmuSettings) -> None:
        """Refuse (SafetyViolation) ``settings`` above the owner's :attr:`ceiling`, before
        anything is sent."""
        refusal = self.ceiling.refusal(settings) if self.ceiling is not None else None
        if refusal is not None:
            raise SafetyViolation(f"{self._who()}: configure refused: {refusal}")

    def _survey(self, used: bool = True) -> ChannelFound:
        """Read the channel's output, source function and level (sends queries only). A
        voltage level is read twice (:meth:`_level_read_twice`, bounded by the model's
        source, ``VOLTAGE_LIMIT``): NaN when the two replies do not confirm one level."""
        output = self._read_output()
        volts = self._source_is_voltage()
        if volts:
            level = self._level_read_twice(getattr(self, "VOLTAGE_LIMIT", math.inf))
        else:
            level = self._read_current_level()
        return ChannelFound(self._label(), output, "VOLT" if volts else "CURR", level, used=used)

    def _label(self) -> str:
        return self.CHANNEL_LABEL

    def _make_safe(self, rate: float, step: float, used: bool = True) -> ChannelFound:
        """Abort; a live voltage source is ramped to 0 V at ``rate`` in steps of ``step``, a
        live current source is switched off at once; the output is read back. Returns the
        channel as found, with ``secured`` telling whether off was confirmed."""
        self._abort_channel()
        found = self._survey(used)
        if found.output:
            if found.function == "VOLT":
                # an unconfirmed level (NaN) is not ramped from: 0 V is set at once, a step
                # down from whatever is on the terminals that never raises them
                self._ramp(found.level, 0.0, step, rate)
            self._write_output_off()
            log.warning("%s: found %s", self._who(), found.describe())
        found = ChannelFound(
            found.channel, found.output, found.function, found.level, not self._read_output(), used
        )
        self.found = found
        return found

    # -- output ---------------------------------------------------------------------------

    def enable_output(self) -> None:
        """Switch the output on, only in the verified known state.

        Raises:
            InstrumentError: not configured, a setting differs, or errors were queued.
        """
        self.require_known_state()
        self._write_output_on()
        self._expect_output = True

    def disable_output(self) -> None:
        """Switch the output off."""
        self._write_output_off()
        if self._expect_output is not None:
            self._expect_output = False

    @property
    def output_enabled(self) -> bool:
        """Output relay state (read from the instrument); setting True goes through
        :meth:`enable_output`."""
        return self._read_output()

    @output_enabled.setter
    def output_enabled(self, state: bool) -> None:
        if not isinstance(state, bool):
            raise ValueError(f"output_enabled takes a bool, got {state!r}")
        if state:
            self.enable_output()
        else:
            self.disable_output()

    # -- levels (ramps and bounds: :class:`SourceLevels`) ---------------------------------

    def ramp_to_voltage(self, target: float, step: float, rate_v_per_s: float) -> None:
        """Ramp the source level from its present value to ``target`` V, steps of at most
        ``step`` V, waiting ``|dV| / rate_v_per_s`` s after each.

        The present level is read twice and must agree within the configured bound.

        Raises:
            ValueError: non-positive step or rate, or a target beyond the model's source
                (nothing sent).
            SafetyViolation: target beyond the configured bound (nothing sent).
            InstrumentError: the present level is not confirmed by two reads (a garbled
                or late reply; :meth:`_level_read_twice`): nothing written.
        """
        if not (step > 0 and rate_v_per_s > 0):
            raise ValueError("ramp step and rate must be positive")
        target = self._check_level(check_voltage(target, self.VOLTAGE_LIMIT))  # type: ignore[attr-defined]
        bound = self._level_bound()
        start = self._level_read_twice(bound)
        if math.isnan(start):
            raise InstrumentError(
                f"{self._who()}: the source level did not read back as one level within "
                f"+-{scpi_number(bound)} V twice; no ramp to {scpi_number(target)} V starts "
                "from it (nothing written)"
            )
        self._ramp(start, target, step, rate_v_per_s)

    # -- close ----------------------------------------------------------------------------

    def shutdown(self, close: bool = True) -> bool:
        """Make the channel safe, mid-sweep or not.

        Each step is tried even if an earlier one failed: abort and device clear (the
        session's recovery), ramp to 0 V at the configured ramp rate, output off, output
        state read back (off sent and read back once more unless it read off), session
        closed. The log states the confirmed final state, and
        :attr:`off_confirmed` keeps it. A multi-channel instrument's last used channel also
        checks the channels the station does not use off again: one of those not confirmed
        off makes the shutdown unconfirmed too.

        Args:
            close: close the session at the end (a multi-channel instrument closes it once,
                after its last channel).

        Returns:
            True only when the read-back confirmed the output off.

        Raises:
            KeyboardInterrupt: Ctrl-C (or a stop signal) arrived during the shutdown; it is
                raised only after every step has been tried (the result is then in
                :attr:`off_confirmed`). Nothing else is raised.
        """
        rate, step = (
            (self._settings.ramp_rate, self._settings.ramp_step)
            if self._settings is not None
            else DEFAULT_RAMP
        )
        session = self._session()
        notes: list[str] = []
        hold = HeldInterrupt()
        self.off_confirmed = False

        def attempt(label: str, action: Callable[[], object]) -> object:
            try:
                with hold:
                    return action()
                notes.append(f"{label} interrupted (Ctrl-C held until the shutdown ends)")
            except Exception as exc:  # noqa: BLE001 - shutdown must reach every step
                notes.append(f"{label} failed ({exc})")
            return None

        self._expect_output = self._expect_level = None
        if getattr(self, "foreign_dialect", None):
            if close:
                attempt("close", self._close_session)
            log.error(
                "%s: shutdown: the instrument speaks %s, not this driver's language: nothing "
                "sent, output state NOT confirmed (left as found)",
                self._who(),
                self.foreign_dialect,  # type: ignore[attr-defined]
            )
            hold.release()
            return False
        recover = getattr(session, "recover", None)
        if recover is not None:
            attempt("abort/clear", recover)
        else:
            attempt("abort", self._abort_channel)
        attempt("reply format", self._prepare_dialect)
        # the level is read twice (_level_read_twice): a stale or garbled reply, ramped down
        # from, would first raise the output to it
        attempt("ramp to 0 V", lambda: self._ramp_down_found_level(step, rate))
        attempt("source 0 V", lambda: self._write_level(0.0))
        attempt("output off", self._write_output_off)
        state = attempt("output read-back", self._read_output)
        if state is not False:
            # the off command or its read-back was lost (a link dropped and reopened by the
            # recovery, a reply garbled): off is sent again and read back once more
            attempt("output off, again", self._write_output_off)
            state = attempt("output read-back, again", self._read_output)
        confirmed = state is False
        closed = bool(attempt("close", self._close_session)) if close else False
        others_off = self._others_off()
        if not others_off:
            notes.append("a channel the station does not use was NOT confirmed off")
        confirmed = confirmed and others_off
        self.known_state = None
        who = self._who()
        if confirmed:
            log.info(
                "%s: shutdown: output confirmed OFF at 0 V; session %s",
                who,
                "closed" if closed else ("left open" if not close else "NOT closed"),
            )
        else:
            log.error(
                "%s: shutdown: output state NOT confirmed (read-back %s); %s",
                who,
                {True: "ON", False: "off", None: "failed"}[state],  # type: ignore[index]
                "; ".join(notes) or "no step failed",
            )
        self.isShutdown = True
        self.off_confirmed = confirmed
        hold.release()
        return confirmed

    #: what the last :meth:`shutdown` confirmed (False before any shutdown)
    off_confirmed: bool = False

    def _others_off(self) -> bool:
        """After this channel's shutdown: whether the unit's channels the station does not
        use were confirmed off (a channel of a multi-channel unit asks its unit, which checks
        them after its last used channel; True for a single-channel instrument)."""
        unit = getattr(self, "parent", None)
        return getattr(unit, "unused_off", None) is not False

    def _close_session(self) -> bool:
        """Close the wire at the end of a shutdown; True if closed. A channel of a shared
        instrument hands this to the instrument (closed after its last channel)."""
        closer = getattr(self._session(), "close_session", None)
        return bool(closer()) if closer is not None else False

    def close(self) -> None:
        """Shut down (see :meth:`shutdown`)."""
        self.shutdown()


def refuse_dialect(who: str, reply: str) -> InstrumentError:
    """The error for a Keithley 2450 that does not speak its native SCPI."""
    lang = reply.strip().strip('"').upper()
    return InstrumentError(
        f"{who}: the instrument's command set is {lang or '(no answer)'}, not SCPI; on its front "
        "panel or over the bus send *LANG SCPI, then power-cycle it (the change takes effect "
        "only after a restart)"
    )
