"""The die a station measures, as training and evaluation name it: a virtual lab serves one
simulated die (its ``[virtual_lab]`` section), a real bench a die the tool has no id for.
Networks and maps of another simulated die, and a ``--die`` other than the served one, are
refused before any instrument opens."""

from __future__ import annotations

from pathlib import Path

from mtj_hil.errors import ConfigError
from mtj_hil.sim.die import SIMULATED_PREFIX, simulated_die_id


def refuse_other_lab_die(station: Path, die: int, verb: str = "evaluate") -> None:
    """Refuse a ``die`` index other than the one a virtual-lab station serves: the station's
    die is what is measured, and the result would be reported as die ``die``.

    Raises:
        ConfigError: naming both dies and the option to give.
    """
    from mtj_hil.station.files import load_station

    lab = load_station(station).virtual_lab
    if lab is not None and int(lab.die) != int(die):
        raise ConfigError(
            f"--die {die}: the virtual lab of {station} serves die {lab.die} (lot "
            f"{lab.lot_seed}), and that is the die measured; give --die {lab.die}, or "
            f"leave out --station to {verb} simulated die {die}"
        )


def station_die_id(station: Path) -> str | None:
    """The simulated die a virtual-lab station serves, by its id; None for a real die.

    Raises:
        ConfigError: the station file cannot be loaded.
    """
    from mtj_hil.station.files import load_station

    st = load_station(station)
    lab = st.virtual_lab
    return None if lab is None else simulated_die_id(st.profile.name, lab.lot_seed, lab.die)


def refuse_simulated_die(
    recorded: str, on: str | None, station: Path, path: Path, error: type[Exception]
) -> None:
    """Refuse ``path`` (a die-bound network, or a characterisation) made for the simulated
    die ``recorded`` on the station's die, unless that is the same simulated die (``on``, a
    virtual lab's). What a station's die was labelled cannot be checked and is taken.

    Raises:
        ``error``: naming the file, both dies and what to do.
    """
    if not recorded.startswith(SIMULATED_PREFIX) or recorded == on:
        return
    where = f"the die {on} that {station} serves" if on else f"the die on {station}"
    raise error(
        f"{path} is of the simulated die {recorded}, not {where}: give the network and "
        "characterisation of the die the station measures, or leave out --station to use "
        "the simulated die"
    )


def station_target(station: Path) -> str:
    """The id a network trained on a station's die records: the simulated die a virtual lab
    serves, else the station file by its full path (a real die has no id the tool knows)."""
    return station_die_id(station) or f"station:{Path(station).resolve()}"
