"""The command line on harder dies: uncertainty and overlaps are said, not hidden."""

from __future__ import annotations

from mtj_hil.cli.main import main
from mtj_hil.runs.store import load_characterization
from mtj_hil.sim.profile import PROFILE_DIR, available_profiles


def test_one_cycle_on_a_noisy_die_works_and_says_it_is_unsure(tmp_path, capsys):
    out = tmp_path / "early.h5"
    args = ["characterize", "--profile", "1t1r-early-process", "--lot-seed", "4242"]
    args += ["--die", "1", "--arrays", "0-7", "--cycles", "1", "--remeasure-cycles", "0"]
    assert main([*args, "--out", str(out), "--no-report"]) == 0
    printed = capsys.readouterr().out
    assert "UNCERTAIN" in printed and "uncertain devices:" in printed
    assert "one write cycle" in printed and "overlap" in printed
    assert load_characterization(out).uncertain > 0
    assert main(["show", str(out)]) == 0
    assert "warning" in capsys.readouterr().out


def test_profiles_lists_every_profile_on_one_line_with_key_stats(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["profiles"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(len(line.rstrip()) <= 80 for line in lines), max(lines, key=len)
    rows = [line for line in lines if line.split(" ")[0] in available_profiles()]
    assert [r.split()[0] for r in rows] == available_profiles()  # one line each, ids whole
    early = next(line for line in rows if line.startswith("1t1r-early-process"))
    assert early.split()[1:] == [
        "32x25x25",
        "1T1R",
        "13.0%",
        "30%",
        "0.35",
        "mS",
        "1.4%",
        "0.08",
        "1%",
    ]
    assert any("lines: whole-line defects per array" in line for line in lines)


def test_die_that_never_switches_is_refused_with_what_was_seen(tmp_path, capsys):
    text = (PROFILE_DIR / "1t1r-20k.toml").read_text()
    text = text.replace("vc_to_p = 0.75", "vc_to_p = 5.0").replace(
        "vc_to_ap = 0.75", "vc_to_ap = 5.0"
    )
    prof = tmp_path / "dead.toml"
    prof.write_text(text)
    out = tmp_path / "dead.h5"
    code = main(["characterize", "--profile", str(prof), "--arrays", "0-1", "--out", str(out)])
    assert code == 5
    err = capsys.readouterr().err
    assert "did not switch" in err and "median G after P" in err
    assert load_characterization(out).attrs["status"] == "failed"
