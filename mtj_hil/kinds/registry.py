"""The registry of measurement kinds.

A kind is declared once, as a :class:`MeasurementKind` whose fields name, as
``"module:attribute"`` references resolved on first use, the piece each layer contributes:

============  ==========================================================  =============
field         what it is                                                  layer
============  ==========================================================  =============
plan          the plan dataclass (its defaults are the CLI's)             protocols
check_plan    ``check_plan(layout, plan)``: refuse before any file exists protocols
procedure     the measurement written against ``Chip``                    protocols
store         the run-file sink (create / resume / save per array)        runs.store
load          ``load(path)``: a finished or partial run, read back        runs.store
job           ``job(chip, out, die_id=, plan=, resume=, ...)``            runs.jobs
report        ``report(loaded, png_path)``: the PNG report                reports
summary       ``summary(path)``: what ``mtj-hil show`` prints             cli
command       the click command                                           cli
campaign      module registering the campaign task kind                   campaigns
nexus         ``nexus(h5)``: the NeXus default plot of a finished run     runs.store
              (optional)
dataset       ``dataset(path)``: the run as a labelled ``xarray.Dataset``  labelled
              (optional)
============  ==========================================================  =============

References instead of imports keep this module at the bottom of the house (it imports
nothing of ours), so any layer may consult it without an import cycle. Adding a kind: one
module per layer, then one :func:`register` call in :mod:`mtj_hil.kinds.builtin` (or, from
another distribution, a module named by an entry point in the group ``mtj_hil.kinds``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib import metadata
from typing import Any

ENTRY_POINT_GROUP = "mtj_hil.kinds"

PIECES = (
    "plan",
    "check_plan",
    "procedure",
    "store",
    "load",
    "job",
    "report",
    "summary",
    "command",
    "campaign",
    "nexus",
    "dataset",
)


@dataclass(frozen=True)
class MeasurementKind:
    """One kind of measurement and the pieces of it each layer holds.

    Attributes:
        name: the ``kind`` attribute its run files carry (e.g. ``"characterization"``).
        title: a few words for people (``show``, ``--help``).
        plan ... dataset: ``"module:attribute"`` references (``campaign`` is a module),
            see the module docstring; ``nexus`` and ``dataset`` may be empty (the kind has
            none).
    """

    name: str
    title: str
    plan: str
    check_plan: str
    procedure: str
    store: str
    load: str
    job: str
    report: str
    summary: str
    command: str
    campaign: str
    nexus: str = ""
    dataset: str = ""

    def piece(self, field: str) -> Any:
        """The object ``field`` refers to, imported on first use (None for an optional piece
        the kind does not have).

        Raises:
            KeyError: ``field`` is not one of :data:`PIECES`.
        """
        if field not in PIECES:
            raise KeyError(f"a measurement kind has no piece {field!r}; pieces: {PIECES}")
        if not getattr(self, field):
            return None
        module, _, attribute = getattr(self, field).partition(":")
        loaded = importlib.import_module(module)
        return getattr(loaded, attribute) if attribute else loaded


_KINDS: dict[str, MeasurementKind] = {}
_loaded = False


def register(kind: MeasurementKind) -> MeasurementKind:
    """Make ``kind`` known to the tool (a later registration of the same name wins)."""
    _KINDS[kind.name] = kind
    return kind


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    importlib.import_module("mtj_hil.kinds.builtin")
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        importlib.import_module(ep.value)


def measurement_kinds() -> dict[str, MeasurementKind]:
    """Every registered kind by name, shipped ones first."""
    _load()
    return dict(_KINDS)


def get_kind(name: str) -> MeasurementKind:
    """The kind called ``name``.

    Raises:
        KeyError: no such kind (the message lists the known ones).
    """
    kinds = measurement_kinds()
    if name not in kinds:
        raise KeyError(f"no measurement kind {name!r}; known: {', '.join(kinds)}")
    return kinds[name]


def file_kind(name: str | None) -> MeasurementKind | None:
    """The measurement kind of a run file whose ``kind`` attribute is ``name`` (None if the
    file is of no measurement kind, e.g. a campaign index or an experiment's output)."""
    return measurement_kinds().get(name or "")
