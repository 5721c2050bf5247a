"""Check a station before a run: what the computer sees, and what each instrument says.

:func:`check_station` lists the visible VISA resources and serial ports, then opens every
instrument of the station file exactly as a run would (:mod:`mtj_hil.station.smu`): the
controller board is identified and reset; each SMU is identified against its driver, taken
through its known-state sequence (every setting read back, error queue drained) and shut
down. Every channel of every SMU, the ones the station does not use included, is read as
found (output, source function and level), made safe and verified off; live outputs are
listed first. No output is ever switched on. Each instrument gets one
:class:`InstrumentCheck`.

A Ctrl-C (or stop signal) is held like the station's exit holds it
(:class:`~mtj_hil.instruments.bus.signals.HeldInterrupt`, as in
:func:`mtj_hil.station.shutdown.shut_down`): the step it lands in is abandoned, the board's
port is still closed and every SMU of the station is still opened and shut down (output off,
read back; the SMUs after it without their check), and only then is the interrupt raised.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field
from typing import Any

from mtj_hil.errors import ConfigError
from mtj_hil.instruments.bus.signals import HeldInterrupt
from mtj_hil.instruments.errors import InstrumentError
from mtj_hil.instruments.smu.health import ChannelFound
from mtj_hil.station.bench_lock import BenchInUse, hold_bench
from mtj_hil.station.config import Station
from mtj_hil.station.connect import (
    bench_addresses,
    board_time_scale,
    smu_time_scale,
    start_virtual_lab,
)
from mtj_hil.station.smu import check_visa_library, make_smu, open_controller, smu_settings

__all__ = ["InstrumentCheck", "StationCheck", "check_station", "serial_ports", "visa_resources"]


@dataclass
class InstrumentCheck:
    """One instrument's outcome: ``ok``, or what went wrong, with detail lines."""

    key: str
    address: str
    ok: bool = False
    outcome: str = ""
    identity: str = ""
    details: list[str] = field(default_factory=list)
    #: every channel of the instrument as found on open, used or not
    channels: list[ChannelFound] = field(default_factory=list)

    @property
    def live(self) -> list[ChannelFound]:
        """Channels found with their output on."""
        return [c for c in self.channels if c.live]


@dataclass
class StationCheck:
    """Everything ``mtj-hil station check`` reports."""

    visa: list[str] | str
    ports: list[str]
    instruments: list[InstrumentCheck]

    @property
    def ok(self) -> bool:
        return all(i.ok for i in self.instruments)

    @property
    def live(self) -> list[tuple[InstrumentCheck, ChannelFound]]:
        """Every channel found with its output on, with its instrument."""
        return [(i, c) for i in self.instruments for c in i.live]


def visa_resources(visa_library: str) -> list[str] | str:
    """VISA resources the library can see, or the reason it cannot list them."""
    import pyvisa

    try:
        manager = pyvisa.ResourceManager(visa_library)
        with warnings.catch_warnings():  # pyvisa-py warns about optional discovery packages
            warnings.simplefilter("ignore")
            return sorted(manager.list_resources("?*"))
    except Exception as exc:  # noqa: BLE001 - listing is informative only
        return f"cannot list VISA resources with {visa_library!r}: {exc}"


def serial_ports() -> list[str]:
    """Serial ports of this computer (device and description), stable names first."""
    from serial.tools import list_ports

    return [f"{p.device} ({p.description})" for p in list_ports.comports()]


INTERRUPTED = "interrupted (Ctrl-C)"


def _check_controller(
    station: Station, url: str, hold: HeldInterrupt, time_scale: float = 1.0
) -> InstrumentCheck:
    check = InstrumentCheck("controller", url, outcome=INTERRUPTED)
    controller = None
    try:
        with hold:
            controller = open_controller(station.controller, url, time_scale)
    except InstrumentError as exc:
        check.outcome = f"unreachable: {exc}"
    if controller is None:
        return check
    try:
        with hold:
            _identify_and_reset(station, controller, check)
    finally:
        with hold, contextlib.suppress(Exception):
            controller.close()
    return check


def _identify_and_reset(station: Station, controller: Any, check: InstrumentCheck) -> None:
    try:
        ident = controller.identity
        assert ident is not None
        check.identity = (
            f"{ident.model} sn {ident.serial} fw {ident.firmware}, {ident.die} die "
            f"{ident.arrays} x {ident.rows} x {ident.cols}"
        )
        geo = station.profile.geometry
        if (ident.arrays, ident.rows, ident.cols) != (geo.n_arrays, geo.rows, geo.cols):
            check.outcome = f"die differs from die.profile {station.profile.name!r}"
        else:
            controller.reset()
            check.ok, check.outcome = True, "identified, reset (routes off)"
    except InstrumentError as exc:
        check.outcome = f"failed: {exc}"


