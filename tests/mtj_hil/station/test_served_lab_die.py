"""A station whose controller is not at ``"virtual"`` measures the die served there (a
bench, or a lab served by ``mtj-hil lab serve``), even when it keeps a ``[virtual_lab]``
section: choosing another die of the lot (``--die``) would label that die's data with the
wrong id, so it is refused."""

from __future__ import annotations

import tomllib

import pytest

from mtj_hil.api.dies import station_die
from mtj_hil.cli.main import main
from mtj_hil.errors import ConfigError
from mtj_hil.station.write import station_text

from .conftest import STATION


def _served_elsewhere(tmp_path):
    data = tomllib.loads(STATION.read_text())
    data["controller"]["url"] = "socket://127.0.0.1:9"
    data["smu"]["sense"]["resource"] = "TCPIP::127.0.0.1::9::SOCKET"
    path = tmp_path / "served.toml"
    path.write_text(station_text(data, "a lab served elsewhere"))
    return path


def test_the_library_refuses_picking_a_die_of_a_lab_served_elsewhere(tmp_path):
    path = _served_elsewhere(tmp_path)
    with pytest.raises(ConfigError, match="die= picks a die only when"):
        station_die(path, die=3)
    served = station_die(path)  # the die the section names, as lab serve wrote it
    assert served.die_id.endswith(":die7")
    picked = station_die(STATION, die=3)  # the in-process lab may pick
    assert picked.die_id.endswith(":die3")


def test_the_cli_refuses_die_with_a_lab_served_elsewhere(tmp_path, capsys):
    path = _served_elsewhere(tmp_path)
    out = tmp_path / "run.h5"
    code = main(["characterize", "--station", str(path), "--die", "3", "--out", str(out)])
    assert code == 2
    assert "--die" in capsys.readouterr().err
    assert not out.exists()
