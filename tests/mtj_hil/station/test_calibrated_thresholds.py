"""A station calibration that measured a die's defect thresholds is used on that die only."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.cli.main import main
from mtj_hil.runs.store import load_characterization

from .conftest import STATION

pytestmark = pytest.mark.slow


def test_characterize_uses_the_calibrated_thresholds_of_the_same_die(tmp_path, capsys):
    station = tmp_path / "station.toml"
    text = STATION.read_text().replace("threshold_arrays = [0, 1]", "threshold_arrays = [4]")
    station.write_text(text)
    assert main(["calibrate", "--station", str(station)]) == 0
    capsys.readouterr()
    out = tmp_path / "run.h5"
    assert (
        main(
            [
                "characterize",
                "--station",
                str(station),
                "--arrays",
                "0",
                "--cycles",
                "1",
                "--out",
                str(out),
                "--no-report",
            ]
        )
        == 0
    )
    assert "from the station's calibration" in capsys.readouterr().err
    char = load_characterization(out)
    assert "arrays [4]" in char.thresholds.method  # measured by the calibration, not this run
    assert char.attrs["station"]["calibration"]["valid"]
    # Another die of the lot on the same station derives its own thresholds.
    other = tmp_path / "other.h5"
    assert (
        main(
            [
                "characterize",
                "--station",
                str(station),
                "--die",
                "3",
                "--arrays",
                "0",
                "--cycles",
                "1",
                "--out",
                str(other),
                "--no-report",
            ]
        )
        == 0
    )
    assert "arrays [4]" not in load_characterization(other).thresholds.method
    assert np.isfinite(load_characterization(other).thresholds.state_g)
