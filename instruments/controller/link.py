"""The controller board's link: port ownership, sequence numbers, the transaction engine
(computed timeouts, bounded retries, resynchronisation) and the session handshake.

:class:`ControllerLink` sends one command and returns the reply fields after the echoed verb
(:meth:`ControllerLink._transact`); :class:`mtj_hil.instruments.controller.commands.ChipController`
builds the board's commands on it. Protocol: docs/chip-protocol.md.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Self, TypeVar, cast

from mtj_hil.instruments.bus.transport import (
    call_with_retries,
    drain_input,
    scaled_timeout,
    transaction,
)
from mtj_hil.instruments.controller.codec import (
    _HEX2,
    MAX_FRAME_BYTES,
    MAX_REPLY_BYTES,
    ControllerError,
    Frame,
    FrameError,
    _require,
    decode_frame,
    encode_frame,
    parse_fields,
)
from mtj_hil.instruments.controller.port import open_port
from mtj_hil.instruments.controller.replies import parse_identity
from mtj_hil.instruments.controller.types import ChipIdentity
from mtj_hil.instruments.errors import InstrumentError, InstrumentStateLost, InstrumentTimeout

__all__ = ["ControllerLink"]

log = logging.getLogger("mtj_hil.instruments.controller")

T = TypeVar("T")


class ControllerLink:
    """Port, framing and transactions of one controller board (arguments: see
    :class:`mtj_hil.instruments.controller.ChipController`, which adds the board's commands)."""

    def __init__(
        self,
        url: str | None = None,
        *,
        baudrate: int = 115200,
        timeout: float = 0.5,
        retries: int = 2,
        connection: Any = None,
        port_name: str | None = None,
        identify: bool = True,
        envelope: Any = None,
        exclusive: bool = True,
        write_timeout: float | None = 1.0,
        rtscts: bool = False,
        xonxoff: bool = False,
        dtr: bool | None = None,
        rts: bool | None = None,
        keepalive_s: float = 10.0,
        link_clock: Callable[[], float] = time.monotonic,
        time_scale: float = 1.0,
    ) -> None:
        if not (math.isfinite(time_scale) and time_scale >= 1.0):
            raise ValueError(f"time_scale must be a finite number >= 1, not {time_scale!r}")
        self.time_scale = time_scale
        """Wall seconds per second of the board's own time (1 on a real board); every reply
        timeout is stretched by it."""
        self._url = url
        self._port_options: dict[str, Any] = dict(
            baudrate=baudrate,
            timeout=timeout,
            exclusive=exclusive,
            write_timeout=write_timeout,
            rtscts=rtscts,
            xonxoff=xonxoff,
            dtr=dtr,
            rts=rts,
        )
        self.link_lost = False
        """A port error (not a timeout) said the link itself is gone: :meth:`reopen` it."""
        if connection is None:
            if url is None:
                raise ValueError("give a url or a connection")
            connection = open_port(url, **self._port_options)
            self._owns_connection = True
        else:
            self._owns_connection = False
        self._conn = connection
        self.baudrate = baudrate
        self.timeout = timeout
        self.retries = retries
        self.envelope = envelope
        self.port_name = port_name or url or str(getattr(connection, "port", None) or id(self))
        self._seq = 0
        self._needs_resync = False
        self.keepalive_s = keepalive_s
        self._link_clock = link_clock
        self._last_frame_at = link_clock()
        self.identity: ChipIdentity | None = None
        if identify:
            try:
                self.open_session()
            except BaseException:
                self.close()
                raise

    # --- context manager / lifetime ----------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reopen(self) -> None:
        """Close the port and open it again with the same options, after the link was lost
        under it (a USB-serial adapter that re-enumerated, a serial server's socket reset):
        the board itself may still hold its routes and read voltages, and only a new port
        can reset it. The next transaction resynchronises first (``SYNC``).

        Raises:
            InstrumentError: the port was given by the caller, or cannot be opened again.
        """
        if not self._owns_connection or self._url is None:
            raise InstrumentError(f"{self.port_name}: a port given by the caller is not reopened")
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - the old port is dead already
                log.debug("%s: closing the lost port failed", self.port_name)
        self._conn = None
        self._conn = open_port(self._url, **self._port_options)
        self._needs_resync = True
        self.link_lost = False
        log.warning("%s: link lost, port reopened", self.port_name)

    def close(self) -> None:
        """Close the port if this driver opened it (idempotent)."""
        if self._owns_connection and self._conn is not None:
            self._conn.close()
        self._conn = None

    # --- transport ---------------------------------------------------------------------

    def _next_seq(self) -> int:
        seq = self._seq
        self._seq = (self._seq + 1) & 0xFF
        return seq

    def _connection(self) -> Any:
        if self._conn is None:
            raise InstrumentError(f"{self.port_name}: controller connection is closed")
        return self._conn

    @contextmanager
    def _port_errors(self, command: str) -> Iterator[None]:
        """Turn pyserial / OS errors of the port into InstrumentError naming port and command
        (a write timeout into InstrumentTimeout, so it is retried like a lost reply)."""
        try:
            yield
        except InstrumentError:
            raise
        except OSError as exc:  # serial.SerialException and SerialTimeoutException included
            if type(exc).__name__ == "SerialTimeoutException":
                raise InstrumentTimeout(
                    f"{self.port_name}: write of {command} timed out (port stalled)"
                ) from exc
            self.link_lost = True
            raise InstrumentError(f"{self.port_name}: port error during {command}: {exc}") from exc

    def _readline(self, deadline: float, command: str) -> bytes:
        conn = self._connection()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise InstrumentTimeout(f"{self.port_name}: timeout waiting for reply to {command}")
        conn.timeout = remaining
        with self._port_errors(command):
            line = conn.read_until(b"\n", MAX_REPLY_BYTES)
        if line.endswith(b"\n"):
            return bytes(line)
        if len(line) >= MAX_REPLY_BYTES:
            raise FrameError(f"{self.port_name}: reply to {command} longer than allowed")
        raise InstrumentTimeout(
            f"{self.port_name}: timeout waiting for reply to {command} (partial: {line!r})"
        )

    def _resync(self) -> int:
        """Drain input, flush the board's parser with a LF, SYNC; return the board's last seq.

        Returns -1 when the board reports ``last=--``.
        """
        conn = self._connection()
        seq = self._next_seq()
        with self._port_errors("SYNC"):
            drain_input(conn)
            conn.write(b"\n" + encode_frame("SYNC", seq))
        deadline = time.monotonic() + self.timeout * self.time_scale
        while True:
            line = self._readline(deadline, "SYNC")
            try:
                frame = decode_frame(line)
            except FrameError:
                continue
            if frame.verb == "OK" and frame.seq == seq and frame.args[:1] == ("SYNC",):
                break
            log.debug("%s: discarded %r while resynchronising", self.port_name, line)
        self._last_frame_at = self.link_clock()
        (last,) = _require(parse_fields(frame.args[1:]), "last")
        self._needs_resync = False
        if last == "--":
            return -1
        if not _HEX2.fullmatch(last):
            raise FrameError(f"invalid last={last!r} in SYNC reply")
        return int(last, 16)

    def _read_reply(self, seq: int, command: str, deadline: float) -> Frame:
        limit = MAX_REPLY_BYTES if command == "SCAN" else MAX_FRAME_BYTES
        frame = decode_frame(self._readline(deadline, command), limit)
        if frame.verb == "ERR" and frame.seq is None:
            raise FrameError(
                f"{self.port_name}: controller could not parse {command}: "
                f"{frame.error_code} {frame.error_message}"
            )
        if frame.verb not in ("OK", "ERR"):
            raise FrameError(f"{self.port_name}: unexpected verb {frame.verb!r} in reply")
        if frame.seq != seq:
            raise FrameError(
                f"{self.port_name}: sequence mismatch for {command}: "
                f"sent {seq:02X}, got {frame.seq:02X}"
            )
        if frame.verb == "OK" and frame.args[:1] != (command,):
            raise FrameError(f"{self.port_name}: reply to {command} names {frame.args[:1]}")
        return frame

    def _read_stream(self, seq: int, command: str, deadline: float) -> tuple[list[Frame], Frame]:
        """Frames of a streamed reply (firmware 1.3 ``SEQ RUN``): ``DAT`` frames carrying the
        request's sequence number, then the final ``OK``/``ERR``."""
        frames: list[Frame] = []
        while True:
            frame = decode_frame(self._readline(deadline, command), MAX_REPLY_BYTES)
            if frame.verb == "DAT":
                if frame.seq != seq:
                    raise FrameError(
                        f"{self.port_name}: DAT frame of sequence {frame.seq:02X} while "
                        f"waiting for {seq:02X}"
                    )
                frames.append(frame)
                continue
            if frame.verb == "ERR" and frame.seq is None:
                raise FrameError(
                    f"{self.port_name}: controller could not parse {command}: "
                    f"{frame.error_code} {frame.error_message}"
                )
            if frame.verb not in ("OK", "ERR") or frame.seq != seq:
                raise FrameError(f"{self.port_name}: unexpected frame {frame} in a stream")
            if frame.verb == "OK" and frame.args[:1] != (command,):
                raise FrameError(f"{self.port_name}: reply to {command} names {frame.args[:1]}")
            return frames, frame

    def _operation_timeout(self, operation_s: float, n_out: int, n_in: int) -> float:
        """Seconds to wait for the reply to a command of ``operation_s`` board seconds with
        ``n_out`` and ``n_in`` bytes on the wire (the configured timeout before the board
        said its limits), stretched by :attr:`time_scale`."""
        if self.identity is None:
            return self.timeout * self.time_scale
        t_cmd = self.identity.limits.t_cmd
        wait = scaled_timeout(
            t_cmd + operation_s, bytes_out=n_out, bytes_in=n_in, baudrate=self.baudrate
        )
        return wait * self.time_scale

    def _transact(
        self,
        command: str,
        args: Sequence[str] = (),
        operation_s: float = 0.0,
        reply_bytes: int = 64,
    ) -> tuple[str, ...]:
        """Send one command and return the reply fields after the echoed verb.

        Raises:
            ControllerError: ``ERR`` reply to this command.
            InstrumentTimeout: no valid reply after all tries.
            InstrumentError: garbled or mismatched replies after all tries.
        """
        frame_bytes: bytes | None = None
        with transaction(self.port_name):
            if self._needs_resync:
                call_with_retries(
                    self._resync,
                    port=self.port_name,
                    command="SYNC",
                    retries=self.retries,
                    retry_on=(InstrumentTimeout, FrameError),
                )
            seq = self._next_seq()
            frame_bytes = encode_frame(command, seq, args)
            timeout_s = self._operation_timeout(operation_s, len(frame_bytes), reply_bytes)

            def attempt() -> Frame:
                with self._port_errors(command):
                    self._connection().write(frame_bytes)
                    return self._read_reply(seq, command, time.monotonic() + timeout_s)

            try:
                reply = call_with_retries(
                    attempt,
                    port=self.port_name,
                    command=command,
                    retries=self.retries,
                    resync=self._resync,
                    retry_on=(InstrumentTimeout, FrameError),
                )
            except InstrumentError:
                self._needs_resync = True
                raise
            self._last_frame_at = self.link_clock()
        if reply.verb == "ERR":
            raise ControllerError(reply.error_code, reply.error_message, command)
        return reply.args[1:]

    def _transact_stream(
        self,
        command: str,
        args: Sequence[str],
        operation_s: float,
        reply_bytes: int,
        accept: Callable[[list[Frame], tuple[str, ...]], T],
    ) -> T:
        """:meth:`_transact` for a streamed reply: returns ``accept(frames, fields)`` of its
        ``DAT`` frames and the final ``OK``'s fields. ``accept`` raises FrameError when they
        do not hold together (a frame lost, repeated or out of order on the way): that try
        failed like a garbled reply, and the retry resends the same bytes; the board replays
        every frame of the run without running it again (replay memory), so the frames are
        collected afresh.

        Raises:
            ControllerError: the final frame is ``ERR`` (frames before it are discarded).
            InstrumentStateLost: the board reset itself during the run (its resync
                remembers no frame): it is in its power-up safe state.
            InstrumentTimeout, InstrumentError: as :meth:`_transact`.
        """
        with transaction(self.port_name):
            if self._needs_resync:
                call_with_retries(
                    self._resync,
                    port=self.port_name,
                    command="SYNC",
                    retries=self.retries,
                    retry_on=(InstrumentTimeout, FrameError),
                )
            seq = self._next_seq()
            frame_bytes = encode_frame(command, seq, args)
            timeout_s = self._operation_timeout(operation_s, len(frame_bytes), reply_bytes)

            def attempt() -> tuple[Frame, T | None]:
                with self._port_errors(command):
                    self._connection().write(frame_bytes)
                    frames, final = self._read_stream(seq, command, time.monotonic() + timeout_s)
                # checked inside the try, so a stream damaged on the way is asked again
                return final, None if final.verb == "ERR" else accept(frames, final.args[1:])

            def resync() -> None:
                # the board remembers the last frame it executed (at least this session's
                # IDN) until its own reset: none remembered means it reset during the run
                if self._resync() < 0:
                    raise InstrumentStateLost(
                        f"{self.port_name}: the board reset itself during {command} {args[0]}"
                        " (it answers as after power-up): it is in its safe state and the"
                        " results of the run are lost"
                    )

            try:
                final, accepted = call_with_retries(
                    attempt,
                    port=self.port_name,
                    command=command,
                    retries=self.retries,
                    resync=resync,
                    retry_on=(InstrumentTimeout, FrameError),
                )
            except InstrumentError:
                self._needs_resync = True
                raise
            self._last_frame_at = self.link_clock()
        if final.verb == "ERR":
            raise ControllerError(final.error_code, final.error_message, command)
        return cast(T, accepted)

    @property
    def link_clock(self) -> Callable[[], float]:
        """The clock (s) link idle time is measured on; setting it restarts the idle time."""
        return self._link_clock

    @link_clock.setter
    def link_clock(self, clock: Callable[[], float]) -> None:
        self._link_clock = clock
        self._last_frame_at = clock()

    @property
    def idle_s(self) -> float:
        """Seconds (on :attr:`link_clock`) since the board last answered a frame."""
        return self.link_clock() - self._last_frame_at

    def _transact_echo(self, command: str, args: Sequence[str], operation_s: float = 0.0) -> None:
        fields = self._transact(command, args, operation_s)
        if fields != tuple(args):
            raise FrameError(f"{self.port_name}: {command} reply {fields} does not echo {args}")

    # --- session -------------------------------------------------------------------------

    def open_session(self) -> ChipIdentity:
        """Handshake: SYNC (adopting the board's sequence counter), then :meth:`identify`.

        Raises:
            InstrumentTimeout, InstrumentError: no valid SYNC reply after all tries.
        """
        with transaction(self.port_name):
            self._seq = 0
            last = call_with_retries(
                self._resync,
                port=self.port_name,
                command="SYNC",
                retries=self.retries,
                retry_on=(InstrumentTimeout, FrameError),
            )
            if last >= 0:
                self._seq = (last + 1) & 0xFF
        return self.identify()

    def identify(self) -> ChipIdentity:
        """Query ``IDN`` and ``LIM``; store and return the identity (geometry and limits).

        Raises:
            ControllerError, InstrumentError: refused or malformed replies.
        """
        self._seq_buffer = None  # a new session: the board's sequence buffer is unknown
        self._seq_map = None  # and its threshold map
        idn = self._transact("IDN", reply_bytes=128)
        lim = self._transact("LIM", reply_bytes=256)
        self.identity = parse_identity(idn, lim, self.port_name)
        return self.identity

    def _id(self) -> ChipIdentity:
        if self.identity is None:
            raise InstrumentError(f"{self.port_name}: call identify() first")
        return self.identity

    # --- commands ------------------------------------------------------------------------
