"""--die-id and --operator are recorded in run files and calibration records: every command
taking them refuses (exit 2, one line naming the option) a blank label or one holding a
newline or a tab, on a real station as on a virtual lab (where an empty --die-id used to
be swapped silently for the simulated die's id)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtj_hil.cli.main import main

STATION = Path(__file__).resolve().parents[3] / "stations" / "virtual-lab.toml"
COMMANDS = [
    ["characterize", "--station", str(STATION), "--arrays", "0"],
    ["switching", "--station", str(STATION), "--arrays", "0"],
    ["calibrate", "--station", str(STATION)],
]


def _refused(args: list[str], capsys) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("Error:") == 1
    return err.splitlines()[-1]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize(
    ("label", "said"),
    [
        ("", "--die-id '' names no die; give the mounted die's label"),
        ("  ", "--die-id '  ' names no die; give the mounted die's label"),
        (
            "W3\nD17",
            "--die-id 'W3\\nD17' holds a control character (a newline or a tab); give the "
            "mounted die's label on one line",
        ),
        ("W3\tD17", "--die-id 'W3\\tD17' holds a control character"),
    ],
)
def test_a_blank_or_multi_line_die_id_is_refused(command, label, said, capsys):
    assert said in _refused([*command, "--die-id", label], capsys)


@pytest.mark.parametrize("command", COMMANDS[:2], ids=lambda c: c[0])
@pytest.mark.parametrize(
    ("operator", "said"),
    [
        (" ", "Error: --operator ' ' names no one; give who ran it"),
        ("ann\nbob", "Error: --operator 'ann\\nbob' holds a control character"),
        ("ann\t", "Error: --operator 'ann\\t' holds a control character"),
    ],
)
def test_a_blank_or_multi_line_operator_is_refused(command, operator, said, capsys):
    assert _refused([*command, "--operator", operator], capsys).startswith(said)
