"""Controller-board driver on a real pyserial URL against a tiny board simulator built from
the same codec."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from mtj_hil.instruments.controller import (
    ChipController,
    ControllerError,
    FrameError,
    decode_frame,
    err_frame,
    ok_frame,
)

from .fakes import IDN_FIELDS, LIM_02_OK, STAT_FIELDS


class _MiniBoard(threading.Thread):
    """Just enough of a board for the socket test: SYNC, IDN, LIM, STAT, RST, replay memory."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.executed: list[bytes] = []

    def run(self) -> None:
        conn, _ = self.server.accept()
        buf = b""
        last: tuple[bytes, bytes] | None = None
        with conn:
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if not line:
                        continue
                    try:
                        f = decode_frame(line)
                    except FrameError as exc:
                        conn.sendall(err_frame(None, "E01", str(exc)[:40].replace("*", "")))
                        continue
                    if last is not None and line == last[0]:
                        conn.sendall(last[1])
                        continue
                    if f.verb == "SYNC":
                        seq = "--" if last is None else line.split(b" ")[1].decode()
                        conn.sendall(ok_frame(f.seq, "SYNC", f"last={seq}"))
                        continue
                    self.executed.append(line)
                    if f.verb == "IDN":
                        reply = ok_frame(f.seq, "IDN", *IDN_FIELDS)
                    elif f.verb == "LIM":
                        reply = ok_frame(
                            f.seq, "LIM", *LIM_02_OK.decode().split("*")[0].split()[3:]
                        )
                    elif f.verb == "STAT":
                        reply = ok_frame(f.seq, "STAT", *STAT_FIELDS)
                    elif f.verb == "RST":
                        reply = ok_frame(f.seq, "RST")
                    else:
                        reply = err_frame(f.seq, "E02", f"unknown command {f.verb}")
                    last = (line, reply)
                    conn.sendall(reply)


def test_socket_url_end_to_end():
    board = _MiniBoard()
    board.start()
    with ChipController(f"socket://127.0.0.1:{board.port}", timeout=2.0) as ctl:
        assert ctl.identity is not None and ctl.identity.model == "XBC-1"
        assert ctl.status().array == 7
        ctl.reset()
        with pytest.raises(ControllerError, match="E02"):
            ctl._transact("FOO")
    time.sleep(0.05)
    assert [line.split(b" ")[0] for line in board.executed] == [
        b"IDN",
        b"LIM",
        b"STAT",
        b"RST",
        b"FOO",
    ]
