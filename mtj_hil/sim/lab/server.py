"""A small threaded TCP line server for the virtual lab.

:class:`LineServer` listens on ``127.0.0.1`` (never on other interfaces) at an ephemeral port.
Every connection gets its own thread, which splits the incoming byte stream at a terminator,
passes each line to a *line handler* and writes the handler's reply back followed by the
terminator. It knows nothing about SCPI or chips: the handler decides what a line means.

Two modes:

* text (default, ``encoding="latin-1"``): the handler gets ``str`` lines (terminator and a
  trailing ``"\\r"`` removed) and returns ``str | None``. Latin-1 maps bytes 0-255 one to one on
  code points 0-255, so any byte can travel through, including deliberate garbage.
* bytes (``encoding=None``): the handler gets the raw ``bytes`` line without the terminator and
  returns ``bytes | None``, which is sent exactly as given (no terminator added), so the handler
  controls the framing of its replies.

A handler returning ``None`` sends nothing. A handler raising :class:`DropConnection` makes the
server close that connection (by default with a TCP reset, so the client notices at once).

Clients: pyvisa with the pyvisa-py backend opens :attr:`LineServer.resource`
(``TCPIP::127.0.0.1::<port>::SOCKET``); pyserial opens :attr:`LineServer.url`
(``socket://127.0.0.1:<port>``).
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import struct
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

__all__ = ["DropConnection", "LineHandler", "LineServer"]

log = logging.getLogger(__name__)

#: A line handler: a line in, a reply (or ``None`` for no reply) out; ``str`` in text mode,
#: ``bytes`` in bytes mode.
LineHandler = Callable[[Any], Any]

_RECV_SIZE = 65536


class DropConnection(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a line handler to make the server close the current connection.

    :param reset: close abortively (TCP RST, the peer's next read fails at once) instead of
        with an orderly shutdown (FIN, the peer reads end-of-file).
    """

    def __init__(self, reason: str = "connection dropped", *, reset: bool = True) -> None:
        super().__init__(reason)
        self.reset = reset


