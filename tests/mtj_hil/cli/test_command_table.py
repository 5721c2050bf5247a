"""The root group imports a command only when it is used (mtj_hil.cli.command_table): its
table of commands and one-line helps agrees with the commands themselves, ``--help`` lists
them as a group holding every command did, and ``--help`` or one command loads only what it
needs."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import textwrap

import click
import pytest
from click.testing import CliRunner

from mtj_hil.cli.command_table import COMMANDS, KIND_COMMANDS, Entry, LazyCommands, LazyGroup
from mtj_hil.cli.main import cli, main
from mtj_hil.kinds import MeasurementKind, measurement_kinds
from mtj_hil.kinds import registry as kind_registry

TABLE = {**KIND_COMMANDS, **COMMANDS}


@pytest.mark.parametrize("name", sorted(TABLE))
def test_each_entry_is_its_command_with_its_one_line_help(name):
    entry = TABLE[name]
    command = entry.load()
    assert command.name == name
    assert not command.hidden and not command.deprecated  # the listing would show it
    stand_in = click.Command(name, short_help=entry.short_help)
    for limit in (10, 20, 32, 45, 60, 72, 200):  # 45: click's default; the rest: widths
        assert stand_in.get_short_help_str(limit) == command.get_short_help_str(limit), limit


def test_the_kind_table_is_the_shipped_kinds_commands():
    references = {kind.command for kind in measurement_kinds().values()}
    assert {entry.reference for entry in KIND_COMMANDS.values()} == references
    assert not set(KIND_COMMANDS) & set(COMMANDS)


def _eager_group() -> click.Group:
    """The root group as it was built before: every command imported and added, each
    kind's first, then the others."""
    group = click.Group(name=cli.name, params=cli.params, help=cli.help)
    group.context_settings = dict(cli.context_settings)
    for kind in measurement_kinds().values():
        group.add_command(kind.piece("command"))
    for entry in COMMANDS.values():
        group.add_command(entry.load())
    return group


def _lazy_group() -> LazyGroup:
    group = LazyGroup(
        name=cli.name,
        params=cli.params,
        help=cli.help,
        commands=LazyCommands(COMMANDS, KIND_COMMANDS),
    )
    group.context_settings = dict(cli.context_settings)
    return group


@pytest.mark.parametrize("width", [50, 60, 72, 80, 120])
def test_the_help_is_the_help_of_a_group_holding_every_command(width):
    eager, lazy = _eager_group(), _lazy_group()
    for group in (eager, lazy):
        group.context_settings["terminal_width"] = width
    runner = CliRunner()
    want = runner.invoke(eager, ["--help"], prog_name="mtj-hil")
    got = runner.invoke(lazy, ["--help"], prog_name="mtj-hil")
    assert got.output == want.output
    assert lazy.commands._loaded == {}  # listed from the table, nothing imported
    assert list(lazy.commands) == list(eager.commands)  # in the order they were added
    assert dict(lazy.commands.items()) == dict(eager.commands.items())


def test_a_mistyped_command_gets_the_same_suggestions():
    runner = CliRunner()
    want = runner.invoke(_eager_group(), ["charact"], prog_name="mtj-hil")
    got = runner.invoke(_lazy_group(), ["charact"], prog_name="mtj-hil")
    assert "Did you mean one of: 'calibrate', 'characterize'?" in got.output
    assert (got.output, got.exit_code) == (want.output, want.exit_code)


def _fresh(code: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_help_and_version_import_no_command_and_nothing_heavy():
    got = _fresh(
        """
        import contextlib, io, json, sys
        from mtj_hil.cli.main import main
        with contextlib.redirect_stdout(io.StringIO()):
            codes = [main(["--help"]), main(["--version"])]
        modules = [m for m in sys.modules if m.startswith("mtj_hil.cli.")]
        heavy = [m for m in ("numpy", "scipy", "pandas", "pymeasure", "h5py") if m in sys.modules]
        print(json.dumps([codes, sorted(modules), heavy]))
        """
    )
    codes, modules, heavy = got
    assert codes == [0, 0]
    assert not {e.reference.partition(":")[0] for e in TABLE.values()} & set(modules)
    assert heavy == []


def test_a_command_imports_its_own_module_only():
    got = _fresh(
        """
        import contextlib, io, json, sys
        from mtj_hil.cli.main import main
        with contextlib.redirect_stdout(io.StringIO()):
            code = main(["profiles"])
        heavy = [m for m in ("scipy", "pandas", "pymeasure", "h5py") if m in sys.modules]
        print(json.dumps([code, sorted(m for m in sys.modules if m.startswith("mtj_hil.cli.")),
                          heavy]))
        """
    )
    code, modules, heavy = got
    assert code == 0
    commands = {e.reference.partition(":")[0] for e in TABLE.values()}
    assert commands & set(modules) == {"mtj_hil.cli.show"}
    assert heavy == []


def test_the_command_is_imported_before_the_stop_signals_raise(monkeypatch):
    """Its imports take a second or two: a stop then ends ``mtj-hil`` quietly (launch.py)."""
    group = _lazy_group()
    main_module = sys.modules["mtj_hil.cli.main"]  # (mtj_hil.cli.main is also the function)
    monkeypatch.setattr(main_module, "cli", group)
    seen = []

    def stop_signals_raise():
        seen.append(sorted(group.commands._loaded))
        return contextlib.nullcontext()

    monkeypatch.setattr(main_module, "stop_signals_raise", stop_signals_raise)
    assert main(["--debug", "profiles", "--help"]) == 0
    assert seen == [["profiles"]]


def _other_kind(name: str, command: str) -> MeasurementKind:
    base = measurement_kinds()["characterization"]
    return MeasurementKind(**{**vars(base), "name": name, "command": command})


def test_a_kind_from_elsewhere_has_its_command_and_a_listed_command_keeps_its_name(monkeypatch):
    """Another distribution's kind: its command is imported to learn its name; one named as
    a command of the table gives way to it, as when each kind's command was added first."""
    measurement_kinds()  # the shipped kinds registered
    monkeypatch.setitem(
        kind_registry._KINDS, "goodwill", _other_kind("goodwill", "mtj_hil.cli.goodwill:goodwill")
    )
    monkeypatch.setitem(
        kind_registry._KINDS,
        "shadow",
        _other_kind("shadow", "mtj_hil.cli.calibration:show_command"),
    )
    from mtj_hil.cli.goodwill import goodwill
    from mtj_hil.cli.show import show

    lazy, eager = _lazy_group(), _eager_group()
    assert lazy.commands["goodwill"] is goodwill and lazy.commands["show"] is show
    assert list(lazy.commands) == list(eager.commands)
    runner = CliRunner()
    got = runner.invoke(_lazy_group(), ["--help"], prog_name="mtj-hil")
    assert got.output == runner.invoke(eager, ["--help"], prog_name="mtj-hil").output
    assert "goodwill" in got.output


def test_commands_can_be_added_and_removed_as_in_a_dictionary():
    group = _lazy_group()
    extra = click.Command("extra", short_help="An extra command.")
    group.add_command(extra)
    assert "extra" in group.commands and group.commands["extra"] is extra
    del group.commands["view"]
    assert "view" not in group.commands and "view" not in group.list_commands(click.Context(group))
    with pytest.raises(KeyError):
        del group.commands["view"]
    assert list(group.commands)[-1] == "extra"
    assert group.commands._loaded == {"extra": extra}
    assert isinstance(COMMANDS["view"], Entry)
