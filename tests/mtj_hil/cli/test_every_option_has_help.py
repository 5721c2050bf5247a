"""Every command and every option explains itself, and the list of commands in a group's
--help shows each summary whole; --version and python -m mtj_hil work."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import click

from mtj_hil.cli.main import cli, main


def _walk(command: click.Command, path: str = "mtj-hil"):
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _walk(sub, f"{path} {name}")


def test_every_option_of_every_command_has_help():
    missing = []
    for path, command in _walk(cli):
        if not (command.help or "").strip():
            missing.append(f"{path} (the command)")
        for param in command.params:
            if isinstance(param, click.Option) and not (param.help or "").strip():
                missing.append(f"{path} {param.opts[-1]}")
    assert not missing, f"{len(missing)} without help: " + ", ".join(missing)


def test_every_group_lists_its_commands_with_whole_summaries():
    """click cut a summary taken from the docstring to one line ending in '...' ('Calibrate a
    station: SMU...'): each command has a summary of its own, listed whole and wrapped
    between words at any width."""
    for path, group in _walk(cli):
        if not isinstance(group, click.Group):
            continue
        for width in (50, 80, 160):
            ctx = click.Context(
                group, info_name=path, terminal_width=width, max_content_width=width
            )
            listing = group.get_help(ctx).split("Commands:", 1)[1]
            assert "..." not in listing, f"{path} at {width} columns:{listing}"
            words = " ".join(listing.split())
            for name, command in group.commands.items():
                summary = (command.short_help or "").strip()
                assert summary, f"{path} {name} has no short_help of its own"
                assert f"{name} {summary}" in words, f"{path} {name} at {width} columns"


def test_version(capsys):
    assert main(["--version"]) == 0
    assert metadata.version("mtj-hil") in capsys.readouterr().out


def test_python_dash_m_runs_the_command():
    done = subprocess.run(
        [sys.executable, "-m", "mtj_hil", "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "mtj-hil" in done.stdout


def test_debug_is_accepted_anywhere_on_the_command_line(tmp_path, capsys):

    missing = str(tmp_path / "missing.h5")
    assert main(["show", missing]) == 4
    assert "Traceback" not in capsys.readouterr().err
    for args in (["show", missing, "--debug"], ["--debug", "show", missing]):
        # the traceback as well as the line, and the family's exit code (it was 1)
        assert main(args) == 4
        err = capsys.readouterr().err
        assert "Traceback" in err and "StoreError" in err and "does not exist" in err
