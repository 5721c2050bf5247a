"""The mtj-hil command: jobs, summaries, and one-line errors with distinct exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtj_hil.cli import main
from mtj_hil.cli.common import parse_arrays
from mtj_hil.errors import ConfigError
from mtj_hil.runs.store import load_characterization


@pytest.mark.slow
def test_characterize_writes_run_file_and_report(tmp_path, capsys):
    out = tmp_path / "die3.h5"
    assert main(["characterize", "--die", "3", "--arrays", "0-3", "--out", str(out)]) == 0
    char = load_characterization(out)
    assert char.attrs["status"] == "completed"
    assert char.attrs["die_id"] == "sim:1t1r-20k:lot0:die3"
    assert char.codes.shape == (4, 25, 25)
    png = out.with_suffix(".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "GOOD" in printed and "R_P (ohm)" in printed


def test_show_summarises_a_run(tmp_path, capsys):
    out = tmp_path / "r.h5"
    main(["characterize", "--die", "1", "--arrays", "2", "--out", str(out), "--no-report"])
    capsys.readouterr()
    assert main(["show", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "sim:1t1r-20k:lot0:die1" in printed and "completed" in printed


@pytest.mark.slow
def test_demo_runs_on_the_simulated_die(tmp_path, capsys):
    assert main(["demo", "--out-dir", str(tmp_path)]) == 0
    assert len(list(tmp_path.glob("*.png"))) == 1
    assert "agree with the die's truth" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["characterize", "--profile", "nope"], 3, "unknown profile 'nope'"),
        (["characterize", "--profile", "x" * 300], 3, "unknown profile 'xxx"),  # too long a name
        (["characterize", "--arrays", "0-40"], 3, "arrays must lie in 0..31"),
        (["characterize", "--resume"], 2, "--resume needs --out"),
        (["show", "missing.h5"], 4, "does not exist"),
        (["characterize", "--cycles", "0"], 2, "0 is not in the range"),
    ],
)
def test_bad_input_gives_one_line_and_an_exit_code(
    args, code, message, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    assert main(args) == code
    err = capsys.readouterr().err
    assert message in " ".join(err.split())
    assert "Traceback" not in err


def test_existing_output_is_refused_before_measuring(tmp_path, capsys):
    out = tmp_path / "r.h5"
    main(["characterize", "--arrays", "0", "--out", str(out), "--no-report"])
    before = out.read_bytes()
    capsys.readouterr()
    assert main(["characterize", "--arrays", "0", "--out", str(out)]) == 4
    err = " ".join(capsys.readouterr().err.split())
    # a completed run cannot be finished: --resume is not offered for it
    assert f"{out} already exists, a completed run; choose another --out" in err
    assert "--resume" not in err
    assert out.read_bytes() == before


def test_malformed_profile_file_names_the_key(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    text = (Path(__file__).parents[3] / "mtj_hil/sim/profiles/1t1r-20k.toml").read_text()
    bad.write_text(text.replace("max_pulse_amplitude = 1.2", "max_pulse_amplitude = 1.6"))
    assert main(["characterize", "--profile", str(bad), "--out", str(tmp_path / "x.h5")]) == 3
    err = " ".join(capsys.readouterr().err.split())
    assert "limits.max_pulse_amplitude = 1.6 is out of range" in err
    assert "breakdown_floor" in err
    broken = tmp_path / "broken.toml"
    broken.write_text("name = [")
    assert main(["characterize", "--profile", str(broken)]) == 3
    assert "not valid TOML" in capsys.readouterr().err


def test_help_explains_every_command(capsys):
    for command in ("characterize", "show", "demo", "profiles"):
        assert main([command, "--help"]) == 0
    assert "--resume" in capsys.readouterr().out


def test_parse_arrays():
    assert parse_arrays("0-2,5", 32) == (0, 1, 2, 5)
    assert parse_arrays(None, 3) == (0, 1, 2)
    with pytest.raises(ConfigError):
        parse_arrays("a-b", 32)
