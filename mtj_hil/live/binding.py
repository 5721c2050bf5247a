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


ALL_INTERFACES = ("", "0", "0.0.0.0", "::")
"""Hosts that bind every address of this machine."""


def bare_host(host: str) -> str:
    """``host`` without the brackets of an IPv6 literal (``[::1]`` -> ``::1``)."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address, a short form such as ``127.1``, or a name) only
    reaches this machine: every address it resolves to is a loopback one."""
    host = bare_host(host)
    if host == "localhost":
        return True
    if host in ALL_INTERFACES:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        found = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (OSError, UnicodeError):
        return False
    return bool(found) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in found)


def _listen(host: str, port: int) -> socket.socket:
    host = bare_host(host)
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
