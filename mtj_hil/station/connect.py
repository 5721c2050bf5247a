"""Opening a station: its virtual lab (when it asks for one), the InstrumentChip on its
instruments, and the newest valid calibration record applied to every read.

Calibration: :func:`open_station` applies the newest valid calibration record of the station
(``calibration`` package): the converters' per-line gain and offset on the ``adc`` path, the
SMU's gain and offset and the connector's series resistance on the ``smu`` path.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from mtj_hil.calibration.correction import ReadPathCorrection
from mtj_hil.calibration.errors import CalibrationWarning
from mtj_hil.calibration.record_files import select_record
from mtj_hil.errors import ConfigError, UnsafeShutdownWarning, tell_user
from mtj_hil.instruments.bus.signals import HeldInterrupt
from mtj_hil.instruments.smu import SourceMeter
from mtj_hil.sim.lab.board_info import VIRTUAL_BOARD_MODEL
from mtj_hil.station.bench_lock import hold_bench
from mtj_hil.station.chip import InstrumentChip
from mtj_hil.station.config import VIRTUAL, SmuConfig, Station
from mtj_hil.station.files import load_station
from mtj_hil.station.shutdown import shut_down
from mtj_hil.station.smu import check_visa_library, make_smu, open_controller

__all__ = [
    "apply_newest_calibration",
    "calibrated_thresholds",
    "open_station",
    "start_virtual_lab",
    "station_virtual_lab",
]
from mtj_hil.protocols.defects.detect import Thresholds

log = logging.getLogger(__name__)


def station_virtual_lab(
    station: Station,
    *,
    smu_dialect: str,
    smu_start: str,
    smu_channel: str | None,
    imperfections: Any = None,
) -> Any:
    """The (not yet started) virtual lab serving the die of a station's ``[virtual_lab]``
    section, with the station's mains frequency and P polarity, its SMU speaking
    ``smu_dialect`` from ``smu_start`` on channel ``smu_channel``.

    Raises:
        ValueError: an unknown dialect, start state or channel.
    """
    from mtj_hil.sim.lab.lab import VirtualLab

    cfg = station.virtual_lab
    assert cfg is not None, "the station has no [virtual_lab] section"
    return VirtualLab(
        station.profile,
        cfg.lot_seed,
        cfg.die,
        smu_latency=cfg.smu_latency,
        pace=cfg.pace,
        line_frequency=station.line_frequency,
        p_polarity=station.p_polarity,
        imperfections=imperfections,
        smu_dialect=smu_dialect,
        smu_start=smu_start,
        smu_channel=smu_channel,
        board_firmware=cfg.board_firmware,
    )


def bench_addresses(station: Station) -> list[str]:
    """The instrument addresses a station talks to (the board's URL, each SMU's resource),
    which :func:`~mtj_hil.station.bench_lock.hold_bench` locks while it is open."""
    return [station.controller.url, *(s.resource for s in station.smus)]


def start_virtual_lab(
    station: Station, stack: contextlib.ExitStack, lab_imperfections: Any = None
) -> tuple[Any, str, dict[str, str]]:
    """Start the in-process virtual lab a station's ``"virtual"`` addresses ask for (stopped
    when ``stack`` closes); return it (or ``None``), the controller URL and the SMU
    resources by SMU name, with virtual addresses filled in."""
    url = station.controller.url
    resources = {s.name: s.resource for s in station.smus}
    lab = None
    if station.virtual_lab is not None and (url == VIRTUAL or VIRTUAL in resources.values()):
        cfg = station.virtual_lab
        virtual = [s for s in station.smus if s.resource == VIRTUAL]
        wired = station.smu("sense") if station.smu("sense") in virtual else None
        wired = wired or (virtual[0] if virtual else None)
        lab = stack.enter_context(
            station_virtual_lab(
                station,
                smu_dialect=wired.driver if wired else "keithley2400",
                smu_start=cfg.smu_start,
                smu_channel=wired.channel if wired else None,
                imperfections=lab_imperfections,
            )
        )
        url = lab.controller_url if url == VIRTUAL else url
        for smu_cfg in virtual:
            # Channels of the wired multi-channel SMU share its instrument.
            same = wired is not None and smu_cfg.driver == wired.driver
            shared = same and smu_cfg.driver in ("keithley2600", "keysight_b2900")
            if smu_cfg is wired or shared:
                resources[smu_cfg.name] = lab.smu_resource
            else:
                resources[smu_cfg.name] = lab.add_smu(smu_cfg.name, smu_cfg.driver)
    return lab, url, resources


def board_time_scale(station: Station, lab: Any, url: str) -> float:
    """Wall seconds per second of the board's own time: the ``[virtual_lab] pace`` (at
    least 1) when ``url`` is the board of the in-process virtual ``lab``, which waits that
    long per modelled second; 1 for any other board. The board's reply timeouts, computed
    for a board in real time, are stretched by it (``pace = 10`` timed out mid-run)."""
    return _pace(station, lab is not None and url == lab.controller_url)


def smu_time_scale(station: Station, lab: Any, config: SmuConfig) -> float:
    """The same for an SMU entry: the pace (at least 1) when the in-process virtual ``lab``
    serves it (resource ``"virtual"``), else 1. Its timeouts are stretched by it: at
    ``pace = 10`` a 60-point sweep (1 s of the SMU's time) timed out, and the shutdown after
    it could not confirm the output off."""
    return _pace(station, lab is not None and config.resource == VIRTUAL)


def _pace(station: Station, served: bool) -> float:
    """The ``[virtual_lab] pace``, at least 1, for an instrument the in-process lab
    ``served``; 1 otherwise."""
    if not served or station.virtual_lab is None:
        return 1.0
    return max(1.0, station.virtual_lab.pace)


@contextlib.contextmanager
def open_station(
    station: Station | str | Path,
    *,
    strict: bool = False,
    apply_calibration: bool = True,
    lab_imperfections: Any = None,
    sleep: Callable[[float], None] | None = None,
) -> Iterator[InstrumentChip]:
    """Open every instrument of a station and yield its die as an :class:`InstrumentChip`.

    A station whose addresses are ``"virtual"`` gets an in-process virtual lab serving the
    die its ``[virtual_lab]`` section names (with ``lab_imperfections``, default: the lab's
    own defaults); it is stopped on exit. Outputs are off and ports closed on every exit;
    an exit that cannot confirm the bench safe (the board does not answer its reset, an SMU
    output is not read back off) raises :class:`UnsafeShutdown` saying what was and was not
    confirmed and what to check by hand (see :meth:`InstrumentChip.__exit__`).

    With ``apply_calibration`` (and a ``[calibration]`` section), the newest valid record of
    the station is applied to every read (:func:`apply_newest_calibration`); a stale record,
    one from other instruments, or none at all gives a :class:`CalibrationWarning`, or with
    ``strict`` a :class:`~mtj_hil.calibration.errors.CalibrationError` (the station is closed again).

    ``sleep(s)`` waits out the host-side waits (ramp dwells) of SMUs that are not on the
    station's own virtual lab (default :func:`time.sleep`): a test serving the instruments
    from a virtual lab of its own books them on that lab's clock.

    Raises:
        ConfigError: invalid station file (before anything is opened).
        InstrumentError: an instrument cannot be reached or identified.
        CalibrationError: with ``strict``, no valid calibration.
        UnsafeShutdown: on exit, the bench was not confirmed safe.
    """
    if not isinstance(station, Station):
        station = load_station(station)
    check_visa_library(station)  # a station-file error, found before any instrument
    with contextlib.ExitStack() as stack:
        stack.enter_context(hold_bench(bench_addresses(station)))  # before any instrument
        lab, url, resources = start_virtual_lab(station, stack, lab_imperfections)
        controller = open_controller(station.controller, url, board_time_scale(station, lab, url))
        if lab is not None and url == lab.controller_url:
            # the virtual board's watchdog runs on the lab's modelled clock: idle time too
            controller.link_clock = lambda: lab.clock.now
        smus: dict[str, SourceMeter] = {}
        shared: dict[tuple[str, str], Any] = {}
        identities: dict[str, str] = {}
        try:
            refuse_real_board_as_virtual(station, controller)
            for cfg in station.smus:
                # a virtual SMU's host-side waits (ramp dwells) are modelled lab time too
                on_lab = lab is not None and cfg.resource == VIRTUAL
                smus[cfg.role] = make_smu(
                    cfg,
                    resources[cfg.name],
                    station,
                    shared=shared,
                    identities=identities,
                    sleep=lab.clock.advance if on_lab else (sleep or time.sleep),
                    time_scale=smu_time_scale(station, lab, cfg),
                )
            chip = InstrumentChip(controller, station, smus)
        except BaseException as exc:
            _close_unopened(controller, smus, exc)
            raise
        chip.lab = lab  # type: ignore[attr-defined]
        stack.push(chip.__exit__)  # closes; says (raises) when the bench is not confirmed safe
        if apply_calibration:
            apply_newest_calibration(chip, strict=strict)
        yield chip


def refuse_real_board_as_virtual(station: Station, controller: Any) -> None:
    """Refuse a station with real addresses whose ``[virtual_lab]`` section names a
    simulated die while its board is not a virtual one (``IDN model``): runs would be
    labelled as that simulated die (and need no ``--die-id``) though a real die is measured.

    Raises:
        ConfigError: naming the file, the section and the board.
    """
    ident = getattr(controller, "identity", None)
    lab = station.virtual_lab
    if lab is None or station.picks_its_die or ident is None:
        return
    if ident.model != VIRTUAL_BOARD_MODEL:
        raise ConfigError(
            f"{station.path or '<station>'}: [virtual_lab] names simulated die {lab.die} of lot "
            f"{lab.lot_seed}, but the board at {station.controller.url} is a {ident.model} (sn "
            f"{ident.serial}), not a virtual lab: its runs would be labelled as that simulated "
            "die; remove [virtual_lab] from the station file and label the die with --die-id"
        )


def _close_unopened(controller: Any, smus: dict[str, SourceMeter], exc: BaseException) -> None:
    """Opening failed (``exc``): shut down what was opened, every step tried; when the bench
    is not confirmed safe the operator is told (and ``exc`` carries it as a note)."""
    hold = HeldInterrupt()
    report = shut_down(controller, smus, hold)
    if not report.safe:
        text = report.message()
        tell_user(log, text, UnsafeShutdownWarning)
        exc.add_note(text)
    hold.release()


def apply_newest_calibration(chip: InstrumentChip, *, strict: bool = False) -> None:
    """Apply the newest valid calibration record of the chip's station to its reads.

    Sets ``chip.correction`` and ``chip.calibration`` (provenance: the record's summary,
    whether it is valid, and any problems). Does nothing for a station without a
    ``[calibration]`` section.

    Raises:
        CalibrationError: with ``strict``, when the newest record is stale, from other
            instruments, or missing.
    """
    settings = chip.station.calibration
    if settings is None:
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CalibrationWarning)
        selection = select_record(
            settings.directory,
            chip.station.name,
            chip.parts,
            timedelta(days=chip.station.calibration_validity_days),
            strict=strict,
            lines=chip.layout.cols,
            station_file=chip.station.path,
        )
    for w in caught:  # once on the terminal, and in a run's timeline when one records
        tell_user(log, str(w.message), w.category)
    record = selection.record
    chip.calibration_record = record
    chip.correction = None if record is None else ReadPathCorrection.from_record(record)
    chip.calibration = {
        "applied": None if record is None else record.summary(),
        "valid": selection.valid,
        "problems": list(selection.problems),
    }


def calibrated_thresholds(chip: InstrumentChip, die_id: str) -> Thresholds | None:
    """Defect thresholds the chip's calibration measured on die ``die_id``, if any."""
    record = chip.calibration_record
    if record is None or record.thresholds is None or record.thresholds.die_id != die_id:
        return None
    return record.thresholds.thresholds
