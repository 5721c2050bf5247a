"""Task kinds of campaigns: what a ``[[task]]`` group of a given ``kind`` expands into and how
one of its tasks runs.

Adding a kind is one module defining a :class:`TaskKind` and calling :func:`register_kind`
at import, plus one entry in :data:`BUILTIN_KINDS` (or, from another distribution, an entry
point in the group ``mtj_hil.campaign_kinds`` naming that module). Workers look kinds up by
name, so the module must be importable wherever a worker runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtj_hil.errors import ConfigError
from mtj_hil.kinds import measurement_kinds
from mtj_hil.schema import FileSchema, Section

if TYPE_CHECKING:
    from mtj_hil.campaigns.task import ExpandContext, Task

BUILTIN_KINDS = ("mtj_hil.campaigns.kinds.borders",) + tuple(
    kind.campaign for kind in measurement_kinds().values()
)
"""Modules that register the shipped kinds (imported on first lookup): the Borders sweep and
the task kind of every measurement kind (:mod:`mtj_hil.kinds`)."""

ENTRY_POINT_GROUP = "mtj_hil.campaign_kinds"


@dataclass(frozen=True)
class TaskKind:
    """One kind of campaign task.

    Attributes:
        name: the ``kind`` value in a campaign file.
        expand: ``expand(group, ctx) -> list[Task]`` on the client, before anything runs:
            validates the group's keys (``ConfigError`` naming ``task[i].key``) and returns
            one :class:`Task` per run file.
        run: ``run(task) -> dict`` on a worker: creates ``task.run_file`` or finishes it if
            it exists unfinished (resume), and returns a small JSON-able summary. Raises on
            failure (the engine records the error).
        digest: ``digest(run_file) -> str``: a hash of the numbers the run produced (not of
            timestamps or ids), so two runs of the same task can be compared.
        keys: the group keys of this kind, declared once (a
            :class:`~mtj_hil.schema.Section`): what ``expand`` validates with
            ``ctx.check`` and what the file-format documentation lists. None: undeclared.
    """

    name: str
    expand: Callable[[dict[str, Any], ExpandContext], list[Task]]
    run: Callable[[Task], dict[str, Any]]
    digest: Callable[[Path], str]
    keys: Section | None = None


_KINDS: dict[str, TaskKind] = {}
_loaded = False


def register_kind(kind: TaskKind) -> TaskKind:
    """Make ``kind`` available to campaign files under ``kind.name`` (last one wins)."""
    _KINDS[kind.name] = kind
    return kind


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN_KINDS:
        importlib.import_module(module)
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        importlib.import_module(ep.value)


def kinds() -> dict[str, TaskKind]:
    """Every registered kind by name."""
    _load()
    return dict(_KINDS)


def get_kind(name: str, where: str = "kind") -> TaskKind:
    """The kind called ``name``.

    Raises:
        ConfigError: no such kind (the message names ``where`` and the known kinds).
    """
    _load()
    if name not in _KINDS:
        from mtj_hil.schema import closest

        near = closest(name, _KINDS)
        hint = f"; closest match: {near}" if near else ""
        raise ConfigError(
            f"{where} = {name!r} is not a task kind{hint}; known kinds: {', '.join(sorted(_KINDS))}"
        )
    return _KINDS[name]


def campaign_file_schema() -> FileSchema:
    """The campaign file's schema, with the keys of every registered task kind."""
    from mtj_hil.campaigns.schema import CAMPAIGN, TASK

    sections = [CAMPAIGN, TASK]
    for name, kind in sorted(kinds().items()):
        if kind.keys is not None:
            sections.append(
                Section(
                    "task",
                    kind.keys.doc,
                    kind.keys.fields,
                    many=True,
                    title=f'[[task]] with kind = "{name}"',
                )
            )
    return FileSchema(
        "campaign file",
        "Lots and experiment sweeps for mtj-hil campaign (campaigns/*.toml): a [campaign] "
        "table and [[task]] groups, each expanding into tasks (one run file each).",
        tuple(sections),
    )
