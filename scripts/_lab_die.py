"""The die a virtual-lab bench measures: the station file's, or another die of its profile
or of another profile (``--profile``/``--lot``/``--die``: dies the benches were not tuned
on)."""

from __future__ import annotations

import argparse
import os
import tomllib
from pathlib import Path

from mtj_hil.errors import ConfigError
from mtj_hil.station.files import station_from_dict

STATION = Path(__file__).resolve().parents[1] / "stations" / "virtual-lab.toml"
"""The virtual-lab station file the benches serve and connect through."""


def add_die_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--profile``, ``--lot`` and ``--die``, defaulting to the station file's die
    profile and ``[virtual_lab]`` die."""
    station = tomllib.loads(STATION.read_text(encoding="utf-8"))
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


def lab_die(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple[str, int, int]:
    """``(profile, lot, die)`` the options chose, checked as the station file would check them
    (a known profile whose geometry and limits fit the station, a lot seed and die >= 0): a
    die that does not fit ends the bench with a usage error (exit status 2) naming it, before
    any lab is built."""
    profile = args.profile
    if profile.endswith(".toml") or "/" in profile or os.sep in profile:
        profile = str(Path(profile).resolve())  # a file: from here, not the station's folder
    data = tomllib.loads(STATION.read_text(encoding="utf-8"))
    data["die"]["profile"] = profile
    data["virtual_lab"].update(lot_seed=args.lot, die=args.die)
    try:
        station_from_dict(data, STATION)
    except ConfigError as exc:
        parser.error(
            f"--profile {args.profile} --lot {args.lot} --die {args.die} does not fit the "
            f"station file the bench connects through: {exc}"
        )
    return profile, args.lot, args.die
