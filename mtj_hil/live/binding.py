"""The listening socket of a live view: loopback by default, a free port by default."""

from __future__ import annotations

import errno
import ipaddress
import socket

from mtj_hil.errors import ConfigError

LOOPBACK = "127.0.0.1"
FIRST_PORT = 8765
"""Without an explicit port the first free one from here (then any the system gives)."""
TRIES = 50


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) only reaches this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=64)


def listen(
    host: str = LOOPBACK, port: int | None = None, options: tuple[str, str] = ("--host", "--port")
) -> socket.socket:
    """A listening TCP socket on ``host``: on ``port`` when given, else on the first free
    port from ``FIRST_PORT`` (or, if none of ``TRIES`` is free, one the system picks).
    ``options`` name the command-line options that gave the host and the port (messages
    say which to change).

    Raises:
        ConfigError: the port asked for is in use, or the address is not this machine's.
    """
    host_option, port_option = options
    if port is not None:
        try:
            return _listen(host, port)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"port {port} on {host} is in use; choose another with {port_option}, or "
                    "leave it out for the next free one"
                ) from exc
            raise ConfigError(
                f"cannot listen on {host}:{port} ({host_option} {host} {port_option} {port}): "
                f"{_reason(exc)}"
            ) from exc
    for candidate in range(FIRST_PORT, FIRST_PORT + TRIES):
        try:
            return _listen(host, candidate)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise ConfigError(
                    f"cannot listen on {host} ({host_option} {host}): {_reason(exc)}; give "
                    "a name or address of this machine (default 127.0.0.1)"
                ) from exc
    return _listen(host, 0)


def _reason(exc: OSError) -> str:
    """What the system said, without the standard library's added bind details."""
    text = exc.strerror or str(exc)
    return text.split(" (while attempting to bind", 1)[0]


def url_of(sock: socket.socket) -> str:
    """The page's address for a listening socket."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"
