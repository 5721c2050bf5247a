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


def test_a_refused_profile_file_is_named_once(tmp_path, capsys, monkeypatch):
    """The file's own message names it; the option's prefix printed the path a second time
    (``--profile 'P': P: ...``). A shipped name that is not one keeps the option's name."""
    from mtj_hil.sim.profile import PROFILE_DIR

    monkeypatch.setenv("COLUMNS", "400")
    text = (PROFILE_DIR / "passive-15x15.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("[limits]", "[bias]\nv_half = 1e-300\n\n[limits]", 1))
    out = tmp_path / "run.h5"
    args = ["--arrays", "0", "--no-report", "--out", str(out)]
    assert main(["characterize", "--profile", str(bad), *args]) == 3
    err = capsys.readouterr().err
    assert err.count(str(bad)) == 1 and "bias.v_half = 1e-300" in err, err
    assert main(["characterize", "--profile", "1t1r-20K", *args]) == 3
    assert "unknown profile '1t1r-20K'; closest match: 1t1r-20k" in capsys.readouterr().err
