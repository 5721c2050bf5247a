"""An option given twice with two values is refused before anything runs; given twice with
one value, or an option made to repeat, is accepted."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from mtj_hil.cli import main
from mtj_hil.cli.main import cli
from mtj_hil.cli.repeated import refuse_conflicting_options


def _err(capsys: pytest.CaptureFixture[str]) -> str:
    return " ".join(capsys.readouterr().err.split())


@pytest.mark.parametrize(
    "args, named",
    [
        (["characterize", "--read-voltage", "0.1", "--read-voltage", "0.3"], "--read-voltage"),
        (["characterize", "--read-voltage=0.1", "--read-voltage", "0.3"], "--read-voltage"),
        (["switching", "--amplitudes", "0.5-0.9", "--amplitudes=0.5-1.2"], "--amplitudes"),
        (["characterize", "--report", "--no-report"], "--report"),
        (["fit-profile", "run.h5", "-o", "a.toml", "--out", "b.toml"], "-o"),
        (["campaign", "run", "c.toml", "--workers", "1", "--workers", "2"], "--workers"),
        # integers as integers: equal as floats, two lots
        (
            ["characterize", "--lot-seed", "9007199254740993", "--lot-seed", "9007199254740992"],
            "--lot-seed",
        ),
        (["characterize", "--die-id", "1e3", "--die-id", "1000"], "--die-id"),  # text as typed
    ],
)
def test_two_values_of_one_option_are_refused_before_the_command_runs(
    args, named, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    assert main([*args, "--arrays", "0"] if args[0] == "characterize" else args) == 2
    err = _err(capsys)
    assert named in err and "give" in err
    assert list(tmp_path.iterdir()) == []  # no run file, no report: nothing ran


def test_the_message_gives_both_values_in_order():
    with pytest.raises(click.UsageError, match=r"'0\.1', then '0\.3'"):
        refuse_conflicting_options(
            cli, ["characterize", "--read-voltage", "0.1", "--read-voltage", "0.3"]
        )


@pytest.mark.parametrize(
    "args",
    [
        ["characterize", "--read-voltage", "0.1", "--read-voltage", "1e-1"],  # one value
        ["characterize", "--out", "./x.h5", "--out", "x.h5"],  # one file
        ["characterize", "--cycles", "1", "--cycles", "2", "--help"],  # help: nothing runs
        ["characterize", "--force", "--force"],  # a flag twice
        ["characterize", "--", "--read-voltage", "0.1", "--read-voltage", "0.3"],  # after --
        ["characterize", "--die-id", "--die-id"],  # a value spelled as the option
        ["characterize", "--read-voltage"],  # missing value: left to click
        ["no-such-command", "--x", "1", "--x", "2"],  # unknown: left to click
    ],
)
def test_one_value_given_twice_and_what_click_reports_itself_pass(args):
    refuse_conflicting_options(cli, args)


def test_options_made_to_repeat_are_left_to_click():
    train = cli.commands["train"]
    multiple = [p for p in train.params if isinstance(p, click.Option) and p.multiple]
    assert multiple, "train has an option given once per value"
    flag = multiple[0].opts[0]
    refuse_conflicting_options(cli, ["train", flag, "a", flag, "b"])


def test_the_same_option_in_two_commands_of_one_line_is_not_a_repeat(tmp_path: Path):
    # a group's option and its subcommand's option of the same name are two options
    refuse_conflicting_options(cli, ["campaign", "run", "c.toml", "--workers", "2"])
