"""Messages printed as written: brackets in messages and paths are never read as markup, and
a refused run leaves no file behind."""

from __future__ import annotations

from pathlib import Path

from mtj_hil.cli.main import main

STATION = Path(__file__).resolve().parents[3] / "stations" / "virtual-lab.toml"


def _err(capsys) -> str:
    return " ".join(capsys.readouterr().err.split())


def test_section_names_in_messages_are_printed(tmp_path, capsys):
    bad = tmp_path / "s.toml"
    text = STATION.read_text()
    start, end = text.index("[controller]"), text.index("[smu.sense]")
    bad.write_text(text[:start] + text[end:])
    assert main(["station", "check", str(bad)]) == 3
    assert "[controller] section is missing" in _err(capsys)


def test_markup_like_paths_and_values_do_not_crash_the_printer(tmp_path, capsys):
    folder = tmp_path / "[bold]x"
    folder.mkdir()
    assert main(["characterize", "--profile", str(folder / "[/bold]p.toml")]) == 3
    err = _err(capsys)
    assert "[/bold]p.toml" in err and "[bold]x" in err and "Traceback" not in err
    profile = tmp_path / "p.toml"
    profile.write_text('name = "[/x]"\n')
    assert main(["characterize", "--profile", str(profile)]) == 3
    assert "[geometry] is missing" in _err(capsys)


def test_a_refused_plan_leaves_no_run_file(tmp_path, capsys):
    # beyond the die's limits: the safety code (6); a read voltage of no sense: protocol (5)
    for option, value, want in (("--read-voltage", "5", 6), ("--read-voltage", "-0.1", 5),
                                ("--bias-voltage", "2", 6)):  # fmt: skip
        out = tmp_path / f"r{value}.h5"
        code = main(["characterize", "--arrays", "0", option, value, "--out", str(out)])
        assert code == want, _err(capsys)
        assert not out.exists()
    out = tmp_path / "sw.h5"
    assert main(["switching", "--arrays", "0", "--amplitudes", "2.0", "--out", str(out)]) == 6
    assert not out.exists()
