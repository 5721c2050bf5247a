"""A missing option of fixed choices is one error line naming them (click listed them one a
line, tab-indented, under ``Choose from:``)."""

from __future__ import annotations

from mtj_hil.cli.main import main


def test_a_missing_format_is_one_line(tmp_path, capsys):
    assert main(["export", str(tmp_path / "x.h5")]) == 2
    err = capsys.readouterr().err
    assert err.endswith("\nError: Missing option '--format' (choose from netcdf, csv, nexus)\n")
    assert "\t" not in err and "Choose from" not in err
