"""A campaign on a station served by ``mtj-hil lab serve`` (real addresses, its
``[virtual_lab]`` kept): ``dies = [3]`` was accepted, and the served die 7 was recorded as
die 3. As on the command line, only an in-process lab lets a task pick its die."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from mtj_hil.campaigns import load_campaign
from mtj_hil.errors import ConfigError
from mtj_hil.station.write import station_text

STATION = Path(__file__).resolve().parents[3] / "stations" / "virtual-lab.toml"


def _served_station(folder: Path) -> None:
    data = tomllib.loads(STATION.read_text())
    del data["calibration"]
    data["controller"]["url"] = "socket://127.0.0.1:41000"  # as lab serve writes it
    data["smu"]["sense"]["resource"] = "TCPIP::127.0.0.1::41001::SOCKET"
    (folder / "served.toml").write_text(station_text(data, "served"))


def _campaign(folder: Path, dies: str) -> Path:
    path = folder / "c.toml"
    path.write_text(
        '[campaign]\nname = "c"\nout_dir = "out"\n\n[[task]]\nname = "lot"\n'
        f'kind = "characterize"\nstation = "served.toml"\narrays = "0"\n{dies}\n'
    )
    return path


def test_dies_are_refused_on_a_served_lab(tmp_path):
    _served_station(tmp_path)
    with pytest.raises(ConfigError, match="lab served by 'mtj-hil lab serve'"):
        load_campaign(_campaign(tmp_path, "dies = [3]"))


def test_the_served_die_is_labelled_with_die_ids(tmp_path):
    _served_station(tmp_path)
    spec = load_campaign(_campaign(tmp_path, 'die_ids = ["served-die"]'))
    assert [t.id for t in spec.tasks] == ["lot/served-die"]
