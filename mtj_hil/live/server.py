"""The live view's HTTP server: the standard library's ``ThreadingHTTPServer``, GET only.

Routes: ``/`` (the page), ``/static/<file>`` (its script and style, package data),
``/api/snapshot?seq=N&wait=S`` (the snapshot as JSON; a long poll: it answers as soon as
the snapshot's sequence number differs from ``N``, or after ``S`` s, at most 25) and
``/api/health``. Every other method is refused (405): nothing on the page can change the
file or reach an instrument, since this process holds neither.

One watcher thread asks the source for its change key ten times a second and re-reads the
snapshot when it changed, while any page asked in the last minute; every viewer shares that
read (a hundred pages cost one read of the file).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import math
import os
import socket
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from mtj_hil.fileio.json_text import finite
from mtj_hil.live.binding import is_loopback
from mtj_hil.live.snapshot import Source

POLL = 0.1
"""s between looks at the source for a change."""
MAX_WAIT = 25.0
"""s a long poll is held at most."""
ACTIVE = 60.0
"""s after the last request during which the watcher keeps re-reading."""
IDLE_EXIT = 300.0
"""s without a request after which a ``--live`` server whose measurement ended stops."""
MAX_CONNECTIONS = 64
"""Connections served at once; one more is answered 503 and closed, so clients that open
connections and never finish a request cannot take every thread and file descriptor of
the process (each page holds one long poll, shared by its browser's tabs)."""
BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: text/plain; "
    b"charset=utf-8\r\nContent-Length: 34\r\nConnection: close\r\n\r\n"
    b"too many connections; retry later\n"
)
"""The whole answer to a connection past :data:`MAX_CONNECTIONS`."""
STATIC = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "plot.js": "text/javascript; charset=utf-8",
    "panels.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
SECURITY = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


