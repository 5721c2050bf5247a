"""The 0.1 import names, kept for one release with a :class:`DeprecationWarning`.

Three kinds of old name still import:

- the top-level layers ``instruments``, ``protocols`` and ``calibration``, now
  ``mtj_hil.instruments`` and so on (installed under ``mtj_hil`` so that a user's own
  ``protocols.py`` or another distribution's ``instruments`` no longer shadows them): each old
  module name is an alias of the new module, the very same object;
- modules that moved in the reorganisation (:data:`MOVED`), e.g. ``protocols.switching_fit``
  or ``mtj_hil.store``: an alias of the new module, or, where one module became several, a
  module that finds each old name in the new ones;
- names of a module that became a package of the same name (``mtj_hil.station``,
  ``mtj_hil.profile_fit``) or lost some names to a sibling: the package face forwards them
  (:func:`forwarder`).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

LEGACY_PACKAGES = ("instruments", "protocols", "calibration")
REMOVAL = "0.3"

MOVED: dict[str, tuple[str, ...]] = {
    "instruments.controller_codec": ("mtj_hil.instruments.controller.codec",),
    "instruments.controller_commands": ("mtj_hil.instruments.controller.commands",),
    "instruments.controller_link": ("mtj_hil.instruments.controller.link",),
    "instruments.controller_port": ("mtj_hil.instruments.controller.port",),
    "instruments.controller_replies": ("mtj_hil.instruments.controller.replies",),
    "instruments.controller_types": ("mtj_hil.instruments.controller.types",),
    "instruments.transport": ("mtj_hil.instruments.bus.transport",),
    "instruments.visa_session": ("mtj_hil.instruments.bus.visa_session",),
    "protocols.characterize": (
        "mtj_hil.protocols.characterize.procedure",
        "mtj_hil.protocols.characterize.plan",
        "mtj_hil.protocols.read",
    ),
    "protocols.defects": (
        "mtj_hil.protocols.defects.detect",
        "mtj_hil.protocols.defects.codes",
        "mtj_hil.protocols.read",
    ),
    "protocols.classifier": ("mtj_hil.protocols.defects.classifier",),
    "protocols.evidence": ("mtj_hil.protocols.defects.evidence",),
    "protocols.bias_signature": ("mtj_hil.protocols.defects.bias_signature",),
    "protocols.switching_model": ("mtj_hil.protocols.defects.contrast",),
    "protocols.switching": ("mtj_hil.protocols.switching.procedure", "mtj_hil.protocols.read"),
    "protocols.switching_analysis": ("mtj_hil.protocols.switching.analysis",),
    "protocols.switching_fit": ("mtj_hil.protocols.switching.fit",),
    "mtj_hil.cli_common": ("mtj_hil.cli.common",),
    "mtj_hil.cli_calibration": ("mtj_hil.cli.calibration",),
    "mtj_hil.cli_campaign": ("mtj_hil.cli.campaign",),
    "mtj_hil.cli_experiments": ("mtj_hil.cli.experiments",),
    "mtj_hil.cli_station": ("mtj_hil.cli.station",),
    "mtj_hil.cli_switching": ("mtj_hil.cli.switching",),
    "mtj_hil.hardware": ("mtj_hil.station.chip", "mtj_hil.station.connect", "mtj_hil.station.smu"),
    "mtj_hil.station_smu": ("mtj_hil.station.smu",),
    "mtj_hil.station_check": ("mtj_hil.station.check",),
    "mtj_hil.hostile_start": ("mtj_hil.testing.hostile_start",),
    "mtj_hil.sim.lab.interop": ("mtj_hil.testing.interop",),
    "mtj_hil.store": ("mtj_hil.runs.store",),
    "mtj_hil.store.runfile": ("mtj_hil.runs.store.runfile",),
    "mtj_hil.store.characterization": ("mtj_hil.runs.store.characterization",),
    "mtj_hil.store.switching": ("mtj_hil.runs.store.switching",),
    "mtj_hil.jobs": ("mtj_hil.runs.jobs.characterization", "mtj_hil.runs.jobs.common"),
    "mtj_hil.jobs_switching": ("mtj_hil.runs.jobs.switching",),
    "mtj_hil.report": ("mtj_hil.reports.characterization",),
    "mtj_hil.report_switching": ("mtj_hil.reports.switching",),
    "mtj_hil.profile_toml": ("mtj_hil.profile_fit.writer",),
    "mtj_hil.sim.lab.smu_core": ("mtj_hil.sim.lab.smu.core",),
    "mtj_hil.sim.lab.smu_channel": ("mtj_hil.sim.lab.smu.channel",),
    "mtj_hil.sim.lab.scpi": ("mtj_hil.sim.lab.smu.scpi",),
    "mtj_hil.sim.lab.scpi_handlers": ("mtj_hil.sim.lab.smu.scpi_handlers",),
    "mtj_hil.sim.lab.scpi_smu": ("mtj_hil.sim.lab.smu.keithley2400",),
    "mtj_hil.sim.lab.keithley2450": ("mtj_hil.sim.lab.smu.keithley2450",),
    "mtj_hil.sim.lab.keithley2600": ("mtj_hil.sim.lab.smu.keithley2600",),
    "mtj_hil.sim.lab.keysight_b2900": ("mtj_hil.sim.lab.smu.keysight_b2900",),
    "mtj_hil.sim.lab.tsp": ("mtj_hil.sim.lab.smu.tsp",),
    "mtj_hil.sim.lab.tsp_objects": ("mtj_hil.sim.lab.smu.tsp_objects",),
    "mtj_hil.sim.lab.dialects": ("mtj_hil.sim.lab.smu.dialects",),
    "mtj_hil.campaigns.kind_borders": ("mtj_hil.campaigns.kinds.borders",),
    "mtj_hil.campaigns.kind_characterize": ("mtj_hil.campaigns.kinds.characterize",),
    "mtj_hil.campaigns.kind_switching": ("mtj_hil.campaigns.kinds.switching",),
}
"""0.1 module -> the module(s) that now hold its names, searched in order."""


def _deprecated(old: str, new: str) -> None:
    warnings.warn(
        f"'{old}' is deprecated; import '{new}' instead (the old name goes in {REMOVAL})",
        DeprecationWarning,
        stacklevel=4,
    )


def _composite(old: str, targets: Sequence[str]) -> ModuleType:
    """A module standing for ``old`` whose names are looked up in ``targets`` in order."""
    module = ModuleType(old, f"Deprecated: the names of 0.1's {old} (now in {', '.join(targets)}).")
    module.__getattr__ = forwarder(old, targets, warn=False)  # type: ignore[attr-defined]
    return module


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, old: str, targets: Sequence[str]) -> None:
        self.old, self.targets = old, tuple(targets)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        if self.old in MOVED:
            _deprecated(self.old, " / ".join(self.targets))
        if len(self.targets) == 1:
            module = importlib.import_module(self.targets[0])
            self._own_spec = module.__spec__
            return module
        return _composite(self.old, self.targets)

    def exec_module(self, module: ModuleType) -> None:
        """The target module is already executed; give it back its own spec (the import
        system set the alias's on it)."""
        own = getattr(self, "_own_spec", None)
        if own is not None:
            module.__spec__ = own


class _LegacyFinder(importlib.abc.MetaPathFinder):
    """Finds 0.1 module names: moved modules, and the old top-level layer names."""

    def find_spec(self, fullname: str, path=None, target=None):  # noqa: ANN001, ANN201
        if fullname in MOVED:
            return importlib.machinery.ModuleSpec(fullname, _AliasLoader(fullname, MOVED[fullname]))
        top = fullname.partition(".")[0]
        if top not in LEGACY_PACKAGES or "." not in fullname:
            return None
        new = f"mtj_hil.{fullname}"
        if importlib.util.find_spec(new) is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(fullname, (new,)))


def install_finder() -> None:
    """Put the finder of 0.1 module names first on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _LegacyFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _LegacyFinder())


def install(old: str) -> ModuleType:
    """Make the legacy package ``old`` an alias of ``mtj_hil.<old>``, warning once."""
    warnings.warn(
        f"'{old}' is deprecated; import 'mtj_hil.{old}' instead (the old name goes in {REMOVAL})",
        DeprecationWarning,
        stacklevel=3,
    )
    install_finder()
    module = importlib.import_module(f"mtj_hil.{old}")
    sys.modules[old] = module
    return module


def forwarder(owner: str, sources: Sequence[str], *, warn: bool = True) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``owner`` that finds names it lost in ``sources``.

    The name is looked up in each source module in order (imported on first use); a name
    found warns that it now lives there. Any other name raises ``AttributeError``, so
    submodule imports of a package face keep working.
    """

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        for source in sources:
            module = importlib.import_module(source)
            if name in vars(module):
                if warn:
                    _deprecated(f"{owner}.{name}", f"{source}.{name}")
                return vars(module)[name]
        raise AttributeError(f"module {owner!r} has no attribute {name!r}")

    return __getattr__
