"""``calibrate`` refuses a station file it cannot calibrate with before opening any
instrument (exit 3, naming the file and the key): fewer than two
``[calibration.references]``. Before, ``station check`` passed such a file and
``calibrate`` opened the station, turned the sense SMU on, measured its offset, then
failed 'Error: the SMU gain needs at least two reference resistors in the station file
([calibration.references]); it lists 1' (exit 8), naming no file."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from mtj_hil.cli.calibration import calibrate_chip
from mtj_hil.cli.main import main
from mtj_hil.errors import ConfigError
from mtj_hil.station.files import load_station

ROOT = Path(__file__).resolve().parents[3]
STATION = ROOT / "stations" / "virtual-lab.toml"
REFERENCES = ("r1k = {", "r4k99 = {", "r10k = {")


def _station(tmp_path: Path, keep: int) -> Path:
    """The virtual-lab station with only its first ``keep`` reference resistors."""
    lines = STATION.read_text().splitlines(keepends=True)
    assert all(any(x.startswith(r) for x in lines) for r in REFERENCES)
    drop = REFERENCES[keep:]
    path = tmp_path / "bench.toml"
    path.write_text("".join(x for x in lines if not x.startswith(drop)))
    return path


@pytest.fixture
def never_opened(monkeypatch):
    def opened(*args, **kwargs):
        raise AssertionError("the station was opened before the refusal")

    monkeypatch.setattr("mtj_hil.station.connect.open_station", opened)


@pytest.mark.parametrize(("keep", "said"), [(1, "lists 1 reference resistor (r1k)"),
                                            (0, "lists 0 reference resistors")])  # fmt: skip
def test_calibrate_refuses_fewer_than_two_references_before_opening(
    tmp_path, capsys, never_opened, keep, said
):
    path = _station(tmp_path, keep)
    assert main(["station", "check", str(path)]) == 0  # it still measures
    capsys.readouterr()
    assert main(["calibrate", "--station", str(path), "--no-thresholds"]) == 3
    err = " ".join(capsys.readouterr().err.split())
    assert f"{path}: calibration.references {said}; calibrate needs at least two" in err, err
    assert not (tmp_path / "calibrations").exists()


def test_the_library_function_refuses_the_same(tmp_path):
    chip = SimpleNamespace(station=load_station(_station(tmp_path, 1)))  # no instruments
    with pytest.raises(ConfigError, match=re.escape("calibration.references lists 1")):
        calibrate_chip(chip, thresholds=False)  # type: ignore[arg-type]
