"""Reading reply lines from a ``socket://`` port in chunks instead of one byte at a time.

pyserial's ``read_until`` reads one byte per call, and its ``socket://`` handler makes each
such read a ``select`` and a ``recv``: a 600-byte ``SCAN`` reply costs 1,200 system calls,
and a streamed sequence reply tens of thousands. :class:`SocketLines` wraps such a port: it
waits for the first byte of a reply as pyserial would (the same timeout), then takes
whatever else has already arrived in one non-blocking read, and keeps bytes after the line
for the next one. The bytes and the timeouts the link sees are the same. A serial port
proper is left as it is: bytes arrive at the baud rate there, so one read per byte costs
nothing that matters.
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["SocketLines"]

CHUNK = 65536
"""Bytes taken at most per non-blocking read."""


class SocketLines:
    """A pyserial ``socket://`` port whose ``read_until`` and ``read`` take every byte that
    has arrived at once (see the module docstring); every other attribute is the port's.

    ``timeout`` (s, or None to wait for ever) is this object's own: the port's is set for
    each read from it.
    """

    def __init__(self, port: Any) -> None:
        object.__setattr__(self, "_port", port)
        object.__setattr__(self, "_rx", bytearray())
        object.__setattr__(self, "_pending", None)
        object.__setattr__(self, "timeout", port.timeout)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._port, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "timeout":
            object.__setattr__(self, name, value)
        else:
            setattr(self._port, name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._port, name)

    @property
    def in_waiting(self) -> int:
        """Bytes kept from earlier reads, plus what the port reports waiting."""
        return len(self._rx) + int(self._port.in_waiting)

    def read_until(self, expected: bytes = b"\n", size: int | None = None) -> bytes:
        """Bytes up to and including ``expected``, at most ``size`` of them; fewer (those
        read so far) when ``timeout`` passes first, as pyserial's ``read_until``.

        Raises:
            serial.SerialException (an OSError): the port failed or the peer closed it
                before a whole line arrived.
        """
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        start = 0
        while True:
            found = self._rx.find(expected, start)
            if found >= 0:
                return self._take(found + len(expected), size)
            if size is not None and len(self._rx) >= size:
                return self._take(size, size)
            start = max(0, len(self._rx) - len(expected) + 1)
            if not self._fill(deadline):
                return self._take(len(self._rx), size)

    def read(self, size: int = 1) -> bytes:
        """``size`` bytes, or fewer when ``timeout`` passes first (as pyserial's ``read``).

        Raises:
            serial.SerialException (an OSError): as :meth:`read_until`.
        """
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while len(self._rx) < size and self._fill(deadline):
            pass
        return self._take(size, size)

    def reset_input_buffer(self) -> None:
        """Discard the bytes kept here and those waiting at the port."""
        self._rx.clear()
        object.__setattr__(self, "_pending", None)
        self._port.reset_input_buffer()

    def _take(self, end: int, size: int | None) -> bytes:
        if size is not None:
            end = min(end, size)
        out = bytes(self._rx[:end])
        del self._rx[:end]
        return out

    def _fill(self, deadline: float | None) -> bool:
        """Wait until ``deadline`` (monotonic s; None: for ever) for one more byte, then take
        whatever else is there without waiting; False when nothing came in time.

        A failure of the port after some bytes came is raised at the next wait, once those
        bytes are used: a last reply is not lost to the peer closing the socket after it.
        """
        pending = self._pending
        if pending is not None:
            object.__setattr__(self, "_pending", None)
            raise pending
        port = self._port
        if deadline is None:
            port.timeout = None
        else:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            port.timeout = remaining
        first = port.read(1)
        if not first:
            return False
        self._rx += first
        port.timeout = 0
        try:
            self._rx += port.read(CHUNK)
        except OSError as exc:  # serial.SerialException is one
            object.__setattr__(self, "_pending", exc)
        return True
