"""Warnings a task raises on a worker (a station without a calibration record, a board that
falls back to one command at a time) reach the person running the campaign as one line
naming the task, once per message, instead of a worker's raw warning with its source
line (or nothing, on a remote worker)."""

from __future__ import annotations

import dataclasses
import threading
import warnings
from pathlib import Path

from mtj_hil.campaigns import load_campaign
from mtj_hil.campaigns.engine import run_campaign
from mtj_hil.campaigns.worker import relayed_warnings
from mtj_hil.cli.main import main


def test_relayed_warnings_are_one_line_each_once():
    with relayed_warnings() as said:
        for _ in range(3):
            warnings.warn("reads go\n   uncorrected", UserWarning, stacklevel=1)
        warnings.warn("another", RuntimeWarning, stacklevel=1)
    assert said == ["UserWarning: reads go uncorrected", "RuntimeWarning: another"]


def test_a_second_task_in_the_same_process_is_left_alone():
    inner: list[list[str]] = []
    with relayed_warnings() as said:
        # another thread of this process: catch_warnings is per process, so it is not
        # captured there (nor lost: it goes to the usual warning output)
        thread = threading.Thread(target=lambda: inner.append(_capture_in_thread()))
        thread.start()
        thread.join()
    assert inner == [[]] and said == []


def _capture_in_thread() -> list[str]:
    with relayed_warnings() as said:
        pass
    return said


def _campaign(folder: Path, station: Path) -> Path:
    path = folder / "c.toml"
    path.write_text(
        '[campaign]\nname = "c"\nout_dir = "out"\n\n[[task]]\nname = "g"\n'
        f'kind = "characterize"\nstation = "{station.name}"\ndies = "0-1"\narrays = "0"\n'
        "cycles = 1\n"
    )
    return path


def test_the_engine_hands_each_task_s_warnings_to_the_caller(tmp_path, tight_station):
    station = tight_station(read=0.3, pulse=1.2)  # its calibration folder is empty
    spec = load_campaign(_campaign(tmp_path, station))
    heard: list[tuple[str, str]] = []
    outcome = run_campaign(spec, None, None, lambda task, text: heard.append((task, text)))
    assert outcome.ok
    assert [task for task, _ in heard] == ["g/die0", "g/die1"]
    assert all(text.startswith("CalibrationWarning: no calibration record") for _, text in heard)
    assert set(outcome.warnings) == {"g/die0", "g/die1"}


def test_campaign_run_prints_each_warning_once_with_its_tasks(tmp_path, tight_station, capfd):
    station = tight_station(read=0.3, pulse=1.2)
    assert main(["campaign", "run", str(_campaign(tmp_path, station)), "--workers", "1"]) == 0
    err = " ".join(capfd.readouterr().err.split())
    assert err.count("warning (CalibrationWarning) g/die0: no calibration record") == 1
    assert "CalibrationWarning: no calibration" not in err  # the worker's raw form
    assert "the CalibrationWarning above came from 2 tasks: g/die0, g/die1" in err


def test_log_records_of_warning_and_above_are_relayed_per_thread(caplog):
    import logging

    shutdown = logging.getLogger("mtj_hil.station.shutdown")
    other: list[list[str]] = []
    with relayed_warnings() as said:
        shutdown.error("SMU %s: output-off NOT confirmed\n after shutdown", "drain")
        shutdown.error("SMU %s: output-off NOT confirmed\n after shutdown", "drain")
        shutdown.info("not relayed: below WARNING")
        logging.getLogger("elsewhere").warning("not ours")
        # another thread's record, not capturing: left to the usual handlers
        thread = threading.Thread(target=lambda: shutdown.warning("from a lab thread"))
        thread.start()
        thread.join()
        # another thread capturing at the same time gets its own
        thread = threading.Thread(target=lambda: other.append(_log_in_thread(shutdown)))
        thread.start()
        thread.join()
    assert said == ["ERROR: SMU drain: output-off NOT confirmed after shutdown"]
    assert other == [["WARNING: its own"]]
    assert "from a lab thread" in caplog.text and "not ours" in caplog.text
    assert not [h for h in logging.getLogger("mtj_hil").handlers if "Relay" in type(h).__name__]


