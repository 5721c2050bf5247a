"""The live server: GET only, long polls shared by many viewers, catching up after a
reconnect, ports in use, loopback by default, and ending after the measurement."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from mtj_hil.errors import ConfigError
from mtj_hil.live import binding
from mtj_hil.live.binding import is_loopback, listen, url_of
from mtj_hil.live.server import serve


class Counter:
    """A source whose data changes when the test says so; counts the reads."""

    title = "counter"

    def __init__(self) -> None:
        self.value, self.reads = 0, 0

    def key(self):
        return self.value

    def snapshot(self):
        self.reads += 1
        return {"state": "running", "value": self.value, "nan": float("nan")}


@pytest.fixture
def served(serving):
    source = Counter()
    return source, serving(source)


def get(url: str, method: str = "GET"):
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_page_assets_and_snapshot_are_served_read_only(served):
    source, url = served
    status, headers, body = get(url)
    assert status == 200 and b"/static/app.js" in body
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    for name in ("index.html", "app.js", "plot.js", "panels.js", "style.css"):
        status, _, asset = get(url + "static/" + name)
        assert status == 200 and b"://" not in asset  # works offline: nothing from outside
    status, _, body = get(url + "api/snapshot")
    snap = json.loads(body)
    assert status == 200 and snap["value"] == 0 and snap["nan"] is None and snap["seq"] >= 1
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert get(url + "api/snapshot", method)[0] == 405
    assert get(url + "static/../server.py")[0] == 404
    assert get(url + "api/snapshot?seq=x")[0] == 400


def test_many_viewers_share_one_read_and_all_wake_on_a_change(served):
    source, url = served
    seq = json.loads(get(url + "api/snapshot")[2])["seq"]
    reads = source.reads
    got: list[dict] = []

    def viewer():
        got.append(json.loads(get(url + f"api/snapshot?seq={seq}&wait=20")[2]))

    threads = [threading.Thread(target=viewer) for _ in range(40)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    assert not got  # all held: nothing changed yet
    t0 = time.monotonic()
    source.value = 1
    for t in threads:
        t.join(10)
    assert len(got) == 40 and {g["value"] for g in got} == {1}
    assert time.monotonic() - t0 < 1.0
    assert source.reads == reads + 1  # forty viewers, one read of the source
    # a viewer that lost its connection asks without a sequence number: the whole state
    assert json.loads(get(url + "api/snapshot")[2])["value"] == 1


def test_a_poll_without_change_returns_after_its_wait(served):
    _, url = served
    seq = json.loads(get(url + "api/snapshot")[2])["seq"]
    t0 = time.monotonic()
    assert json.loads(get(url + f"api/snapshot?seq={seq}&wait=0.3")[2])["seq"] == seq
    assert 0.25 < time.monotonic() - t0 < 5


def test_port_in_use_next_free_or_a_clear_error(monkeypatch):
    held = socket.create_server(("127.0.0.1", 0))
    port = held.getsockname()[1]
    with pytest.raises(ConfigError, match=f"port {port} on 127.0.0.1 is in use"):
        listen("127.0.0.1", port)
    monkeypatch.setattr(binding, "FIRST_PORT", port)
    sock = listen()
    assert sock.getsockname()[1] != port and url_of(sock).startswith("http://127.0.0.1:")
    sock.close()
    held.close()


def test_loopback_is_the_default_and_others_are_told_apart():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    sock = listen()
    assert sock.getsockname()[0] == "127.0.0.1"
    sock.close()


def test_server_ends_once_its_measurement_is_gone_and_nobody_looks():
    sock = listen()
    done = threading.Event()

    def run():
        serve(Counter(), sock, parent_pid=-1, idle_exit=0.5)  # -1: never our parent
        done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(10)


def test_a_server_asked_to_stop_by_another_thread_ends_and_frees_its_port():
    """``serve(..., until=event)``: an in-process server (a notebook's, a test's) ends when
    the event is set, even with a viewer's long poll open, and its port is free again."""
    sock = listen("127.0.0.1", 0)
    url, port = url_of(sock), sock.getsockname()[1]
    ready, until = threading.Event(), threading.Event()
    thread = threading.Thread(
        target=serve, args=(Counter(), sock), kwargs={"ready": ready, "until": until}, daemon=True
    )
    thread.start()
    assert ready.wait(5)
    host = url.split("//")[1].rstrip("/").split(":")[0]
    with socket.create_connection((host, port), timeout=5) as poll:
        poll.sendall(b"GET /api/snapshot?seq=1&wait=20 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        until.set()
        thread.join(5)
        assert not thread.is_alive()
    socket.create_server(("127.0.0.1", port)).close()  # nothing holds the port now


def _raw(url: str, request: bytes, wait: float = 5.0) -> bytes:
    """What the server answers to ``request`` sent as it is, until it closes or ``wait``."""
    host, port = url.split("//")[1].rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as conn:
        conn.sendall(request)
        chunks = []
        try:
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)


@pytest.mark.parametrize("wait", ["nan", "NaN", "-nan"])
def test_a_wait_that_is_no_number_is_refused_not_spun_on(served, wait):
    # min(nan, 25) is nan: Condition.wait_for(pred, nan) spun a core until the data changed
    _, url = served
    seq = json.loads(get(url + "api/snapshot")[2])["seq"]
    t0 = time.monotonic()
    assert get(url + f"api/snapshot?seq={seq}&wait={wait}")[0] == 400
    assert time.monotonic() - t0 < 5
    before = threading.active_count()
    time.sleep(0.3)
    assert threading.active_count() <= before  # no thread left waiting


@pytest.mark.parametrize("path", ["app.js", "index.html", "static/app.js", "/staticapp.js"])
def test_a_path_without_its_leading_slash_is_not_found(served, path):
    # 'GET app.js' matched the static table and read the static folder itself: no answer
    _, url = served
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    answer = _raw(url, request.encode())
    assert answer.startswith(b"HTTP/1.1 404"), answer[:80]


def test_a_refused_method_closes_the_connection_so_its_body_is_never_a_request(served):
    # the 405 left the body unread on a kept-alive connection: a GET hidden in it was served
    _, url = served
    hidden = b"GET /api/health HTTP/1.1\r\nConnection: close\r\n\r\n"
    answer = _raw(
        url,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(hidden) + hidden,
    )
    assert answer.startswith(b"HTTP/1.1 405")
    assert b"Allow: GET, HEAD" in answer  # RFC 9110 15.5.6
    assert b'{"ok":true}' not in answer and answer.count(b"HTTP/1.1 ") == 1
    for method in ("OPTIONS", "TRACE"):  # docs/live.md: any method but GET is refused
        assert get(url + "api/snapshot", method)[0] == 405
