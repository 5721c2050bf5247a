"""An SMU compliance below the smallest its model family takes is refused when the station
file loads (exit 3, naming the key and the range), as the NPLC range and the largest
compliance already were. A Keithley 2400 or 2450 limits current from 1 nA; with
``compliance = 1e-10`` the file loaded and ``station check`` failed at the instrument
('known state not reached: current compliance (A): asked 1e-10, instrument reports
+1.050000E-04', '-222 Data out of range', exit 7)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mtj_hil.cli.main import main
from mtj_hil.instruments.smu.model_bounds import model_problem

ROOT = Path(__file__).resolve().parents[3]
STATION = ROOT / "stations" / "virtual-lab.toml"


def _station(tmp_path: Path, driver: str, compliance: float) -> Path:
    text = STATION.read_text()
    assert 'driver = "keithley2400"' in text and re.search(r"(?m)^compliance = 1e-3", text)
    text = text.replace('driver = "keithley2400"', f'driver = "{driver}"', 1)
    text = re.sub(r"(?m)^compliance = 1e-3", f"compliance = {compliance!r}", text, count=1)
    path = tmp_path / "bench.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("driver", ["keithley2400", "keithley2450"])
def test_a_compliance_below_the_model_is_refused_at_load(tmp_path, capsys, driver):
    path = _station(tmp_path, driver, 1e-10)
    assert main(["station", "check", str(path)]) == 3
    err = " ".join(capsys.readouterr().err.split())
    assert (
        f"{path}: smu.sense.compliance = 1e-10 A is below the smallest a {driver} takes "
        "(1e-09 A); allowed: 1e-09 to 1.05 A" in err
    ), err


@pytest.mark.parametrize("driver", ["keithley2400", "keithley2450"])
def test_the_smallest_compliance_is_accepted_by_file_and_instrument(tmp_path, capsys, driver):
    assert main(["station", "check", str(_station(tmp_path, driver, 1e-9))]) == 0


@pytest.mark.parametrize(
    ("driver", "compliance", "refused"),
    [("keithley2400", 9.99e-10, True), ("keithley2450", 1e-9, False),
     ("keithley2600", 1e-12, False), ("keysight_b2900", 1e-12, False)],
)  # fmt: skip
def test_model_problem_knows_each_family_smallest(driver, compliance, refused):
    """The 2600B and B2900 families' smallest compliance differs by model: not refused."""
    problem = model_problem(driver, 1.0, compliance, None)
    assert (problem is not None and problem[0] == "compliance") == refused
