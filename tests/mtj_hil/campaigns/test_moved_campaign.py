"""A finished campaign folder moved elsewhere: every command took it for a changed
campaign or another campaign's files ("settings or a profile/station file edited", "belongs
to another campaign", "no task has finished yet") and the user measured again. The move is
now named, with what can be done."""

from __future__ import annotations

import shutil

from mtj_hil.campaigns import load_campaign
from mtj_hil.campaigns.engine import run_campaign
from mtj_hil.cli import main

from .conftest import write_campaign


def test_a_moved_campaign_is_named_as_moved_by_status_run_and_export(tmp_path, capsys):
    first = tmp_path / "first"
    first.mkdir()
    write_campaign(first, dies="0", borders=False, extra='arrays = "0"\n')
    assert run_campaign(load_campaign(first / "c.toml")).ok
    moved = tmp_path / "moved"
    shutil.move(first, moved)
    capsys.readouterr()
    path = str(moved / "c.toml")
    assert main(["campaign", "status", path]) == 0
    captured = capsys.readouterr()
    said = " ".join((captured.out + captured.err).split())
    assert f"its results were written under {first / 'out'}" in said
    assert "moved or copied is not taken as the same campaign" in said
    assert main(["export", "--format", "netcdf", path]) == 3
    assert "moved or copied" in " ".join(capsys.readouterr().err.split())
    assert main(["campaign", "run", path, "--workers", "1"]) != 0
    err = " ".join(capsys.readouterr().err.split())
    assert "which is not there any more" in err and "moved or copied" in err
