"""``socket://`` ports read reply lines in chunks: the same bytes and timeouts as pyserial's
one-byte reads, a few reads per line instead of one per byte, and a reply that came just
before the peer closed the socket is still read."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import serial

from mtj_hil.instruments.controller.port import open_port
from mtj_hil.instruments.controller.socket_lines import SocketLines


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, SocketLines]]:
    """A peer socket and the chunk-reading port connected to it."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = open_port(f"socket://127.0.0.1:{server.getsockname()[1]}", timeout=1.0)
        peer, _ = server.accept()
    assert isinstance(port, SocketLines)
    yield peer, port
    peer.close()
    port.close()


def _counting(port: SocketLines) -> list[int]:
    """Count the reads ``port`` makes of its pyserial port (sizes asked)."""
    asked: list[int] = []
    inner = port._port
    read = inner.read
    inner.read = lambda size=1: asked.append(size) or read(size)
    return asked


def test_lines_come_whole_and_in_order_with_few_reads(pair) -> None:
    peer, port = pair
    asked = _counting(port)
    scan = b"OK 05 SCAN " + b"ABC" * 200 + b"*1F\n"
    peer.sendall(scan + b"OK 06 STAT*00\n" + b"OK 07")
    time.sleep(0.05)
    port.timeout = 0.5
    assert port.read_until(b"\n", 4096) == scan
    assert port.read_until(b"\n", 4096) == b"OK 06 STAT*00\n"
    assert len(asked) <= 4  # pyserial's read_until: one read per byte, 617 here
    peer.sendall(b" RST*11\n")
    assert port.read_until(b"\n", 4096) == b"OK 07 RST*11\n"


def test_a_line_that_does_not_end_in_time_comes_back_partial_after_the_timeout(pair) -> None:
    peer, port = pair
    peer.sendall(b"OK 01 ID")
    port.timeout = 0.2
    start = time.monotonic()
    assert port.read_until(b"\n", 4096) == b"OK 01 ID"
    assert 0.18 <= time.monotonic() - start < 1.0


def test_a_reply_longer_than_the_limit_stops_at_the_limit(pair) -> None:
    peer, port = pair
    peer.sendall(b"x" * 100 + b"\n")
    port.timeout = 0.5
    assert port.read_until(b"\n", 40) == b"x" * 40
    assert port.read(61) == b"x" * 60 + b"\n"


def test_the_last_reply_before_the_peer_closes_is_read_then_the_close_is_raised(pair) -> None:
    peer, port = pair
    peer.sendall(b"OK 03 RST*22")

    def end_line_and_close() -> None:  # the line's last byte comes alone, then the close
        peer.sendall(b"\n")
        peer.close()

    threading.Timer(0.1, end_line_and_close).start()
    port.timeout = 1.0
    assert port.read_until(b"\n", 4096) == b"OK 03 RST*22\n"
    with pytest.raises(serial.SerialException):
        port.read_until(b"\n", 4096)


def test_draining_drops_the_bytes_kept_from_an_earlier_read(pair) -> None:
    peer, port = pair
    peer.sendall(b"OK 01 A*00\nOK 02 B*00\n")
    time.sleep(0.05)
    port.timeout = 0.5
    assert port.read_until(b"\n", 4096) == b"OK 01 A*00\n"
    assert port.in_waiting > 0
    port.reset_input_buffer()
    assert port.in_waiting == 0
    peer.sendall(b"OK 03 C*00\n")
    assert port.read_until(b"\n", 4096) == b"OK 03 C*00\n"


def test_any_chunking_gives_the_lines_a_plain_pyserial_port_gives() -> None:
    rng = random.Random(7)
    lines = [
        b"".join(rng.choice([b"A", b"7", b" ", b"*", b"\r"]) for _ in range(rng.randint(0, 90)))
        + b"\n"
        for _ in range(60)
    ]
    stream = b"".join(lines)
    got: dict[str, list[bytes]] = {}
    for name in ("plain", "chunked"):
        with socket.create_server(("127.0.0.1", 0)) as server:
            url = f"socket://127.0.0.1:{server.getsockname()[1]}"
            if name == "plain":
                port = serial.serial_for_url(url, timeout=1.0)
            else:
                port = open_port(url, timeout=1.0)
            peer, _ = server.accept()
        cuts = sorted(rng.sample(range(1, len(stream)), 25))
        with peer:
            for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
                peer.sendall(stream[a:b])
                if rng.random() < 0.3:
                    time.sleep(0.002)
            pieces, total = [], 0
            while total < len(stream):  # (a line over 64 bytes comes in pieces)
                pieces.append(port.read_until(b"\n", 64))
                total += len(pieces[-1])
            got[name] = pieces
        port.close()
    assert got["chunked"] == got["plain"]
    assert b"".join(got["chunked"]) == stream
