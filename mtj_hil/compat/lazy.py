"""Public names of a package loaded on first use (PEP 562), so importing one small module of
the package (``mtj_hil.calibration.errors``) does not import the whole package.

A package keeps its ``__all__`` and writes its eager imports under ``if TYPE_CHECKING:``
(for type checkers and readers), then::

    __getattr__, __dir__ = lazy_exports(globals(), {"mtj_hil.calibration.records": (...)})
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(
    namespace: dict[str, Any], exports: Mapping[str, Iterable[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's module ``__getattr__`` and ``__dir__`` for the names it re-exports.

    Args:
        namespace: the package's ``globals()``.
        exports: module -> the names of it the package re-exports.

    ``__getattr__`` imports a name's module on first use and keeps the name in
    ``namespace`` (later look-ups are plain). A submodule not imported yet is imported when
    it is asked for, as a package that imported its submodules at load time had them all as
    attributes. Any other name raises ``AttributeError``.
    """
    package = namespace["__name__"]
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name in where:
            value = getattr(importlib.import_module(where[name]), name)
            namespace[name] = value
            return value
        submodule = f"{package}.{name}"
        public = name.isidentifier() and not name.startswith("_")
        if public and importlib.util.find_spec(submodule) is not None:
            return importlib.import_module(submodule)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*namespace, *where})

    return __getattr__, __dir__
