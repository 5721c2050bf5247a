"""The die a measurement runs on: a simulated one or a station's, opened afresh for every
measurement (as the ``mtj-hil`` commands do)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mtj_hil.errors import ConfigError
from mtj_hil.protocols.plan_values import is_whole
from mtj_hil.sim.die import simulated_die_id

if TYPE_CHECKING:
    from mtj_hil.protocols.chip import Chip
    from mtj_hil.sim.profile import DeviceProfile
    from mtj_hil.station.config import Station


@dataclass(frozen=True)
class Die:
    """A die to measure: die ``index`` of a simulated lot (``profile``, ``lot_seed``), or
    the die on a ``station``. ``die_id`` is the label run files record.

    Use :func:`simulated_die` or :func:`station_die` to make one; :meth:`open` gives its
    :class:`~mtj_hil.protocols.chip.Chip` for the procedures of :mod:`mtj_hil.protocols`.
    """

    die_id: str
    seed: int | None = None
    profile: DeviceProfile | None = None
    index: int = 0
    station: Station | None = None

    @contextmanager
    def open(self) -> Iterator[Chip]:
        """The die's chip, closed after the block: the simulated die (in its as-made state)
        or the station's instruments (outputs off and ports closed on every exit).

        Raises:
            InstrumentError: a station instrument cannot be reached or identified.
        """
        if self.station is None:
            from mtj_hil.sim.chip import SimulatedChip

            assert self.profile is not None and self.seed is not None
            with SimulatedChip.from_lot(self.profile, self.seed, self.index) as chip:
                yield chip
            return
        from mtj_hil.station.connect import open_station

        with open_station(self.station) as chip:
            yield chip


def simulated_die(die: int = 0, *, profile: str | Path = "1t1r-20k", lot_seed: int = 0) -> Die:
    """Die ``die`` of simulated lot ``lot_seed`` of ``profile`` (a shipped profile name, see
    ``mtj-hil profiles``, or a profile TOML file): the same die as ``mtj-hil characterize
    --profile PROFILE --lot-seed LOT_SEED --die DIE``.

    Raises:
        ConfigError: the profile does not load, or ``die`` or ``lot_seed`` is not a whole
            number >= 0 (a seed of 3.7 made die 3 and labelled it die 3.7).
    """
    from mtj_hil.sim.profile import load_profile

    _check_index("die", die)
    _check_index("lot_seed", lot_seed)
    prof = load_profile(str(profile))
    return Die(simulated_die_id(prof.name, lot_seed, die), seed=lot_seed, profile=prof, index=die)


def _check_index(name: str, value: object) -> None:
    """Refuse a die index or lot seed that is not a whole number >= 0.

    Raises:
        ConfigError: naming ``name`` and the value."""
    if not is_whole(value) or value < 0:  # type: ignore[operator]
        raise ConfigError(f"{name} must be a whole number >= 0, got {value!r}")


def station_die(path: str | Path, *, die: int | None = None, die_id: str | None = None) -> Die:
    """The die on the station described by the station file ``path`` (TOML). A virtual-lab
    station serves die ``die`` of its simulated lot (default: the station's own); a real
    bench needs the die's label ``die_id`` (e.g. ``"W3-D17"``).

    Raises:
        ConfigError: the station file does not load, ``die`` on a real bench or on a lab
            served elsewhere (controller not at ``"virtual"``), or a real bench without
            ``die_id``.
    """
    from mtj_hil.station.files import load_station, with_virtual_die

    st = load_station(path)
    if st.virtual_lab is None:
        if die is not None:
            raise ConfigError(f"{path}: a real bench; label its die with die_id, not die")
        if die_id is None:
            raise ConfigError(f"{path}: a real bench; name the die on it with die_id=")
        return Die(die_id, station=st)
    if die is not None and not st.picks_its_die:
        raise ConfigError(
            f"{path}: the controller is at {st.controller.url}, so the die is the one served "
            "there; die= picks a die only when the controller url is 'virtual'"
        )
    if die is not None:
        _check_index("die", die)
        st = with_virtual_die(st, die)
    lab = st.virtual_lab
    label = die_id or simulated_die_id(st.profile.name, lab.lot_seed, lab.die)
    return Die(label, station=st, index=lab.die)