def _log_in_thread(logger) -> list[str]:
    with relayed_warnings() as said:
        logger.warning("its own")
    return said


WORKER = """
import logging, threading, warnings
from mtj_hil.campaigns.worker import relayed_warnings
from mtj_hil.calibration.errors import CalibrationWarning
from mtj_hil.errors import tell_user

log = logging.getLogger("mtj_hil.instruments.smu.multichannel")
with relayed_warnings() as said:
    log.error("unused channel smub NOT confirmed off")
    t = threading.Thread(target=lambda: log.warning("a lab thread's warning"))
    t.start(); t.join()
    tell_user(log, "no calibration record", CalibrationWarning)
print(said)
"""


def test_in_a_worker_process_relayed_records_are_not_also_printed_raw():
    """A worker process has no log handler: a relayed record is not printed a second time
    by logging's last resort, another thread's still is, and a message both warned and
    logged is relayed once."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", WORKER], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "['ERROR: unused channel smub NOT confirmed off', "
        "'CalibrationWarning: no calibration record']"
    )
    assert "a lab thread's warning" in done.stderr
    assert "smub" not in done.stderr and "no calibration" not in done.stderr


def test_the_engine_relays_a_task_s_log_error(tmp_path, tight_station, monkeypatch):
    import logging

    import mtj_hil.campaigns.worker as worker
    from mtj_hil.campaigns.registry import get_kind
    from mtj_hil.cli.campaign import relayed_line

    kind = get_kind("characterize")

    def noisy(task):
        logging.getLogger("mtj_hil.instruments.smu.multichannel").error(
            "SMU B: unused channel smub NOT confirmed off at shutdown"
        )
        return kind.run(task)

    monkeypatch.setattr(worker, "get_kind", lambda name: dataclasses.replace(kind, run=noisy))
    heard = _heard(tmp_path, tight_station(read=0.3, pulse=1.2))
    text = "ERROR: SMU B: unused channel smub NOT confirmed off at shutdown"
    assert heard.count(("g/die0", text)) == 1 and heard.count(("g/die1", text)) == 1
    line = relayed_line("g/die0", text)
    assert line.plain == "error g/die0: SMU B: unused channel smub NOT confirmed off at shutdown"
    assert line.spans[0].style == "red"
    warned = relayed_line("g/die0", "CalibrationWarning: no calibration record")
    assert warned.plain == "warning (CalibrationWarning) g/die0: no calibration record"


def test_an_old_board_is_one_warning_for_every_task_of_a_campaign(
    tmp_path, tight_station, old_board
):
    """Each task opens its own virtual lab, on a loopback port of its own: the fallback
    warning names the board as the station file does, so every task relays the same text
    and ``campaign run`` prints it once (it printed one line per task, port by port)."""
    heard = _heard(tmp_path, tight_station(read=0.3, pulse=1.2))
    said = [(task, text) for task, text in heard if text.startswith("FallbackWarning")]
    assert [task for task, _ in said] == ["g/die0", "g/die1"]
    assert len({text for _, text in said}) == 1, said
    text = said[0][1]
    assert "station 'virtual-lab'" in text and "firmware 1.1.0" in text
    assert "socket://" not in text


def _heard(tmp_path, station) -> list[tuple[str, str]]:
    """``(task, text)`` of every line the two-task campaign on ``station`` relayed; the
    campaign must succeed."""
    heard: list[tuple[str, str]] = []
    outcome = run_campaign(
        load_campaign(_campaign(tmp_path, station)), None, None,
        lambda task, text: heard.append((task, text)),
    )  # fmt: skip
    assert outcome.ok
    return heard