def _check_smu(
    station: Station,
    cfg: Any,
    resource: str,
    hold: HeldInterrupt,
    identities: dict[str, str] | None = None,
    time_scale: float = 1.0,
) -> InstrumentCheck:
    """Open, verify and shut down one SMU. Once ``hold`` keeps a Ctrl-C, the SMU is only
    opened and shut down (its output off and read back), not checked. ``identities``:
    the ``*IDN?`` answers of the entries opened before (one instrument under two
    addresses is refused, see :func:`~mtj_hil.station.smu.make_smu`); ``time_scale``: see
    :func:`~mtj_hil.station.connect.smu_time_scale`."""
    check = InstrumentCheck(f"smu.{cfg.name}", resource, outcome=INTERRUPTED)
    smu = None
    try:
        with hold:
            smu = make_smu(cfg, resource, station, identities=identities, time_scale=time_scale)
    except ConfigError as exc:
        check.outcome = f"wrong instrument or setting: {exc}"
    except InstrumentError as exc:
        check.outcome = f"unreachable: {exc}"
    if smu is None:
        return check
    try:
        if hold.interrupt is None:
            with hold:
                _verify_smu(station, cfg, smu, check)
    finally:
        confirmed = False
        with hold:
            confirmed = bool(smu.shutdown())
        if not confirmed and not getattr(smu, "off_confirmed", False):
            check.ok = False
            check.details.append("shutdown: output-off not confirmed")
        elif hold.interrupt is not None and not check.ok:
            check.details.append("shutdown: output off confirmed")
    return check


def _verify_smu(station: Station, cfg: Any, smu: Any, check: InstrumentCheck) -> None:
    try:
        check.identity = smu.idn
        state = smu.configure(smu_settings(station, cfg, station.envelope))
        check.details = [f"{'ok ' if c.ok else 'DIFFERS'} {c.describe()}" for c in state.checks]
        check.details += [f"error queue: {code} {msg}" for code, msg in state.errors]
        if state.stale_errors:
            check.details.append(f"stale errors cleared on open: {list(state.stale_errors)}")
        check.channels = _found_channels(smu)
        if any(c.secured is False for c in check.channels):
            check.details.append("a channel found live was NOT confirmed off")
        if state.ok and all(c.secured is not False for c in check.channels):
            check.ok = True
            check.outcome = f"known state verified ({len(state.checks)} settings)"
        else:
            check.outcome = "known state NOT reached: " + "; ".join(state.problems())
    except InstrumentError as exc:
        check.outcome = f"refused: {exc}"


def _found_channels(smu: Any) -> list[ChannelFound]:
    """Every channel of ``smu``'s instrument as its open found it (the unit's for a channel
    of a multi-channel SMU, else the one channel)."""
    unit = getattr(smu, "parent", None)
    found = getattr(unit, "found", None)
    if isinstance(found, dict) and found:
        return [found[k] for k in sorted(found, key=str)]
    return [smu.found] if getattr(smu, "found", None) is not None else []


def check_station(station: Station) -> StationCheck:
    """Look at the bus, then open, verify and close every instrument of ``station``.

    Never raises for an instrument problem (each is reported); never turns an output on.

    Raises:
        ConfigError: the SMUs' VISA library cannot be loaded (before anything is opened).
        KeyboardInterrupt: Ctrl-C (or a stop signal) arrived; raised only once the board's
            port was closed and every SMU was shut down (see the module docstring).
    """
    check_visa_library(station)  # a station-file error: nothing is opened or reset
    visa = visa_resources(station.visa_library)
    ports = serial_ports()
    hold = HeldInterrupt()
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(hold_bench(bench_addresses(station)))
        except BenchInUse as exc:  # a run is measuring: nothing is opened, nothing reset
            text = f"in use, not checked: {exc}"
            checks = [InstrumentCheck("controller", station.controller.url, outcome=text)]
            checks += [
                InstrumentCheck(f"smu.{c.name}", c.resource, outcome=text) for c in station.smus
            ]
            return StationCheck(visa, ports, checks)
        lab, url, resources = start_virtual_lab(station, stack)
        checks = [_check_controller(station, url, hold, board_time_scale(station, lab, url))]
        seen: dict[str, str] = {}
        checks += [
            _check_smu(
                station, cfg, resources[cfg.name], hold, seen, smu_time_scale(station, lab, cfg)
            )
            for cfg in station.smus
        ]
    hold.release()
    return StationCheck(visa, ports, checks)
