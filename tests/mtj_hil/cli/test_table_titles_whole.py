"""A table title wider than its table (a long output folder in ``campaign check``) is a
line of its own: rich folded it to the table's width, cutting the path in pieces."""

from __future__ import annotations

from mtj_hil.cli.main import main


def test_campaign_check_prints_a_long_out_dir_whole(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    deep = tmp_path / ("a-rather-long-folder-name-" * 3) / "lab"
    assert main(["examples", str(deep)]) == 0
    capsys.readouterr()
    assert main(["campaign", "check", str(deep / "campaigns" / "example-lot.toml")]) == 0
    lines = capsys.readouterr().out.splitlines()
    title = next(line for line in lines if line.startswith("campaign example-lot:"))
    assert title.endswith(str(deep / "runs" / "example-lot")), lines
