"""What an SMU channel was found doing, and the mid-run checks that keep every reading honest.

:class:`ChannelFound` is one channel's state as a driver found it on open (or at shutdown):
output relay, source function and level. Multi-channel instruments keep one per channel, used
or not, so ``station check`` can report live outputs first.

Mid-run trust (:func:`health_problems`): a reading is only as good as the state it was taken
in. The drivers re-check, at each array boundary and before a run file records an array:

* the standard event status register's power-on bit (IEEE 488.2 ``*ESR?``, bit 7 PON, set
  when the instrument powers up, cleared by reading it or ``*CLS``): a power cycle;
* the identity (``*IDN?``) against the one read on open: another instrument answers;
* the output relay against the state the run left it in: a reset, an interlock or an
  over-temperature trip switches the output off;
* the model's status bits (interlock, temperature) where it has them;
* every channel of the unit the station does not use: its output must still be off;
* every steady setting of the known state, read back again (no command is re-sent);
* the programmed source level against the level the run last wrote (a level changed from
  the front panel or by another client: the known state's own level step is not steady,
  since runs set levels);
* the error queue, which the known state left empty: an error the instrument queued since
  (a command it refused, from this host or another client on the bus, or one of its own
  measurement or hardware errors: ``:SYSTem:ERRor?``, *2400 Series SourceMeter User's Manual*
  2400S-900-01 section 18 and appendix B; ``errorqueue.next()``, *Series 2600B Reference
  Manual*) means the instrument did not do what the run believes it did.

Each problem is one line naming what happened; :class:`~mtj_hil.instruments.errors.
InstrumentStateLost` carries them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from mtj_hil.instruments.errors import InstrumentError, InstrumentStateLost

__all__ = ["ESR_POWER_ON", "ChannelFound", "SmuHealth", "lost_state_message"]

log = logging.getLogger(__name__)

#: IEEE 488.2 standard event status register, bit 7: power on.
ESR_POWER_ON = 1 << 7


@dataclass(frozen=True)
class ChannelFound:
    """One channel as found: ``output`` on/off, ``function`` ``"VOLT"``/``"CURR"``, the
    programmed ``level`` (V or A) and whether it was left off and confirmed (``secured``)."""

    channel: str
    output: bool
    function: str
    level: float
    secured: bool | None = None
    used: bool = True

    @property
    def live(self) -> bool:
        """The output relay was on."""
        return self.output

    def describe(self) -> str:
        unit = "V" if self.function == "VOLT" else "A"
        src = "voltage" if self.function == "VOLT" else "current"
        state = "output ON" if self.output else "output off"
        level = f"{self.level:g} {unit}" if math.isfinite(self.level) else "a level not confirmed"
        text = f"channel {self.channel}: {state}, {src} source at {level}"
        if not self.used:
            text += " (not used by the station)"
        if self.secured is True:
            text += "; made safe: output off confirmed" if self.output else "; left off (confirmed)"
        elif self.secured is False:
            text += "; output-off NOT confirmed"
        return text


def lost_state_message(who: str, problems: list[str]) -> str:
    """The one-line reason a run stops: the instrument and everything found wrong."""
    return (
        f"{who}: the instrument left its known state mid-run ({'; '.join(problems)}); "
        "readings since the last check are not kept; once the instrument is back, run the "
        "command again (a measurement run: with --resume, to finish it)"
    )


class SmuHealth:
    """Mid-run checks of one SMU channel (mixed into
    :class:`~mtj_hil.instruments.smu.lifecycle.SmuLifecycle`).

    Drivers may override :meth:`_event_status` (how ``*ESR?`` is asked) and
    :meth:`_status_problems` (the model's interlock / temperature bits).
    """

    #: the output state the run left the channel in (None: not tracked, e.g. before open)
    _expect_output: bool | None = None
    #: ``*IDN?`` read on open
    _open_idn: str | None = None

    def _event_status(self) -> int:
        """The standard event status register (``*ESR?``; reading clears it)."""
        return int(float(self.ask("*ESR?")))  # type: ignore[attr-defined]

    def _status_problems(self) -> list[str]:
        """Interlock / over-temperature conditions the model reports (none by default)."""
        return []

    def _diagnose(self, settings: bool) -> list[str]:
        """Everything found wrong now (see the module docstring); ``settings`` also re-reads
        every steady setting of the known state."""
        problems: list[str] = []
        if self._event_status() & ESR_POWER_ON:
            problems.append("power-on bit set in *ESR? (bit 7): the instrument was power-cycled")
        idn = self.idn  # type: ignore[attr-defined]
        if self._open_idn is not None and idn != self._open_idn:
            problems.append(
                f"a different instrument answers: *IDN? {idn!r}, on open {self._open_idn!r}"
            )
        problems += self._status_problems()
        unit = getattr(self, "parent", None)
        for key in getattr(unit, "unused_channel_ids", tuple)():
            if unit.channel(key)._read_output():  # type: ignore[union-attr]
                problems.append(
                    f"channel {key}, which the station does not use, found with its output ON"
                )
        if self._expect_output is not None:
            on = self._read_output()  # type: ignore[attr-defined]
            if on != self._expect_output:
                problems.append(
                    "output found OFF while the run had it on (a reset, a power cycle, an "
                    "interlock or over-temperature trip switches it off)"
                    if self._expect_output
                    else "output found ON while the run had it off"
                )
        state = self.known_state  # type: ignore[attr-defined]
        if settings and state is not None:
            queued = self.errors()  # type: ignore[attr-defined]
            if queued:
                problems.append(
                    "the instrument queued errors since its known state was set ("
                    + "; ".join(f"{code} {message}" for code, message in queued)
                    + ")"
                )
        if settings and state is not None and state.settings is not None:
            steps = self._known_state(state.settings)  # type: ignore[attr-defined]
            for step in steps:
                if step.steady:
                    problems += [
                        f"setting changed: {c.describe()}"
                        for c in (check() for check in step.checks)
                        if not c.ok
                    ]
            problems += self._level_problems()
        return problems

    def _level_problems(self) -> list[str]:
        """The programmed source level (one query of the model's level query, see
        :meth:`~mtj_hil.instruments.smu.levels.SourceLevels._level_read_twice` for the
        manuals' sections) against the level this driver last wrote: a level changed from
        the front panel or by another client puts every reading since at another voltage
        (empty when it matches, or when no level is tracked)."""
        expected = getattr(self, "_expect_level", None)
        if expected is None:
            return []
        try:
            found = float(self._read_level())  # type: ignore[attr-defined]
        except (ValueError, TypeError) as exc:
            return [f"source level unreadable ({exc}) where the run set {expected:g} V"]
        if math.isclose(found, expected, rel_tol=1e-6, abs_tol=1e-12):
            return []
        return [
            f"source level found at {found:g} V where the run set {expected:g} V (changed from "
            "the front panel or by another client: readings since were taken at another "
            "voltage)"
        ]

    def check_health(self) -> None:
        """Re-check the instrument mid-run (module docstring); sends queries only.

        Raises:
            InstrumentStateLost: anything found wrong (the message names each thing).
            InstrumentError: the instrument does not answer.
        """
        problems = self._diagnose(settings=True)
        if problems:
            raise InstrumentStateLost(lost_state_message(self._who(), problems))  # type: ignore[attr-defined]

    @contextmanager
    def _no_reading_explained(self) -> Iterator[None]:
        """Around a measurement: when it ends without a reading (no reply, a refused
        command) while the run had the output on and the output is now found off, the cause
        is the instrument's lost state, not the bus, and :class:`InstrumentStateLost` says
        so (chained to the bus error). A reset, power cycle or trip switches the output off,
        and a Keithley 2400 then answers ``:READ?`` with nothing but error +803: with auto
        output-off disabled (the ``*RST`` default) the output must be on before ``:READ?``
        (*2400 Series SourceMeter User's Manual* 2400S-900-01, section 18, ``:SOURce[1]:
        CLEar:AUTO``; ``:OUTPut[1][:STATe]``: "measurements cannot be made while the source
        is off").

        Raises:
            InstrumentStateLost: the output went off under the run.
            InstrumentError: the measurement's own error otherwise.
        """
        try:
            yield
        except InstrumentStateLost:
            raise
        except InstrumentError as exc:
            lost = self._output_lost()
            if lost is not None:
                raise lost from exc
            raise

    def _output_lost(self) -> InstrumentStateLost | None:
        """The lost state to report when the run had the output on and it is found off
        (``None``: it is on, not tracked, or cannot be read)."""
        if not self._expect_output:
            return None
        try:
            if self._read_output():  # type: ignore[attr-defined]
                return None
            self._confirm_reading(False)
        except InstrumentStateLost as lost:
            return lost
        except Exception:  # noqa: BLE001 - the instrument is gone: the bus error stands
            return None
        return None

    def _confirm_reading(self, output_on: bool, problem: str | None = None) -> None:
        """Refuse a reading taken with the output off while the run had it on, or with a
        reset sentinel (``problem``) seen in the same reply; names the cause.

        Raises:
            InstrumentStateLost: the reading is not trusted.
        """
        if problem is None and (output_on or not self._expect_output):
            return
        try:
            problems = self._diagnose(settings=False)
        except Exception as exc:  # noqa: BLE001 - the reading is refused whatever happens
            problems = [f"diagnosis failed: {exc}"]
        if problem is not None:
            problems.insert(0, problem)
        if not output_on and not any("output found" in p for p in problems):
            problems.append("output found OFF at this reading")
        raise InstrumentStateLost(lost_state_message(self._who(), problems))  # type: ignore[attr-defined]
