"""One process at a time on a bench. Two commands pointed at one bench each reset the SMU
and board the other was measuring with (both runs failed blaming a reset; without an SMU a
run completed with a wrong defect map), and ``station check`` reset the SMU of a running
measurement. The second process is now refused before any instrument hears from it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import tomllib
from pathlib import Path

import pytest

from mtj_hil.sim.lab.lab import VirtualLab
from mtj_hil.station.bench_lock import BenchInUse, address_key, hold_bench
from mtj_hil.station.check import check_station
from mtj_hil.station.connect import open_station
from mtj_hil.station.files import station_from_dict

STATION = Path(__file__).resolve().parents[3] / "stations" / "virtual-lab.toml"


@pytest.fixture(autouse=True)
def own_lock_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MTJ_HIL_LOCK_DIR", str(tmp_path / "locks"))


def test_one_address_is_held_once_and_free_again_after():
    with hold_bench(["TCPIP::10.0.0.5::5025::SOCKET"]):
        # the same instrument under another spelling is the same lock
        refused = pytest.raises(BenchInUse, match=f"in use by process {os.getpid()}")
        with refused as err, hold_bench(["tcpip0::10.0.0.5::5025::socket"]):
            pass
        # the holder's relative paths (campaign run c.toml) are told from where it runs
        assert f"(in {os.getcwd()})" in str(err.value)
        with hold_bench(["virtual", "TCPIP::10.0.0.6::5025::SOCKET"]):
            pass  # in-process labs and other instruments are free
    with hold_bench(["TCPIP::10.0.0.5::5025::SOCKET"]):
        pass


def test_address_spellings():
    assert address_key("socket://LOCALHOST:4000") == "socket://localhost:4000"
    assert address_key("GPIB::24") == address_key("gpib0::24::instr")


def _station(lab: VirtualLab):
    data = tomllib.loads(STATION.read_text())
    del data["calibration"]
    data["controller"]["url"] = lab.controller_url
    data["smu"]["sense"]["resource"] = lab.smu_resource
    return station_from_dict(data, STATION)


def _holder(lab: VirtualLab, tmp_path: Path) -> subprocess.Popen:
    """Another process holding the lab's bench until killed."""
    code = textwrap.dedent(
        f"""
        import time
        from mtj_hil.station.bench_lock import hold_bench
        with hold_bench([{lab.controller_url!r}, {lab.smu_resource!r}]):
            print("held", flush=True)
            time.sleep(120)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_process_is_refused_before_any_instrument_hears_from_it(tmp_path):
    with VirtualLab("1t1r-20k", 0, 7) as lab:
        holder = _holder(lab, tmp_path)
        try:
            station = _station(lab)
            sent = len(lab.smu.transcript)
            refused = pytest.raises(BenchInUse, match=f"in use by process {holder.pid}")
            with refused, open_station(station, apply_calibration=False):
                pass
            assert len(lab.smu.transcript) == sent  # not a query, not a reset
            report = check_station(station)
            assert not report.ok
            assert all("in use, not checked" in c.outcome for c in report.instruments)
            assert len(lab.smu.transcript) == sent
        finally:
            holder.send_signal(signal.SIGKILL)  # however it ends, the kernel frees the lock
            holder.wait(10)
        deadline = time.monotonic() + 10
        while True:
            try:
                with open_station(station, apply_calibration=False) as chip:
                    chip.verify_instruments()
                break
            except BenchInUse:
                assert time.monotonic() < deadline
                time.sleep(0.1)


def test_a_lock_file_is_writable_by_every_user_of_the_machine(tmp_path):
    """A lock file made under a umask of 022 was the first user's alone: another user's
    command failed to open it (a traceback) instead of taking the lock."""
    old = os.umask(0o022)
    try:
        with hold_bench(["GPIB::24"]):
            pass
    finally:
        os.umask(old)
    (lock,) = (tmp_path / "locks").glob("*.lock")
    assert lock.stat().st_mode & 0o777 == 0o666
    assert (tmp_path / "locks").is_dir()


def test_a_lock_folder_that_cannot_be_made_is_named(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("MTJ_HIL_LOCK_DIR", str(blocker / "locks"))
    refused = pytest.raises(BenchInUse, match="cannot make the bench lock folder .*LOCK_DIR")
    with refused, hold_bench(["GPIB::24"]):
        pass
