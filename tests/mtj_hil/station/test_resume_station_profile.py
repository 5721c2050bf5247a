"""A run on a virtual-lab station resumed after the station's die profile was edited: the
station's and the profile's names are the same, so the die id is too, but the die is another
one. The resume is refused (exit 4, naming both profiles and the values that differ) before
the file is touched; with the profile restored it finishes, and a run file whose station
snapshot records no profile values (written before they were) still resumes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mtj_hil.cli.main import main
from mtj_hil.runs.store import RunFile
from mtj_hil.station.config import Station

from .test_cli_station import _virtual, _write
from .test_midrun_trust import _faulty_smu

PROFILE = Path(__file__).parents[3] / "mtj_hil" / "sim" / "profiles" / "1t1r-20k.toml"


def _squash(text: str) -> str:
    return " ".join(text.split())


def _edit(path: Path) -> None:
    text = PROFILE.read_text()
    line = next(t for t in text.splitlines() if t.startswith("r_ap_median = "))
    value = float(line.split("=")[1].split("#")[0])
    path.write_text(text.replace(line, f"r_ap_median = {1.2 * value}"))


def _cut(tmp_path, monkeypatch, capsys, old: bool = False):
    """A characterisation on a virtual-lab station whose ``[die] profile`` is a file beside
    the station file, stopped after its first array (the SMU power-cycled: exit 7); ``old``:
    its station snapshot records no profile values (as before they were recorded)."""
    shutil.copy(PROFILE, tmp_path / "die.toml")
    data = _virtual(driver="keithley2450")
    data["die"]["profile"] = "die.toml"
    station = _write(tmp_path, data)
    out = tmp_path / "run.h5"
    args = ["characterize", "--station", station, "--arrays", "0-1", "--cycles", "1",
            "--remeasure-cycles", "0", "--no-report"]  # fmt: skip
    with monkeypatch.context() as patch:
        _faulty_smu(patch, lambda smu: smu.power_cycle(), [], 3)
        if old:
            snapshot = Station.snapshot

            def without_values(self):
                return {k: v for k, v in snapshot(self).items() if k != "die_profile_values"}

            patch.setattr(Station, "snapshot", without_values)
        assert main([*args, "--out", str(out)]) == 7, capsys.readouterr().err
    capsys.readouterr()
    return args, out, tmp_path / "die.toml"


@pytest.fixture
def cut(tmp_path, monkeypatch, capsys):
    return _cut(tmp_path, monkeypatch, capsys)


def _untouched(path: Path) -> None:
    with RunFile.open(path) as run:
        assert run.status == "aborted" and run.attrs["resumed"] == []


def test_resume_after_the_station_die_profile_was_edited_is_refused(cut, capsys):
    args, out, profile = cut
    _edit(profile)
    assert main([*args, "--out", str(out), "--resume"]) == 4
    err = _squash(capsys.readouterr().err)
    assert "was started on station 'virtual-lab' with die profile '1t1r-20k'" in err, err
    assert "the station now gives die profile '1t1r-20k' with other values" in err
    assert "r_ap_median" in err and "that is another die" in err
    assert "Traceback" not in err
    _untouched(out)
    shutil.copy(PROFILE, profile)  # restored: the run finishes
    assert main([*args, "--out", str(out), "--resume"]) == 0, capsys.readouterr().err
    with RunFile.open(out) as run:
        assert run.status == "completed"


def test_a_run_file_without_recorded_profile_values_still_resumes(tmp_path, monkeypatch, capsys):
    args, out, profile = _cut(tmp_path, monkeypatch, capsys, old=True)
    with RunFile.open(out) as run:
        assert "die_profile_values" not in run.attrs["station"]["station"]
    _edit(profile)  # nothing recorded to compare with: resumed as before
    assert main([*args, "--out", str(out), "--resume"]) == 0, capsys.readouterr().err
