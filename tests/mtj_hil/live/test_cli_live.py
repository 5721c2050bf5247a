"""``--live`` on the measuring commands and ``mtj-hil view``: options, addresses printed,
and one-line errors with the run-file and configuration exit codes."""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from pathlib import Path

import h5py
import pytest

from mtj_hil.cli import main


@pytest.mark.parametrize(
    "command", [["characterize"], ["switching"], ["campaign", "run"]], ids=" ".join
)
def test_measuring_commands_offer_live(command, capsys):
    assert main([*command, "--help"]) == 0
    text = capsys.readouterr().out
    assert "--live " in text and "--live-host" in text and "--live-port" in text


def test_view_refuses_what_it_cannot_show(tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    plain = tmp_path / "plain.h5"
    h5py.File(plain, "w").close()
    assert main(["view", str(text)]) == 4
    assert main(["view", str(plain)]) == 4
    assert main(["view", str(tmp_path / "missing.h5")]) == 4
    err = capsys.readouterr().err
    assert "not an mtj-hil run file" in err and "does not exist" in err
    bad = tmp_path / "bad.toml"
    bad.write_text("[campaign]\nname = 'x'\n")
    assert main(["view", str(bad)]) == 3


def test_live_port_in_use_is_a_clear_error_before_anything_runs(tmp_path, capsys):
    held = socket.create_server(("127.0.0.1", 0))
    port = held.getsockname()[1]
    out = tmp_path / "r.h5"
    try:
        code = main(
            ["characterize", "--arrays", "0", "--out", str(out), "--live"]
            + ["--live-port", str(port), "--no-report"]
        )
    finally:
        held.close()
    assert code == 3 and not out.exists()
    assert f"port {port} on 127.0.0.1 is in use" in capsys.readouterr().err


@pytest.mark.parametrize(("asked", "niceness"), [(None, 10), ("3", 3)])
def test_characterize_live_prints_the_page_and_leaves_its_server_running(
    tmp_path, capsys, monkeypatch, asked, niceness
):
    if asked is None:
        monkeypatch.delenv("MTJ_HIL_LIVE_NICE", raising=False)
    else:
        monkeypatch.setenv("MTJ_HIL_LIVE_NICE", asked)
    out = tmp_path / "r.h5"
    code = main(["characterize", "--arrays", "0-1", "--out", str(out), "--live", "--no-report"])
    err = capsys.readouterr().err
    assert code == 0
    m = re.search(r"live view: http://127\.0\.0\.1:(\d+)/ \(server pid (\d+)\)", err)
    assert m, err
    pid = int(m.group(2))
    try:
        os.kill(pid, 0)  # still up after the run, for the pages that follow it
        # below the measurement's priority by exactly what was asked (not twice: 19 starves it)
        deadline = time.monotonic() + 10
        while _niceness(pid) != os.nice(0) + niceness and time.monotonic() < deadline:
            time.sleep(0.05)  # it nices itself as its first instruction
        assert _niceness(pid) == os.nice(0) + niceness
    finally:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)


def _niceness(pid: int) -> int:
    """A process's niceness, from /proc (field 19 of its stat line)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])


def test_another_address_needs_asking_and_is_warned_about(capsys):
    from mtj_hil.cli.view import _listen

    sock = _listen("0.0.0.0", None)
    sock.close()
    said = " ".join(capsys.readouterr().err.split())
    assert "listens on every address of this machine: anyone who can reach it" not in said
    assert "listens on every address of this machine: anyone who can reach this machine" in said


@pytest.mark.slow
def test_campaign_run_live_serves_the_campaign(tmp_path, lv):
    (tmp_path / "c.toml").write_text(
        '[campaign]\nname = "lv"\nout_dir = "out"\n\n'
        '[[task]]\nname = "lot"\nkind = "characterize"\ndies = "0-1"\narrays = "0-1"\n'
    )
    log = tmp_path / "campaign.log"
    proc = lv.start(["campaign", "run", str(tmp_path / "c.toml"), "--workers", "1", "--live"], log)
    server = None
    try:
        url, server = lv.page_address(log, timeout=120)
        assert proc.wait(timeout=300) == 0, log.read_text()
        snap = lv.snapshot(url)
        while snap["state"] != "completed":  # the server may not have seen the end yet
            snap = lv.snapshot(url, seq=snap["seq"], wait=5)
        assert snap["source"] == "campaign" and snap["progress"]["done"] == 2
        assert snap["campaign"]["by_kind"]["characterize"]["completed"] == 2
        assert [d["label"] for d in snap["campaign"]["lot"]] == ["die0", "die1"]
        assert all(0.9 < d["yield"] <= 1 for d in snap["campaign"]["lot"])
    finally:
        lv.end(proc.pid)
        lv.end(server)


def test_view_with_seconds_serves_then_stops_by_itself():
    fixture = (
        Path(__file__).resolve().parents[2] / "fixtures" / "legacy-0.1" / "characterization.h5"
    )
    held = socket.create_server(("127.0.0.1", 0))
    port = held.getsockname()[1]
    held.close()
    import threading
    import urllib.request

    codes: list[int] = []
    runner = threading.Thread(
        target=lambda: codes.append(
            main(["view", "--port", str(port), "--seconds", "3", str(fixture)])
        )
    )
    start = time.monotonic()
    runner.start()
    page = None
    while page is None and runner.is_alive() and time.monotonic() - start < 60:
        try:
            page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).read()
        except OSError:
            time.sleep(0.05)
    runner.join(timeout=20)
    assert page and b"<html" in page.lower()  # served meanwhile
    assert not runner.is_alive() and codes == [0]  # then stopped without Ctrl-C
    assert main(["view", "--seconds", "0", str(fixture)]) == 2  # a positive time or none


def test_an_address_not_of_this_machine_names_the_option_that_gave_it(tmp_path, capsys):
    fixture = (
        Path(__file__).resolve().parents[2] / "fixtures" / "legacy-0.1" / "characterization.h5"
    )
    assert main(["view", "--host", "no-such-host.invalid", "--seconds", "0.1", str(fixture)]) == 3
    out = tmp_path / "r.h5"
    live = ["--live", "--live-host", "no-such-host.invalid", "--no-report"]
    assert main(["characterize", "--arrays", "0", "--out", str(out), *live]) == 3
    err = " ".join(capsys.readouterr().err.split())
    assert "(--host no-such-host.invalid)" in err and "(--live-host no-such-host.invalid)" in err
    assert "while attempting to bind" not in err and not out.exists()


@pytest.mark.parametrize(
    "command", [["characterize"], ["switching"], ["campaign", "run", "c.toml"]], ids=" ".join
)
@pytest.mark.parametrize(("option", "value"), [("--live-port", "9000"), ("--live-host", "0.0.0.0")])
def test_a_live_setting_without_live_is_refused_not_ignored(
    command, option, value, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    assert main([*command, option, value]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"Error: {option} {value} works with --live only" in err
    assert list(tmp_path.iterdir()) == []  # refused before anything was read or written


def test_an_empty_host_is_refused_not_read_as_every_address(tmp_path, capsys):
    from mtj_hil.cli import main

    run = tmp_path / "run.h5"  # the refusal comes before the file is looked at
    assert main(["view", str(run), "--host", "", "--seconds", "1"]) == 2
    assert "names no address" in " ".join(capsys.readouterr().err.split())
    live = ["characterize", "--profile", "passive-15x15", "--arrays", "0", "--no-report"]
    assert main([*live, "--live", "--live-host", " ", "--out", str(run)]) == 2
    assert not run.exists()
