"""Warnings a task raises on a worker (a station without a calibration record, a board that
falls back to one command at a time) reach the person running the campaign as one line
naming the task, once per message, instead of a worker's raw warning with its source
line (or nothing, on a remote worker)."""

from __future__ import annotations

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
