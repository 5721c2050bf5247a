"""The example station and campaign files, shipped with the package.

In the repository they are the top-level ``stations/`` and ``campaigns/`` folders; an
installed package carries the same files as ``mtj_hil/examples/stations`` and
``mtj_hil/examples/campaigns`` (``setup.py`` maps the folders, nothing is copied in git).
``mtj-hil examples DIR`` copies them out (:mod:`mtj_hil.cli.examples`).
"""

from __future__ import annotations

from pathlib import Path

FOLDERS = ("stations", "campaigns")


def example_dir(folder: str) -> Path:
    """Where the shipped example ``folder`` (``stations`` or ``campaigns``) is.

    Raises:
        FileNotFoundError: neither an installed copy nor the repository's folder exists.
    """
    if folder not in FOLDERS:
        raise ValueError(f"no example folder {folder!r}; folders: {FOLDERS}")
    here = Path(__file__).resolve().parent
    for candidate in (here / folder, here.parents[1] / folder):
        if candidate.is_dir() and any(candidate.glob("*.toml")):
            return candidate
    raise FileNotFoundError(f"the example {folder}/ folder is not installed with this package")


def example_files() -> dict[str, Path]:
    """Every shipped example as ``"folder/name.toml" -> path``."""
    return {
        f"{folder}/{path.name}": path
        for folder in FOLDERS
        for path in sorted(example_dir(folder).glob("*.toml"))
    }
