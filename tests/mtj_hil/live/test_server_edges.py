"""The live server at its edges, as an adversary finds them: a GET carrying a second request
in its body, a web page elsewhere reaching the loopback server under its own name (DNS
rebinding), malformed requests and unknown methods, a viewer resetting its connection, a
source that fails after a good read or is read after a quiet spell, and a named pipe swapped
in under the run file."""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time

import pytest

from mtj_hil.live import server as server_module
from mtj_hil.live.binding import is_loopback
from mtj_hil.live.snapshot import RunSource

from .test_server import Counter, _raw


class Failing(Counter):
    """A source whose reads fail with ``error`` once the test sets it."""

    error: Exception | None = None

    def key(self):
        return (self.value, self.error is not None)

    def snapshot(self):
        if self.error is not None:
            raise self.error
        return super().snapshot()


@pytest.fixture
def url(serving):
    return serving(Counter())


def _host(url: str) -> str:
    return url.split("//")[1].rstrip("/")


def test_a_get_with_a_body_never_has_its_body_taken_as_a_request(url):
    hidden = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    for method in (b"GET", b"HEAD"):
        answer = _raw(
            url,
            method + b" /static/style.css HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Length: %d\r\n\r\n" % len(hidden) + hidden,
        )
        assert answer.startswith(b"HTTP/1.1 200"), answer[:80]
        assert answer.count(b"HTTP/1.1 ") == 1 and b'{"ok":true}' not in answer


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("evil.example", b"403"),
        ("evil.example:80", b"403"),
        ("192.168.1.7:8765", b"403"),
        ("127.0.0.1:{port}", b"200"),
        ("localhost:{port}", b"200"),
        ("[::1]:{port}", b"200"),
    ],
)
def test_a_loopback_server_answers_to_its_own_names_only(url, host, status):
    port = _host(url).rsplit(":", 1)[1]
    request = f"GET /api/snapshot HTTP/1.1\r\nHost: {host.format(port=port)}\r\n"
    answer = _raw(url, (request + "Connection: close\r\n\r\n").encode())
    assert answer.split(b"\r\n", 1)[0].split()[1] == status, answer[:120]
    if status == b"403":
        assert b'"state"' not in answer  # nothing of the run leaks


def test_request_errors_are_plain_text_with_the_page_s_headers(url):
    brew = _raw(url, b"BREW /api/snapshot HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert brew.startswith(b"HTTP/1.1 405") and b"Allow: GET, HEAD" in brew
    for request in (
        b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",  # 414
        b"GET / HTTP/1.1\r\nX: " + b"b" * 70_000 + b"\r\n\r\n",  # 431
        b"GET / HTTP/9.9\r\n\r\n",  # 505
        b"GARBAGE\r\n\r\n",  # no version at all: still a status line
    ):
        answer = _raw(url, request)
        head = answer.split(b"\r\n\r\n", 1)[0]
        assert head.startswith(b"HTTP/1."), answer[:80]
        assert b"X-Content-Type-Options: nosniff" in head and b"Content-Security-Policy" in head
        assert b"text/plain" in head and b"<html" not in answer.lower()
        assert b"Python" not in head  # the Server header names no Python version


def test_a_viewer_that_resets_its_connection_prints_no_traceback(url, capfd):
    host, port = _host(url).rsplit(":", 1)
    for _ in range(5):
        conn = socket.create_connection((host, int(port)))
        conn.sendall(b"GET /api/snapshot?seq=1&wait=0.2 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # RST: the answer meets a reset connection
    time.sleep(0.6)
    assert "Traceback" not in capfd.readouterr().err


def test_a_read_failing_after_a_good_one_keeps_the_data_and_says_why(serving):
    source = Failing()
    url = serving(source)
    first = json.loads(
        _raw(url, b"GET /api/snapshot HTTP/1.1\r\nConnection: close\r\n\r\n").split(b"\r\n\r\n", 1)[
            1
        ]
    )
    source.error = PermissionError(13, "Permission denied", "run.h5")
    seen = {}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not seen.get("message"):
        body = _raw(url, b"GET /api/snapshot HTTP/1.1\r\nConnection: close\r\n\r\n")
        seen = json.loads(body.split(b"\r\n\r\n", 1)[1])
        time.sleep(0.1)
    assert seen["value"] == first["value"] and seen["seq"] > first["seq"]
    assert seen["message"].startswith("showing the last good read: PermissionError")


def test_after_a_quiet_spell_the_first_answer_is_read_fresh(monkeypatch, serving):
    monkeypatch.setattr(server_module, "ACTIVE", 0.3)
    source = Counter()
    url = serving(source)
    get = b"GET /api/snapshot HTTP/1.1\r\nConnection: close\r\n\r\n"
    assert json.loads(_raw(url, get).split(b"\r\n\r\n", 1)[1])["value"] == 0
    time.sleep(0.8)  # nobody asks: the watcher stops reading
    source.value = 5
    time.sleep(0.3)
    assert json.loads(_raw(url, get).split(b"\r\n\r\n", 1)[1])["value"] == 5


def test_a_pipe_swapped_in_under_the_run_file_is_refused_not_waited_on(tmp_path):
    from mtj_hil.cli import main

    run = tmp_path / "run.h5"
    args = ["characterize", "--profile", "passive-15x15", "--arrays", "0", "--no-report"]
    assert main([*args, "--out", str(run)]) == 0
    source = RunSource(run)
    assert source.snapshot()["state"] == "completed"
    run.unlink()
    os.mkfifo(run)
    got: list[dict] = []
    reader = threading.Thread(target=lambda: got.append(source.snapshot()), daemon=True)
    reader.start()
    reader.join(10)
    assert got, "the reader is stuck on the pipe"
    assert "not a regular file" in got[0]["message"]


def test_short_and_bracketed_loopback_forms_are_loopback():
    for host in ("127.1", "0x7f000001", "[::1]", "localhost"):
        assert is_loopback(host), host
    for host in ("", "0.0.0.0", "::", "10.0.0.1"):
        assert not is_loopback(host), host


def test_connections_that_never_send_a_request_cannot_take_every_slot(monkeypatch, serving):
    """Clients that opened connections and sent nothing each held a thread for a minute,
    without limit; past the cap a connection is answered 503 and closed at once, and a slot
    freed by a closed connection serves a page again."""
    monkeypatch.setattr(server_module, "MAX_CONNECTIONS", 4, raising=False)
    url = serving(Counter())
    host, port = _host(url).split(":")
    idle = [socket.create_connection((host, int(port)), timeout=5) for _ in range(4)]
    try:
        time.sleep(0.3)  # every one accepted and holding its slot
        busy = _raw(url, b"GET /api/health HTTP/1.1\r\nHost: " + _host(url).encode() + b"\r\n\r\n")
        assert busy.startswith(b"HTTP/1.1 503") and b"Retry-After" in busy
        idle.pop().close()
        deadline = time.monotonic() + 5
        answer = b""
        while time.monotonic() < deadline and not answer.startswith(b"HTTP/1.1 200"):
            time.sleep(0.1)
            answer = _raw(
                url,
                b"GET /api/health HTTP/1.1\r\nHost: " + _host(url).encode()
                + b"\r\nConnection: close\r\n\r\n",
            )  # fmt: skip
        assert answer.startswith(b"HTTP/1.1 200")
    finally:
        for conn in idle:
            conn.close()
