"""Location of the read-only reference data beside the repository (never copied into it)."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "MTJ_HIL_REFERENCE"
"""Environment variable naming the daffodil-wine reference folder."""


def daffodil_wine_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """Return the folder holding the NIST daffodil-lib Wine data and solutions.

    Order of precedence: ``path`` if given, else ``$MTJ_HIL_REFERENCE``, else
    ``<repo>/../shared/reference/daffodil-wine``. The folder is not checked for existence;
    use :func:`has_daffodil_wine` for that.
    """
    if path is not None:
        return Path(path)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared/reference/daffodil-wine"


def has_daffodil_wine(path: str | os.PathLike[str] | None = None) -> bool:
    """True if the reference folder exists and holds both ``dataset/`` and ``solutions/``."""
    root = daffodil_wine_dir(path)
    return (root / "dataset").is_dir() and (root / "solutions").is_dir()
