"""A command asked for a voltage or pulse outside the die's safety envelope exits with the
safety code, 6 (README, docs/bench.md), whether the instrument layer or the plan's own
check refuses it; other refused settings keep the protocol code, 5."""

from __future__ import annotations

import pytest

from mtj_hil.cli.main import main


@pytest.mark.parametrize(
    "args",
    [
        ["characterize", "--pulse-amplitude", "1.6"],
        ["characterize", "--pulse-width", "1e-2"],
        ["characterize", "--read-voltage", "0.5"],
        ["switching", "--amplitudes", "2.0"],
        ["switching", "--widths", "1e-1"],
    ],
    ids=["pulse-amplitude", "pulse-width", "read-voltage", "switching-amplitude", "width"],
)
def test_outside_the_envelope_exits_6_and_writes_nothing(tmp_path, capsys, args):
    out = tmp_path / "run.h5"
    assert main([*args, "--arrays", "0", "--out", str(out), "--no-report"]) == 6
    err = capsys.readouterr().err
    assert "outside" in err
    assert f"-> {out}" not in err, err  # refused before the run's header line
    assert not out.exists()


def test_a_read_voltage_of_zero_is_a_bad_setting_not_a_safety_one(tmp_path, capsys):
    out = tmp_path / "run.h5"
    assert main(["characterize", "--read-voltage", "0", "--arrays", "0", "--out", str(out)]) == 5
    assert "must be above 0 V" in capsys.readouterr().err
