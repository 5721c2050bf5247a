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

    def _init_channels(self) -> None:
        #: every channel as found on open (used or not)
        self.found: dict[Any, ChannelFound] = {}
        self._released: set[Any] = set()

    def all_channel_ids(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def channel(self, key: Any) -> Any:
        """The channel object for ``key``."""
        raise NotImplementedError

    def unused_channel_ids(self) -> tuple[Any, ...]:
        """Channels the station does not use (this driver was not given)."""
        return tuple(c for c in self.all_channel_ids() if c not in self._channel_ids)

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

    def _shut_unused(self) -> bool:
        ok = True
        for key in self.unused_channel_ids():
            try:
                ok = bool(self._secure(key, *DEFAULT_RAMP).secured) and ok
            except Exception as exc:  # noqa: BLE001 - shutdown must reach every channel
                log.error("%s: shutdown of unused channel %s failed: %s", self, key, exc)
                ok = False
        return ok

    def release(self, key: Any) -> bool:
        """A used channel finished its shutdown: after the last one the unused channels are
        checked off again and the session closed. True when closed and all off."""
        self._released.add(key)
        if not set(self._channel_ids) <= self._released:
            return False
        unused_ok = self._shut_unused()
        return bool(self.close_session()) and unused_ok  # type: ignore[attr-defined]

    def shutdown(self) -> bool:
        """Shut down every used channel (each best effort), check every unused one off,
        close the session; never raises. True only when every channel confirmed off."""
        results = [self.channel(key).shutdown(close=False) for key in self._channel_ids]
        unused_ok = self._shut_unused()
        closed = self.close_session()  # type: ignore[attr-defined]
        self.isShutdown = True
        return all(results) and unused_ok and bool(closed)
