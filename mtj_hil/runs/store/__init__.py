"""HDF5 run files with provenance, written crash-consistently (see runfile.py).

The names below load on first use, so a process that needs only the file format (the
damage locator :mod:`mtj_hil.runs.store.diagnose`) starts without the protocols."""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "Characterization": "mtj_hil.runs.store.characterization",
    "CharacterizationRun": "mtj_hil.runs.store.characterization",
    "load_characterization": "mtj_hil.runs.store.characterization",
    "RunFile": "mtj_hil.runs.store.runfile",
    "verify_run": "mtj_hil.runs.store.verify",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_NAMES[name]), name)
