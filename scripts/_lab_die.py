"""The die a virtual-lab bench measures: the station file's, or another die of its profile
(``--lot``/``--die``: dies the benches were not tuned on)."""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

STATION = Path(__file__).resolve().parents[1] / "stations" / "virtual-lab.toml"
"""The virtual-lab station file the benches serve and connect through."""


def add_die_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--lot`` and ``--die``, defaulting to the station file's ``[virtual_lab]`` die."""
    lab = tomllib.loads(STATION.read_text())["virtual_lab"]
    parser.add_argument(
        "--lot",
        type=int,
        default=lab["lot_seed"],
        help="lot seed of the simulated die (default: the virtual-lab station file's)",
    )
    parser.add_argument(
        "--die", type=int, default=lab["die"], help="die of that lot (default: the station's)"
    )
