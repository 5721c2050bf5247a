"""What the examples share: the size switch and the output folder.

``--small`` (or ``MTJ_HIL_EXAMPLES_SIZE=small``) runs an example at the size the test suite
uses: a few arrays instead of whole dies. ``--out DIR`` chooses where files go (default
``examples-out/``)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def options(description: str) -> argparse.Namespace:
    """Parse ``--small`` and ``--out``; the folder is created."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--small",
        action="store_true",
        default=os.environ.get("MTJ_HIL_EXAMPLES_SIZE", "") == "small",
        help="a few arrays instead of whole dies (also MTJ_HIL_EXAMPLES_SIZE=small)",
    )
    parser.add_argument("--out", type=Path, default=Path("examples-out"), help="output folder")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def fresh(path: Path) -> Path:
    """``path`` with any file of an earlier run of the example removed."""
    path.unlink(missing_ok=True)
    return path
