"""What a multi-channel SMU (Keithley 26xx, Keysight B2900) does for channels the station
does not use: find them, make them safe and verify them off on open and at shutdown.

A station names one channel per ``[smu.*]`` entry; the other channel of a two-channel unit is
still wired to something, and whatever a previous user left on it (a live voltage, a current
source) would stay on through a run. :class:`MultiChannelUnit` (mixed into the instrument
classes) handles every channel of the unit, used or not, and keeps each one's found state for
``station check``.
"""

from __future__ import annotations

import logging
from typing import Any

from mtj_hil.instruments.bus.signals import HeldInterrupt
from mtj_hil.instruments.smu.health import ChannelFound
from mtj_hil.instruments.smu.lifecycle import DEFAULT_RAMP

__all__ = ["MultiChannelUnit"]

log = logging.getLogger(__name__)


class MultiChannelUnit:
    """Channels of one unit: used ones (``_channel_ids``) and the rest.

    Subclasses give :meth:`all_channel_ids` (from ``*IDN?``) and :meth:`channel`; they may
    extend :meth:`_secure` (e.g. a channel reset after the ramp).
    """

    _channel_ids: tuple[Any, ...]

    #: whether the last shutdown confirmed every unused channel off (None: not checked yet)
    unused_off: bool | None = None

    #: the unit's channels, from its first ``*IDN?`` answer (None: not asked yet)
    _unit_channels: tuple[Any, ...] | None = None

    def _init_channels(self) -> None:
        #: every channel as found on open (used or not)
        self.found: dict[Any, ChannelFound] = {}
        self._released: set[Any] = set()
        self.unused_off = None
        self._unit_channels = None

    def all_channel_ids(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def channel(self, key: Any) -> Any:
        """The channel object for ``key``."""
        raise NotImplementedError

    def unused_channel_ids(self) -> tuple[Any, ...]:
        """Channels the station does not use (this driver was not given). The unit's
        channels are asked once (``*IDN?``, on open) and kept: a shutdown whose identity
        query is lost still reaches every channel the unit was found with.

        Raises:
            InstrumentError: the unit was never identified and does not answer ``*IDN?``.
        """
        if self._unit_channels is None:
            self._unit_channels = tuple(self.all_channel_ids())
        return tuple(c for c in self._unit_channels if c not in self._channel_ids)

    def _secure(self, key: Any, rate: float, step: float) -> ChannelFound:
        return self.channel(key)._make_safe(rate, step, used=False)  # type: ignore[no-any-return]

    def secure_unused(self, rate: float, step: float) -> dict[Any, ChannelFound]:
        """Find, make safe and verify every unused channel: abort, a live voltage source
        ramped to 0 V (``rate`` V/s, steps of ``step`` V), a current source switched off at
        once, output read back. Returns (and keeps in :attr:`found`) every channel as found,
        the used ones included."""
        for key in self.unused_channel_ids():
            self.found[key] = self._secure(key, rate, step)
        for key in self._channel_ids:
            found = self.channel(key).found
            if found is not None:
                self.found[key] = found
        return dict(self.found)

    def _shut_unused(self, hold: HeldInterrupt) -> bool:
        """Secure every unused channel (each tried; Ctrl-C kept in ``hold``; one whose
        securing failed is sent its output off once more, :meth:`_off_again`); True when
        every one was confirmed off. Kept in :attr:`unused_off`; a unit never identified
        that cannot say which channels it has (no answer to ``*IDN?``) confirms none."""
        self.unused_off = False
        keys: tuple[Any, ...] | None = None
        try:
            with hold:
                keys = self.unused_channel_ids()
        except Exception as exc:  # noqa: BLE001 - shutdown must go on
            log.error("%s: unused channels NOT confirmed off at shutdown: %s", self, exc)
        if keys is None:
            return False
        ok = True
        for key in keys:
            secured = False
            try:
                with hold:
                    secured = bool(self._secure(key, *DEFAULT_RAMP).secured)
            except Exception as exc:  # noqa: BLE001 - shutdown must reach every channel
                log.error("%s: shutdown of unused channel %s failed: %s", self, key, exc)
            if not secured:
                secured = self._off_again(key, hold)
            if not secured:
                log.error("%s: unused channel %s NOT confirmed off at shutdown", self, key)
            ok = ok and secured
        self.unused_off = ok
        return ok

    def _off_again(self, key: Any, hold: HeldInterrupt) -> bool:
        """Send an unused channel's output off once more and read it back, after securing
        it failed (a reply lost in its survey left it unsent); True when read back off."""
        channel = self.channel(key)
        try:
            with hold:
                channel._write_output_off()
                return not channel._read_output()
        except Exception as exc:  # noqa: BLE001 - shutdown must go on
            log.error("%s: output off of unused channel %s, again, failed: %s", self, key, exc)
        return False

    def release(self, key: Any) -> bool:
        """A used channel finished its shutdown: after the last one the unused channels are
        checked off again (:attr:`unused_off`) and the session closed. True when closed and
        all off.

        Raises:
            KeyboardInterrupt: Ctrl-C arrived meanwhile; raised after every unused channel
                was tried and the session closed.
        """
        self._released.add(key)
        if not set(self._channel_ids) <= self._released:
            return False
        hold = HeldInterrupt()
        unused_ok = self._shut_unused(hold)
        with hold:
            closed = bool(self.close_session())  # type: ignore[attr-defined]
        hold.release()
        return closed and unused_ok

    def shutdown(self) -> bool:
        """Shut down every used channel (each best effort), check every unused one off,
        close the session. True only when every channel confirmed off.

        Raises:
            KeyboardInterrupt: Ctrl-C arrived meanwhile; raised after every channel was
                tried and the session closed. Nothing else is raised.
        """
        hold = HeldInterrupt()
        results = []
        for key in self._channel_ids:
            channel = self.channel(key)
            with hold:
                channel.shutdown(close=False)
            results.append(channel.off_confirmed)
        unused_ok = self._shut_unused(hold)
        closed = False
        with hold:
            closed = bool(self.close_session())  # type: ignore[attr-defined]
        self.isShutdown = True
        hold.release()
        return all(results) and unused_ok and closed
