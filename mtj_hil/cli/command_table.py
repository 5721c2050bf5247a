"""The root command's commands, each imported when it is first used.

Every command's module imports much of the library (numpy, h5py, scipy, pymeasure ...);
``mtj-hil --help`` and ``mtj-hil --version`` need none of them, and ``mtj-hil profiles``
needs one module. So the root group holds a table (:data:`COMMANDS`, :data:`KIND_COMMANDS`)
of where each command lives and its one-line help: ``--help`` lists the commands from it,
and a command's module is imported when the command is looked up (run, or asked for its own
help). ``tests/mtj_hil/cli/test_command_table.py`` checks the table against the commands.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping
from gettext import gettext as _
from typing import NamedTuple

import click


class Entry(NamedTuple):
    """Where a command lives and its one-line help (its ``short_help``)."""

    reference: str
    """``"module:attribute"`` of the click command."""
    short_help: str

    def load(self) -> click.Command:
        module, _, attribute = self.reference.partition(":")
        return getattr(importlib.import_module(module), attribute)


COMMANDS: dict[str, Entry] = {
    "show": Entry("mtj_hil.cli.show:show", "Summarise any file the tool writes."),
    "demo": Entry(
        "mtj_hil.cli.characterize:demo", "Characterise a simulated die and draw its report."
    ),
    "profiles": Entry("mtj_hil.cli.show:profiles", "List the shipped die profiles."),
    "lab": Entry("mtj_hil.cli.lab:lab", "Virtual lab: simulated dies behind virtual instruments."),
    "experiment": Entry(
        "mtj_hil.cli.experiments:experiment", "Reproduce the seed experiments on simulated dies."
    ),
    "train": Entry(
        "mtj_hil.cli.networks:train", "Train a network for a die and save it in a run file."
    ),
    "evaluate": Entry(
        "mtj_hil.cli.networks:evaluate", "Test a saved network on a die: software, emulated, chip."
    ),
    "calibrate": Entry(
        "mtj_hil.cli.calibration:calibrate", "Calibrate a station's SMU, connectors and converters."
    ),
    "calibration": Entry(
        "mtj_hil.cli.calibration:calibration", "Inspect a station's calibration records."
    ),
    "campaign": Entry(
        "mtj_hil.cli.campaign:campaign", "Run whole lots and experiment sweeps as tasks on Dask."
    ),
    "station": Entry("mtj_hil.cli.station:station", "Check station files before a run."),
    "fit-profile": Entry(
        "mtj_hil.cli.fit_profile:fit_profile_command", "Fit a die profile from measured runs."
    ),
    "export": Entry(
        "mtj_hil.cli.export:export", "Export a run or a campaign's results: NetCDF, CSV, NeXus."
    ),
    "view": Entry("mtj_hil.cli.view:view", "Serve a live web page of a run or campaign file."),
    "examples": Entry(
        "mtj_hil.cli.examples:examples", "Copy the example station and campaign files."
    ),
}
"""The commands that are not a measurement kind's, by name (a kind's command of the same name
gives way to one of these)."""

KIND_COMMANDS: dict[str, Entry] = {
    "characterize": Entry(
        "mtj_hil.cli.characterize:characterize",
        "Characterise a die into a run file: maps, defects, yield.",
    ),
    "switching": Entry(
        "mtj_hil.cli.switching:switching",
        "Measure P(switch) against pulse amplitude and width.",
    ),
}
"""The commands of the measurement kinds shipped with mtj-hil (:mod:`mtj_hil.kinds.builtin`),
by name. Which kinds' commands the root group has is the kind registry's answer
(:func:`mtj_hil.kinds.measurement_kinds`, read when the commands are first listed or a name
not in :data:`COMMANDS` is looked up); a kind whose command is not in this table (another
distribution's) has its command imported then, to learn its name."""


class LazyCommands(MutableMapping[str, click.Command]):
    """A group's commands by name, as click's ``Group.commands`` dictionary, but a command's
    module is imported only when the command is looked up.

    The names, their order (each kind's command in the registry's order, then
    :data:`COMMANDS`, then any added later) and ``in`` need no command imported; so do
    click's listing of the names and its "did you mean" suggestions. ``add_command`` and
    ``del`` work as on a dictionary.
    """

    def __init__(self, commands: Mapping[str, Entry], kind_commands: Mapping[str, Entry]) -> None:
        self._entries = dict(commands)
        self._kind_entries = {e.reference: (name, e) for name, e in kind_commands.items()}
        self._from_kinds: dict[str, Entry | click.Command] | None = None
        self._loaded: dict[str, click.Command] = {}
        self._removed: set[str] = set()

    def kind_commands(self) -> dict[str, Entry | click.Command]:
        """Each measurement kind's command by name, in the registry's order: its table entry,
        or the command itself (imported) for a kind not in :data:`KIND_COMMANDS`."""
        if self._from_kinds is None:
            from mtj_hil.kinds import measurement_kinds

            found: dict[str, Entry | click.Command] = {}
            for kind in measurement_kinds().values():
                if kind.command in self._kind_entries:
                    name, entry = self._kind_entries[kind.command]
                    found[name] = entry
                else:
                    command = kind.piece("command")
                    found[command.name] = command
            self._from_kinds = found
        return self._from_kinds

    def _names(self) -> list[str]:
        names = dict.fromkeys([*self.kind_commands(), *self._entries, *self._loaded])
        return [n for n in names if n not in self._removed]

    def source(self, name: str) -> Entry | click.Command | None:
        """The command called ``name`` if it is loaded, else its table entry (None: no such
        command). Imports nothing but, for a name not in :data:`COMMANDS`, the registry."""
        if name in self._removed:
            return None
        if name in self._loaded:
            return self._loaded[name]
        if name in self._entries:
            return self._entries[name]
        return self.kind_commands().get(name)

    def __getitem__(self, name: str) -> click.Command:
        found = self.source(name)
        if found is None:
            raise KeyError(name)
        if isinstance(found, Entry):
            found = found.load()
        self._loaded[name] = found
        return found

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command
        self._removed.discard(name)

    def __delitem__(self, name: str) -> None:
        if self.source(name) is None:
            raise KeyError(name)
        self._loaded.pop(name, None)
        self._removed.add(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.source(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())


class LazyGroup(click.Group):
    """A click group whose commands are a :class:`LazyCommands`: ``list_commands`` reads the
    names from the table, ``get_command`` imports the one command asked for, and the help
    lists each command with the one-line help of its table entry (the command's own, once
    it is loaded) without importing it."""

    commands: LazyCommands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.commands)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's listing of the commands (``Group.format_commands``), with a stand-in
        carrying the table's one-line help for each command not loaded yet."""
        commands = []
        for name in self.list_commands(ctx):
            found = self.commands.source(name)
            if isinstance(found, Entry):
                found = click.Command(name, short_help=found.short_help)
            if found is not None and not found.hidden:
                commands.append((name, found))
        if commands:
            limit = formatter.width - 6 - max(len(name) for name, _ in commands)
            rows = [(name, command.get_short_help_str(limit)) for name, command in commands]
            with formatter.section(_("Commands")):  # as click words it
                formatter.write_dl(rows)
