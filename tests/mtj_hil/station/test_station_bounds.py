"""Station values a hand edit can make absurd are refused when the file loads (exit 3, naming
the key and the range): a pace or SMU latency of 1e308 s crashed in time.sleep (exit 7), a
baud rate of 1e308 failed at open with a 309-digit number, and seeds given as huge floats
were taken."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtj_hil.cli.main import main

ROOT = Path(__file__).resolve().parents[3]
STATION = ROOT / "stations" / "virtual-lab.toml"


def _check(tmp_path: Path, capsys, old: str, new: str) -> tuple[int, str, Path]:
    text = STATION.read_text()
    assert old in text
    path = tmp_path / "bench.toml"
    path.write_text(text.replace(old, new, 1))
    code = main(["station", "check", str(path)])
    return code, " ".join(capsys.readouterr().err.split()), path


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ("smu_latency = 2e-3", "pace = 1e308\nsmu_latency = 2e-3",
         "virtual_lab.pace = 1e+308 is out of range; allowed: a number in [0, 100]"),
        ("smu_latency = 2e-3", "smu_latency = 1e308",
         "virtual_lab.smu_latency = 1e+308 is out of range; allowed: a number in [0, 10] s"),
        ("baudrate = 115200", "baudrate = 1e308",
         "controller.baudrate = 1e+308 is out of range; allowed: an integer in [1, 1.2e+07]"),
        ("lot_seed = 0", "lot_seed = 1e308",
         "virtual_lab.lot_seed = 1e+308 is out of range; allowed: an integer in [0, 9.22337e+18]"),
        ("die = 7", "die = 1e300",
         "virtual_lab.die = 1e+300 is out of range; allowed: an integer in [0, 9.22337e+18]"),
    ],
)  # fmt: skip
def test_an_absurd_station_value_is_refused_at_load(tmp_path, capsys, old, new, said):
    code, err, path = _check(tmp_path, capsys, old, new)
    assert code == 3, err
    assert f"{path.name}: {said}" in err, err


def test_a_reference_that_is_not_a_table_is_named_by_its_full_key(tmp_path, capsys):
    text = STATION.read_text()
    head, refs = text.split("[calibration.references]", 1)
    path = tmp_path / "bench.toml"
    path.write_text(head + "[calibration.references]\nr1k = 1000\n")
    code = main(["station", "check", str(path)])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 3, err
    assert f"{path.name}: calibration.references.r1k = 1000 is not a table; each entry of " in err
    assert "[calibration.references] is a named table, e.g. [calibration.references.sense]" in err


@pytest.mark.parametrize(
    ("key", "blank"), [("name", '""'), ("name", '"  "'), ("dir", '""'), ("dir", '" "')]
)
def test_a_blank_name_or_calibration_folder_is_refused(tmp_path, capsys, key, blank):
    """A blank ``calibration.dir`` put the records next to the station file (every later
    open then warned about the station file itself); a blank ``station.name`` silently
    became the file's name."""
    line = next(ln for ln in STATION.read_text().splitlines() if ln.startswith(f"{key} = "))
    code, err, path = _check(tmp_path, capsys, line, f"{key} = {blank}")
    assert code == 3, err
    table = "station" if key == "name" else "calibration"
    assert f"{path.name}: {table}.{key} must not be empty or blank" in err, err


def test_a_misspelt_shipped_profile_is_named_as_written(tmp_path, capsys):
    """It was named as a path beside the station file (``bench/1T1R-20K``)."""
    code, err, path = _check(tmp_path, capsys, 'profile = "1t1r-20k"', 'profile = "1T1R-20K"')
    assert code == 3, err
    assert "unknown profile '1T1R-20K'; closest match: 1t1r-20k" in err, err