class LineServer:
    """Threaded newline-delimited TCP server bound to ``127.0.0.1``.

    :param handler: line handler (see the module docstring for the two modes).
    :param terminator: line terminator, bytes; appended to every reply in text mode.
    :param encoding: text encoding, or ``None`` for bytes mode.
    :param max_line: longest accepted line, bytes; a longer one drops the connection.
    :param name: label used in thread names and log messages.
    :param on_overlong: if given, a line longer than ``max_line`` does not drop the
        connection: ``on_overlong()`` is called once (an instrument queues its input-buffer
        error) and the rest of that line, up to its terminator, is discarded.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. Exceptions other than
    :class:`DropConnection` raised by the handler are logged, stored in :attr:`handler_errors`
    and close the connection.
    """

    HOST = "127.0.0.1"

    def __init__(
        self,
        handler: LineHandler,
        *,
        terminator: bytes = b"\n",
        encoding: str | None = "latin-1",
        max_line: int = 1 << 20,
        name: str = "line-server",
        on_overlong: Callable[[], None] | None = None,
    ) -> None:
        if not terminator:
            raise ValueError("terminator must not be empty")
        self._handler = handler
        self._terminator = bytes(terminator)
        self._encoding = encoding
        self._max_line = int(max_line)
        self._on_overlong = on_overlong
        self.name = name
        self.handler_errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._conn_threads: set[threading.Thread] = set()
        self._port: int | None = None
        self._connections_total = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        """Bind ``127.0.0.1:0``, start accepting connections and return ``self``.

        :raises RuntimeError: if already started.
        :raises OSError: if the socket cannot be bound.
        """
        if self._listener is not None:
            raise RuntimeError(f"{self.name}: already started")
        self._stopping.clear()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.bind((self.HOST, 0))
            listener.listen()
            listener.setblocking(False)
        except OSError:
            listener.close()
            raise
        self._listener = listener
        self._port = listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"{self.name}-accept", daemon=True
        )
        self._accept_thread.start()
        log.debug("%s listening on %s:%d", self.name, self.HOST, self._port)
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Close the listener and every open connection and join all threads.

        Safe to call more than once, or on a server that was never started.

        :param timeout: upper bound on the wait for each thread, s.
        """
        if self._listener is None:
            return
        self._stopping.set()
        if self._wake_w is not None:
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")
        threads = [self._accept_thread] if self._accept_thread is not None else []
        if self._accept_thread is not None:
            self._accept_thread.join(timeout)
        with self._lock:
            threads += list(self._conn_threads)
        for thread in threads:
            thread.join(timeout)
        alive = [t.name for t in threads if t.is_alive()]
        if alive:
            log.warning("%s: threads still running after stop(): %s", self.name, alive)
        for sock in (self._listener, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._listener = self._wake_r = self._wake_w = None
        self._accept_thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ addresses

    @property
    def port(self) -> int:
        """The bound TCP port.

        :raises RuntimeError: before :meth:`start`.
        """
        if self._port is None:
            raise RuntimeError(f"{self.name}: not started")
        return self._port

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` of the listener."""
        return (self.HOST, self.port)

    @property
    def resource(self) -> str:
        """VISA resource string for pyvisa-py: ``TCPIP::127.0.0.1::<port>::SOCKET``."""
        return f"TCPIP::{self.HOST}::{self.port}::SOCKET"

    @property
    def url(self) -> str:
        """pyserial URL: ``socket://127.0.0.1:<port>``."""
        return f"socket://{self.HOST}:{self.port}"

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._listener is not None and not self._stopping.is_set()

    @property
    def active_connections(self) -> int:
        """Number of connections currently being served."""
        with self._lock:
            return len(self._conn_threads)

    @property
    def connections_total(self) -> int:
        """Number of connections accepted since :meth:`start`."""
        with self._lock:
            return self._connections_total

    # ------------------------------------------------------------------ threads

    def _accept_loop(self) -> None:
        assert self._listener is not None and self._wake_r is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self._listener, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in sel.select():
                    if key.fileobj is not self._listener or self._stopping.is_set():
                        continue
                    try:
                        conn, peer = self._listener.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        if self._stopping.is_set():
                            return
                        raise
                    self._spawn(conn, peer)

    def _spawn(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        conn.setblocking(True)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._connections_total += 1
            number = self._connections_total
            thread = threading.Thread(
                target=self._serve,
                args=(conn, peer),
                name=f"{self.name}-conn{number}",
                daemon=True,
            )
            self._conn_threads.add(thread)
        thread.start()

    def _serve(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        reset = False
        try:
            reset = self._serve_lines(conn)
        except OSError as exc:  # peer went away mid-write and the like
            log.debug("%s: connection %s ended: %r", self.name, peer, exc)
        finally:
            if reset:
                # SO_LINGER with zero timeout: close() sends RST instead of FIN.
                with contextlib.suppress(OSError):
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
            with self._lock:
                self._conn_threads.discard(threading.current_thread())

    def _serve_lines(self, conn: socket.socket) -> bool:
        """Serve one connection until EOF, stop or a drop; return True for an abortive close."""
        assert self._wake_r is not None
        buffer = bytearray()
        skipping = False  # discarding the rest of an over-long line
        term = self._terminator
        with selectors.DefaultSelector() as sel:
            sel.register(conn, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping.is_set():
                ready = {key.fileobj for key, _ in sel.select()}
                if self._stopping.is_set() or conn not in ready:
                    continue
                chunk = conn.recv(_RECV_SIZE)
                if not chunk:
                    return False
                buffer += chunk
                if skipping:
                    index = buffer.find(term)
                    if index < 0:
                        buffer.clear()
                        continue
                    del buffer[: index + len(term)]
                    skipping = False
                while (index := buffer.find(term)) >= 0:
                    line = bytes(buffer[:index])
                    del buffer[: index + len(term)]
                    if len(line) > self._max_line and self._on_overlong is not None:
                        log.warning(
                            "%s: line longer than %d bytes, discarded", self.name, self._max_line
                        )
                        self._on_overlong()
                        continue
                    try:
                        reply = self._dispatch(line)
                    except DropConnection as drop:
                        log.debug("%s: dropping connection (%s)", self.name, drop)
                        return drop.reset
                    except Exception as exc:
                        log.exception("%s: line handler failed on %r", self.name, line)
                        with self._lock:
                            self.handler_errors.append(exc)
                        return True
                    if reply:
                        conn.sendall(reply)
                if len(buffer) > self._max_line and self._on_overlong is not None:
                    log.warning(
                        "%s: line longer than %d bytes, discarded", self.name, self._max_line
                    )
                    self._on_overlong()
                    buffer.clear()
                    skipping = True
                elif len(buffer) > self._max_line:
                    log.warning(
                        "%s: line longer than %d bytes, dropping", self.name, self._max_line
                    )
                    return True
        return False

    def _dispatch(self, line: bytes) -> bytes | None:
        if self._encoding is None:
            reply = self._handler(line)
            if reply is None:
                return None
            if not isinstance(reply, bytes | bytearray):
                raise TypeError(f"bytes-mode handler returned {type(reply).__name__}, not bytes")
            return bytes(reply)
        text = line.decode(self._encoding)
        if text.endswith("\r"):
            text = text[:-1]
        reply = self._handler(text)
        if reply is None:
            return None
        if not isinstance(reply, str):
            raise TypeError(f"text-mode handler returned {type(reply).__name__}, not str")
        return reply.encode(self._encoding) + self._terminator
