"""The example station and campaign files, shipped with the package.

In the repository they are the top-level ``stations/`` and ``campaigns/`` folders; an
installed package carries the same files as ``mtj_hil/examples/stations`` and
``mtj_hil/examples/campaigns`` (``setup.py`` maps the folders, nothing is copied in git).
``mtj-hil examples DIR`` copies them out.
"""

from __future__ import annotations

import shutil
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


def copy_examples(target: str | Path, overwrite: bool = False) -> list[Path]:
    """Copy the examples to ``target/stations`` and ``target/campaigns``; the files written.

    Raises:
        FileExistsError: a file of that name exists there (without ``overwrite``); nothing
            is copied then.
    """
    target = Path(target)
    plan = {target / rel: src for rel, src in example_files().items()}
    existing = [dst for dst in plan if dst.exists()]
    if existing and not overwrite:
        raise FileExistsError(", ".join(str(p) for p in existing))
    for dst, src in plan.items():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    return list(plan)
