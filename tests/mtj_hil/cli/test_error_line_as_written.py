"""An error is one line, and the file names in it are printed as written: a name holding two
spaces in a row is not squeezed to one (the printed path would name another file); a
message spanning lines (a line break, a tab) still prints on one line."""

from __future__ import annotations

from mtj_hil.cli.main import main
from mtj_hil.errors import ConfigError


def test_a_file_name_with_runs_of_spaces_is_printed_as_written(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    path = tmp_path / "a  b   c.h5"
    path.write_text("not hdf5")
    assert main(["show", str(path)]) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"error (StoreError): {path} holds text, not HDF5")


def test_a_message_over_several_lines_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")

    def refuse(path, *args, **kwargs):
        raise ConfigError(f"station file {path}:\n\tfirst reason;\n    second  reason\n")

    monkeypatch.setattr("mtj_hil.cli.station.load_station", refuse)
    station = tmp_path / "my  station.toml"
    station.write_text("")
    assert main(["station", "check", str(station)]) == 3
    err = capsys.readouterr().err
    assert err == f"error (ConfigError): station file {station}: first reason; second  reason\n"
