"""The pre-0.2 import names ``instruments``, ``protocols`` and ``calibration``.

The three layers now install as ``mtj_hil.instruments``, ``mtj_hil.protocols`` and
``mtj_hil.calibration``, so a user's own ``protocols.py`` or another distribution's
``instruments`` package no longer shadows them. For one release the old names still import,
with a :class:`DeprecationWarning`: each old module name is an alias of the new module (the
same object, so ``isinstance`` checks and module state agree).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from types import ModuleType

LEGACY_PACKAGES = ("instruments", "protocols", "calibration")


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        """The target module is already executed."""


class _LegacyFinder(importlib.abc.MetaPathFinder):
    """Resolves ``instruments.x.y`` to the module ``mtj_hil.instruments.x.y``."""

    def find_spec(self, fullname: str, path=None, target=None):  # noqa: ANN001
        top = fullname.partition(".")[0]
        if top not in LEGACY_PACKAGES or "." not in fullname:
            return None
        new = f"mtj_hil.{fullname}"
        if importlib.util.find_spec(new) is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(new))


def install(old: str) -> ModuleType:
    """Make the legacy package ``old`` an alias of ``mtj_hil.<old>``, warning once."""
    warnings.warn(
        f"'{old}' is deprecated; import 'mtj_hil.{old}' instead (the old name goes in 0.3)",
        DeprecationWarning,
        stacklevel=3,
    )
    if not any(isinstance(f, _LegacyFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _LegacyFinder())
    module = importlib.import_module(f"mtj_hil.{old}")
    sys.modules[old] = module
    return module
