"""Modelled lab time for the virtual lab.

The virtual instruments do not sleep by default. Instead every bus transaction and every
integration period is booked on a shared :class:`VirtualClock`, so a test run can report how
long the same sequence would have taken on real instruments. A clock with a ``pace`` also
waits that fraction of every booked second in wall time, so a run can be watched as it goes
(a demonstration, or a live-view test that must see the die map fill in).
"""

from __future__ import annotations

import math
import threading
import time

__all__ = ["VirtualClock"]


class VirtualClock:
    """Thread-safe accumulator of modelled time (s) and bus transactions.

    :param start: initial time, s.
    :param pace: wall seconds waited per modelled second (0: never wait; 1: real time).
    :raises ValueError: a negative or non-finite ``start`` or ``pace``.
    """

    def __init__(self, start: float = 0.0, pace: float = 0.0) -> None:
        self._lock = threading.Lock()
        self.pace = self._check(pace)
        self._start = self._check(start)
        self._now = self._start
        self._transactions = 0

    @staticmethod
    def _check(seconds: float) -> float:
        seconds = float(seconds)
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(
                f"time must be a finite, non-negative number of seconds, got {seconds!r}"
            )
        return seconds

    @property
    def now(self) -> float:
        """Modelled time, s."""
        with self._lock:
            return self._now

    @property
    def transactions(self) -> int:
        """Number of bus transactions booked so far."""
        with self._lock:
            return self._transactions

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (s, >= 0) and return the new time.

        :raises ValueError: negative or non-finite ``seconds``.
        """
        seconds = self._check(seconds)
        with self._lock:
            self._now += seconds
            now = self._now
        self._wait(seconds)
        return now

    def transaction(self, cost: float = 0.0) -> float:
        """Book one bus transaction costing ``cost`` s; return the new time.

        :raises ValueError: negative or non-finite ``cost``.
        """
        cost = self._check(cost)
        with self._lock:
            self._transactions += 1
            self._now += cost
            now = self._now
        self._wait(cost)
        return now

    def _wait(self, seconds: float) -> None:
        if self.pace and seconds:
            time.sleep(seconds * self.pace)

    def reset(self) -> None:
        """Return to the start time and zero the transaction counter."""
        with self._lock:
            self._now = self._start
            self._transactions = 0

    def __repr__(self) -> str:
        with self._lock:
            return f"VirtualClock(now={self._now:.6g} s, transactions={self._transactions})"