class Hub:
    """The current snapshot (as JSON bytes, with a sequence number) shared by all viewers."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.cond = threading.Condition()
        self.seq = 0
        self.body = b"{}"
        self._content = b""
        self._key: Any = object()
        self.last_request = time.monotonic()
        self.errors = 0
        self._reading = threading.Lock()  # the watcher and an idle-woken request never both read
        self._good = b""  # the content of the last read that succeeded

    def refresh(self, force: bool = False) -> None:
        """Re-read the source if its key changed (or ``force``); wake the waiting polls. A
        read that fails keeps the last good data on the page with a message saying why (it
        is tried again at the next look)."""
        with self._reading:
            self._refresh(force)

    def _refresh(self, force: bool) -> None:
        key = self.source.key()
        if key == self._key and not force:
            return
        try:
            snap = finite(self.source.snapshot())  # JSON-safe: NaN and inf as null
        except Exception as exc:  # keep the page up: say what went wrong, keep the last data
            self.errors += 1
            why = f"{type(exc).__name__}: {exc}" if isinstance(exc, OSError) else str(exc)
            if self._good:
                snap = {**json.loads(self._good), "message": f"showing the last good read: {why}"}
            else:
                snap = {"state": "error", "title": self.source.title, "message": why}
            content = json.dumps(snap, separators=(",", ":")).encode()
        else:
            self._key = key
            content = self._good = json.dumps(snap, separators=(",", ":")).encode()
        if content == self._content:
            return
        with self.cond:
            self.seq += 1
            self._content = content
            self.body = json.dumps({"seq": self.seq, "server_time": time.time(), **snap}).encode()
            self.cond.notify_all()

    def wait(self, seq: int | None, timeout: float) -> bytes:
        """The snapshot once its sequence number differs from ``seq`` (or after ``timeout``).
        After a quiet spell (the watcher stops reading when no page asked for ``ACTIVE`` s)
        the source is read first, so the answer is never a snapshot from before it."""
        if time.monotonic() - self.last_request > ACTIVE:
            with contextlib.suppress(Exception):  # a failing read is said by refresh
                self.refresh()
        self.last_request = time.monotonic()
        with self.cond:
            if seq is not None:
                self.cond.wait_for(lambda: self.seq != seq, timeout)
            return self.body

    def watch(self, stop: threading.Event) -> None:
        """The watcher loop (see the module docstring); a failing read is counted and
        retried, never fatal."""
        while not stop.wait(POLL):
            if time.monotonic() - self.last_request > ACTIVE:
                continue
            try:
                self.refresh()
            except Exception:  # keep serving the last snapshot
                self.errors += 1


IDLE_TIMEOUT = 60.0
"""Seconds a connection may stay silent (mid-request or kept alive) before it is closed:
clients that never finish a request would otherwise hold a thread each for ever."""


class Handler(BaseHTTPRequestHandler):
    """GET-only request handler over a :class:`Hub`."""

    server: LiveServer
    protocol_version = "HTTP/1.1"
    server_version = "mtj-hil-live"
    timeout = IDLE_TIMEOUT  # a client that sends nothing for this long is let go

    def version_string(self) -> str:
        """The Server header: the program, not the Python version it runs on."""
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet: the page polls continuously."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors of the request itself (a malformed line, a header too long, an unknown
        method) as plain text with the page's security headers, and the connection closed.
        An unknown method is 405 like the other refused ones (RFC 9110 section 15.5.6)."""
        if code == HTTPStatus.NOT_IMPLEMENTED:
            self._refuse()
            return
        self.close_connection = True
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = ""
        body = f"{code} {message or phrase}\n".encode("latin-1", "replace")
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.0"  # a request line without a version: answer 1.0
        self.send_response(code, message)
        for key, value in (
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
            *SECURITY.items(),
        ):
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

    def _foreign_host(self) -> bool:
        """Whether a loopback-only server is asked under another host name: a web page
        elsewhere that re-points its own name at 127.0.0.1 (DNS rebinding) could read the
        snapshot otherwise. Such a server answers only to loopback names and addresses."""
        if not self.server.loopback_only:
            return False
        host = (self.headers.get("Host") or "").strip().lower()
        if not host:  # no name given (HTTP/1.0 tools): no browser, nothing to rebind
            return False
        if host.startswith("["):
            name = host[1:].split("]", 1)[0]
        else:
            name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        if name == "localhost":
            return False
        try:  # an address as written, never a name looked up (that is the attack)
            return not ipaddress.ip_address(name).is_loopback
        except ValueError:
            return True

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in SECURITY.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            # a viewer that went away will ask again when it comes back
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        if self.headers.get("Transfer-Encoding") or self.headers.get("Content-Length", "0") != "0":
            # a GET or HEAD with a body: the body is not read, so the connection ends with
            # this answer and its bytes are never taken as a next request (RFC 9112 6.3)
            self.close_connection = True
        if self._foreign_host():
            self._send(403, b"the live view answers to its own address only", "text/plain")
            return
        url = urlsplit(self.path)
        route = url.path
        if route == "/api/snapshot":
            q = parse_qs(url.query)
            try:
                seq = int(q["seq"][0]) if "seq" in q else None
                wait = float(q.get("wait", ["0"])[0])
                if math.isnan(wait):  # NaN slips through min/max: the wait never ended
                    raise ValueError(wait)
                wait = min(wait, MAX_WAIT)
            except ValueError:
                self._send(400, b'{"error":"seq and wait are numbers"}', "application/json")
                return
            body = self.server.hub.wait(seq, max(wait, 0.0))
            self._send(200, body, "application/json")
        elif route == "/favicon.ico":
            self._send(204, b"", "image/x-icon")
        elif route == "/api/health":
            self._send(200, b'{"ok":true}', "application/json")
        elif route in ("/", "/index.html") or (
            route.startswith("/static/") and route.removeprefix("/static/") in STATIC
        ):
            name = "index.html" if route in ("/", "/index.html") else route[len("/static/") :]
            body = resources.files("mtj_hil.live").joinpath("static", name).read_bytes()
            self._send(200, body, STATIC[name])
        else:
            self._send(404, b"not found", "text/plain")

    do_HEAD = do_GET  # noqa: N815

    def _refuse(self) -> None:
        # The body is not read, so the connection is closed after the answer: its bytes
        # must never be taken as a next request (RFC 9112 section 6.3). RFC 9110 section
        # 15.5.6: a 405 lists the methods the resource takes.
        self.close_connection = True
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        body = b"read-only"
        for key, value in (
            ("Allow", "GET, HEAD"),
            ("Content-Type", "text/plain"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
            *SECURITY.items(),
        ):
            self.send_header(key, value)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _refuse  # noqa: N815


class LiveServer(ThreadingHTTPServer):
    """A threading HTTP server on an already listening socket."""

    daemon_threads = True

    def __init__(self, sock: socket.socket, hub: Hub) -> None:
        super().__init__(sock.getsockname()[:2], Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.hub = hub
        self.loopback_only = is_loopback(str(sock.getsockname()[0]))
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve the connection on its own thread while a slot is free; past
        :data:`MAX_CONNECTIONS`, answer 503 at once and close it."""
        if not self.slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.settimeout(1.0)
                request.sendall(BUSY)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()  # no thread started: the slot is free again
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """One connection, start to close; its slot is freed however it ends."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A viewer that went away mid-answer is no error worth a traceback; anything
        else is printed as the standard library does."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


def serve(
    source: Source,
    sock: socket.socket,
    *,
    parent_pid: int | None = None,
    idle_exit: float = IDLE_EXIT,
    ready: threading.Event | None = None,
    seconds: float | None = None,
    until: threading.Event | None = None,
) -> None:
    """Serve ``source`` on ``sock`` until interrupted, or for ``seconds`` s if given, or
    until another thread sets ``until``; the socket is closed on return. With
    ``parent_pid`` (the measuring process of ``--live``) the server also ends once that
    process is gone and no page has asked for ``idle_exit`` s."""
    hub = Hub(source)
    hub.refresh(force=True)
    server = LiveServer(sock, hub)
    stop = threading.Event()
    threads = [threading.Thread(target=hub.watch, args=(stop,), daemon=True)]
    if parent_pid is not None:
        threads.append(
            threading.Thread(
                target=_outlive, args=(server, hub, parent_pid, idle_exit, stop), daemon=True
            )
        )
    if seconds is not None:
        threads.append(
            threading.Thread(target=_stop_after, args=(server, seconds, stop), daemon=True)
        )
    if until is not None:
        threads.append(threading.Thread(target=_stop_when, args=(server, until, stop), daemon=True))
    for t in threads:
        t.start()
    if ready is not None:
        ready.set()
    try:
        server.serve_forever(poll_interval=0.25)
    finally:
        stop.set()
        server.server_close()


def _stop_after(server: LiveServer, seconds: float, stop: threading.Event) -> None:
    """Stop ``server`` after ``seconds`` s (unless it stopped before). Waits in slices of
    at most an hour, so any duration works (one wait past ``threading.TIMEOUT_MAX``
    overflows); ``inf`` never stops it, NaN or a negative stops it at once."""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if not left > 0:
            server.shutdown()
            return
        if stop.wait(min(left, 3600.0)):
            return


def _stop_when(server: LiveServer, until: threading.Event, stop: threading.Event) -> None:
    """Stop ``server`` once ``until`` is set (unless it stopped before)."""
    while not stop.is_set():
        if until.wait(0.25):
            server.shutdown()
            return


def _outlive(server: LiveServer, hub: Hub, parent: int, idle: float, stop: threading.Event) -> None:
    """Stop ``server`` once ``parent`` has ended and no page asked for ``idle`` s."""
    while not stop.wait(1.0):
        alive = os.getppid() == parent
        if not alive and time.monotonic() - hub.last_request > idle:
            server.shutdown()
            return
