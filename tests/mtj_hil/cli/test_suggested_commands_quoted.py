"""The commands a message suggests can be copied into a shell as printed: a file name with a
space or a ";" is quoted (it used to split in two, or run a second command), and a plain
path prints exactly as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtj_hil.cli.main import main
from mtj_hil.runs.store.write_errors import second_writer


def _out(capsys) -> str:
    captured = capsys.readouterr()
    return captured.out + captured.err


@pytest.fixture
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "500")


def test_examples_show_and_campaign_quote_odd_names(tmp_path, capsys, monkeypatch, wide):
    monkeypatch.chdir(tmp_path)
    assert main(["examples", "my lab;x"]) == 0
    station = "'my lab;x/stations/virtual-lab.toml'"
    assert _out(capsys).splitlines()[-1] == (
        f"next: mtj-hil station check {station}; mtj-hil characterize --station {station}"
    )
    assert main(["show", "my lab;x/stations/virtual-lab.toml"]) == 0
    assert f"check it (settings, instruments): mtj-hil station check {station}\n" in _out(capsys)
    campaign = "my lab;x/campaigns/example-lot.toml"
    assert main(["show", campaign]) == 0
    assert f"progress: mtj-hil campaign status '{campaign}'\n" in _out(capsys)
    assert main(["campaign", "report", campaign]) == 4
    assert _out(capsys).endswith(f"run it first (mtj-hil campaign run '{campaign}')\n")


def test_plain_paths_print_as_before(tmp_path, capsys, monkeypatch, wide):
    monkeypatch.chdir(tmp_path)
    assert main(["examples", "lab"]) == 0
    assert _out(capsys).splitlines()[-1] == (
        "next: mtj-hil station check lab/stations/virtual-lab.toml; "
        "mtj-hil characterize --station lab/stations/virtual-lab.toml"
    )


def test_resuming_a_completed_run_quotes_its_show_command(tmp_path, capsys, wide):
    run = tmp_path / "my run;x.h5"
    args = ["characterize", "--arrays", "0", "--cycles", "1", "--no-report", "--out", str(run)]
    assert main(args) == 0
    capsys.readouterr()
    assert main([*args, "--resume"]) == 4
    assert f"(see it with: mtj-hil show '{run}'; measure again" in _out(capsys)


def test_a_second_writer_names_the_quoted_show_command():
    error = second_writer(Path("runs/my run.h5"), FileExistsError(17, "exists", "part-3"))
    assert str(error).endswith("then check it with: mtj-hil show --verify 'runs/my run.h5'")
