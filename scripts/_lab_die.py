"""The die a virtual-lab bench measures: the station file's, or another die of its profile
or of another profile (``--profile``/``--lot``/``--die``: dies the benches were not tuned
on)."""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

STATION = Path(__file__).resolve().parents[1] / "stations" / "virtual-lab.toml"
"""The virtual-lab station file the benches serve and connect through."""


def add_die_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--profile``, ``--lot`` and ``--die``, defaulting to the station file's die
    profile and ``[virtual_lab]`` die."""
    station = tomllib.loads(STATION.read_text())
    lab = station["virtual_lab"]
    parser.add_argument(
        "--profile",
        default=station["die"]["profile"],
        help="die profile of the simulated die: a shipped name or a TOML file (default: the "
        "virtual-lab station file's); its limits must fit the station's [safety]",
    )
    parser.add_argument(
        "--lot",
        type=int,
        default=lab["lot_seed"],
        help="lot seed of the simulated die (default: the virtual-lab station file's)",
    )
    parser.add_argument(
        "--die", type=int, default=lab["die"], help="die of that lot (default: the station's)"
    )


def lab_die(args: argparse.Namespace) -> tuple[str, int, int]:
    """``(profile, lot, die)`` the options chose."""
    return args.profile, args.lot, args.die
