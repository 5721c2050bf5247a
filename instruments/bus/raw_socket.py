"""Raw TCP socket sessions of pyvisa-py (``TCPIP::host::port::SOCKET``): finding the socket,
sending at once, and a device clear that a raw socket does not have."""

from __future__ import annotations

import select
import socket
from typing import Any

__all__ = ["device_clear", "raw_socket", "send_at_once"]


def raw_socket(conn: Any) -> socket.socket | None:
    """The socket behind a pyvisa-py ``TCPIP::host::port::SOCKET`` session, else ``None``."""
    sessions = getattr(getattr(conn, "visalib", None), "sessions", None)
    if not isinstance(sessions, dict):
        return None
    sock = getattr(sessions.get(getattr(conn, "session", None)), "interface", None)
    return sock if isinstance(sock, socket.socket) else None


def send_at_once(conn: Any) -> None:
    """Switch Nagle's algorithm off on a pyvisa-py raw socket session (nothing otherwise).

    VISA makes ``VI_ATTR_TCPIP_NODELAY`` true by default (VPP-4.3, the attribute's entry) so
    every write leaves at once; pyvisa-py's ``SOCKET`` sessions leave Nagle on, and a write
    that follows a write without a reply waits for the instrument's delayed ACK (tens of ms
    per command on Linux)."""
    sock = raw_socket(conn)
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def device_clear(conn: Any, max_chunks: int = 1000) -> None:
    """VISA device clear; on a raw socket, discard pending input instead.

    A raw SCPI socket has no device-clear message, and pyvisa-py's ``clear()`` on such a
    session spins forever once the instrument has closed the connection (the socket stays
    readable with no data); here a closed peer raises ``ConnectionError`` instead.
    """
    sock = raw_socket(conn)
    if sock is None:
        conn.clear()
        return
    session = conn.visalib.sessions[conn.session]
    pending = getattr(session, "_pending_buffer", None)
    if pending is not None:
        pending.clear()
    for _ in range(max_chunks):
        readable, _, _ = select.select([sock], [], [], 0.05)
        if not readable:
            return
        if not sock.recv(4096):
            raise ConnectionError("the instrument closed the connection")
