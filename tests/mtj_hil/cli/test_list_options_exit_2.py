"""A malformed list option is a bad command line (exit 2, one line naming the option), as a
malformed number option is: it was a configuration error (exit 3). List options take plain
ASCII numbers only: ``1_0`` was read as 10 V and ``'٠.٥'`` (Arabic-Indic digits) as 0.5."""

from __future__ import annotations

import pytest

from mtj_hil.cli.main import main

AMPLITUDES = (
    "a list like '0.4,0.6,0.8' or a range like '0.4:1.2:0.025' (start:stop:step, plain numbers)"
)
WIDTHS = (
    "a list like '1e-8,1e-7,1e-6' or a range like '1e-8:5e-8:1e-8' (start:stop:step, plain numbers)"
)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["switching", "--amplitudes", "nan"], "'--amplitudes': 'nan': every number must be finite"),
        (["switching", "--amplitudes", "0.5:0.6:0"], f"'--amplitudes': '0.5:0.6:0' is not {AMPLITUDES}"),
        (["switching", "--amplitudes", "1_0"], f"'--amplitudes': '1_0' is not {AMPLITUDES}"),
        (["switching", "--amplitudes", "٠.٥"], f"'--amplitudes': '٠.٥' is not {AMPLITUDES}"),
        (["switching", "--widths", "10ns"], f"'--widths': '10ns' is not {WIDTHS}"),
        (["switching", "--loop-devices", "a:b:c"], "'--loop-devices': 'a:b:c' is not a list like '0:1:1,3:4:20'"),
        (["switching", "--arrays", "0-"], "'--arrays': '0-' is not a list like '0-7,12'"),
        (["characterize", "--arrays", "0-"], "'--arrays': '0-' is not a list like '0-7,12'"),
        (["characterize", "--arrays", "5-3"], "'--arrays': '5-3': the range 5-3 runs backwards"),
    ],
)  # fmt: skip
def test_a_malformed_list_option_is_a_bad_command_line(args, said, tmp_path, capsys):
    out = tmp_path / "run.h5"
    assert main([*args, "--out", str(out), "--no-report"]) == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith(f"Error: Invalid value for {said}"), last
    assert not out.exists()


def test_the_widths_help_says_ranges_are_taken(capsys):
    assert main(["switching", "--help"]) == 0
    assert "'1e-8,1e-7,1e-6' or start:stop:step" in " ".join(capsys.readouterr().out.split())
