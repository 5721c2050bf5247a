"""A ``[safety]`` pulse range that shares no value with the die profile's ``[limits]`` is
refused when the station file loads (exit 3, naming the file, the key and the bound), not
by every command once it builds the die's envelope ('error (SafetyViolation): safety
envelope: min_pulse_width exceeds max_pulse_width', exit 6, no file or key named, after
``station check`` had listed the settings)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtj_hil.cli.main import main
from mtj_hil.errors import ConfigError
from mtj_hil.station.envelope import die_envelope
from mtj_hil.station.files import station_from_dict

ROOT = Path(__file__).resolve().parents[3]
STATION = ROOT / "stations" / "virtual-lab.toml"
# the shipped profile 1t1r-20k: pulses of 0.1..1.2 V and 1e-8..1e-5 s


def _station(tmp_path: Path, **limits: float) -> Path:
    text = STATION.read_text()
    for key, value in limits.items():
        line = next(x for x in text.splitlines() if x.startswith(f"{key} ="))
        text = text.replace(line, f"{key} = {value!r}", 1)
    path = tmp_path / "bench.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("limits", "said"),
    [
        ({"min_pulse_width": 2e-5, "max_pulse_width": 1e-4},
         "safety.min_pulse_width = 2e-05 s is above the die's limits.max_pulse_width (1e-05 s, "
         "profile 1t1r-20k)"),
        ({"min_pulse_width": 1e-9, "max_pulse_width": 5e-9},
         "safety.max_pulse_width = 5e-09 s is below the die's limits.min_pulse_width (1e-08 s"),
        ({"min_pulse_amplitude": 0.01, "max_pulse_amplitude": 0.05},
         "safety.max_pulse_amplitude = 0.05 V is below the die's limits.min_pulse_amplitude "
         "(0.1 V"),
    ],
)  # fmt: skip
def test_station_check_refuses_a_pulse_range_off_the_die(tmp_path, capsys, limits, said):
    path = _station(tmp_path, **limits)
    assert main(["station", "check", str(path)]) == 3
    captured = capsys.readouterr()
    err = " ".join(captured.err.split())
    assert f"{path}: {said}" in err, err
    assert "allowed: at" in err and "SafetyViolation" not in err
    assert "settings" not in captured.out  # refused before anything was listed or opened


def test_a_measurement_on_such_a_station_is_refused_as_a_bad_station_file(tmp_path, capsys):
    path = _station(tmp_path, min_pulse_width=2e-5, max_pulse_width=1e-4)
    out = tmp_path / "run.h5"
    args = ["characterize", "--station", str(path), "--arrays", "0", "--out", str(out)]
    assert main(args) == 3
    assert "safety.min_pulse_width" in capsys.readouterr().err
    assert not out.exists()


_VOLTS = st.integers(1, 1400).map(lambda mv: mv / 1000)
_SECONDS = st.sampled_from([1e-9, 5e-9, 1e-8, 1e-7, 1e-6, 1e-5, 2e-5, 1e-4])


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(a=_VOLTS, b=_VOLTS, w=_SECONDS, x=_SECONDS)
def test_a_station_that_loads_has_a_die_envelope(a, b, w, x):
    """Any [safety] pulse range either loads into a station whose die envelope exists, or
    is refused at load naming a [safety] key."""
    data = tomllib.loads(STATION.read_text())
    data["safety"].update(
        min_pulse_amplitude=a, max_pulse_amplitude=b, min_pulse_width=w, max_pulse_width=x
    )
    try:
        station = station_from_dict(data, STATION)
    except ConfigError as exc:
        assert f"{STATION}: safety." in str(exc) or f"{STATION}: [safety]" in str(exc)
        return
    envelope = die_envelope(station)  # raised SafetyViolation for a range off the die's
    assert envelope.min_pulse_amplitude <= envelope.max_pulse_amplitude
