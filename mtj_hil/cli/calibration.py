"""``mtj-hil calibrate`` and ``mtj-hil calibration show|list``: measure, record and inspect
read-path calibrations of a station.

:func:`calibrate_chip` runs every procedure of :mod:`mtj_hil.calibration.procedures` on an opened
station in order (SMU offset, SMU gain and series resistance, converters, defect thresholds)
and returns the record; :func:`calibrate_station` also writes it. A failing procedure raises
before anything is written, so the previous calibration stays in force.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import click
import numpy as np
from rich.markup import escape
from rich.text import Text

from mtj_hil.calibration.correction import ReadPathCorrection
from mtj_hil.calibration.errors import CalibrationError, RecordFileError
from mtj_hil.calibration.procedures import (
    PROCEDURE_VERSION,
    calibrate_converters,
    derive_die_thresholds,
    measure_smu_gain,
    measure_smu_offset,
)
from mtj_hil.calibration.record_files import (
    FUTURE_SKEW,
    list_records,
    read_record,
    write_record,
)
from mtj_hil.calibration.records import CalibrationRecord
from mtj_hil.cli.common import GivenPath
from mtj_hil.cli.labels import checked_label
from mtj_hil.cli.tables import make_console, print_table
from mtj_hil.errors import ConfigError, StoreError, command_line
from mtj_hil.protocols.chip import check_write_pulse
from mtj_hil.protocols.errors import InvalidRequest
from mtj_hil.sim.die import simulated_die_id
from mtj_hil.station.chip import InstrumentChip
from mtj_hil.station.config import Station
from mtj_hil.station.files import load_station

__all__ = ["calibrate", "calibrate_chip", "calibrate_station", "calibration"]

console = make_console(stderr=True)


class CalibrationFailed(click.ClickException):
    """A calibration error as a one-line CLI failure (exit code 8)."""

    exit_code = 8


def check_die_label(
    die_id: str | None,
    thresholds: bool,
    threshold_arrays: tuple[int, ...] | None = None,
    station: Path | None = None,
) -> None:
    """Refuse a die label without the threshold measurement it labels (it would be
    recorded nowhere): thresholds off, or the station's ``[calibration] threshold_arrays``
    (when given) empty.

    Raises:
        ConfigError: naming --die-id, its value, and --no-thresholds or the station file's
            ``threshold_arrays``.
    """
    if die_id is None:
        return
    if not die_id.strip():  # thresholds recorded against die "" match no die
        raise ConfigError(f"--die-id {die_id!r} names no die; give the mounted die's label")
    if not thresholds:
        raise ConfigError(
            f"--die-id {die_id} labels the die's defect thresholds, which --no-thresholds "
            "skips: the label would be recorded nowhere (drop one of them)"
        )
    if threshold_arrays is not None and not threshold_arrays:
        where = f"{station}'s" if station is not None else "the station's"
        raise ConfigError(
            f"--die-id {die_id} labels the die's defect thresholds, but {where} [calibration] "
            "threshold_arrays = [] measures none: the label would be recorded nowhere (drop "
            "--die-id, or list the arrays to measure in threshold_arrays)"
        )


def check_calibration_setup(station: Station) -> None:
    """Refuse, before any instrument is opened, a station file that cannot be calibrated:
    no ``[calibration]`` section, no SMU with role ``sense``, or fewer than two
    ``[calibration.references]`` (the SMU gain and series resistance are a straight line
    through them). Such a station still measures (applying records made elsewhere).

    Raises:
        ConfigError: naming the station file, the key and what calibrate needs.
    """
    settings = station.calibration
    if settings is None:
        raise ConfigError(f"{station.path}: has no [calibration] section")
    if not any(smu.role == "sense" for smu in station.smus):
        raise ConfigError(f"{station.path}: calibration needs an [smu.*] with role = 'sense'")
    refs = settings.references
    if len(refs) < 2:
        named = f" ({refs[0].name})" if refs else ""
        raise ConfigError(
            f"{station.path}: calibration.references lists {len(refs)} reference "
            f"resistor{'' if len(refs) == 1 else 's'}{named}; calibrate needs at least two "
            "(the SMU gain and series resistance are fitted through them): add "
            "[calibration.references.<name>] entries for the board's other references"
        )


def calibrate_chip(
    chip: InstrumentChip,
    *,
    die_id: str | None = None,
    thresholds: bool = True,
    now: datetime | None = None,
) -> CalibrationRecord:
    """Run the station's calibration procedures on an opened station; return the record.

    The chip's reads are raw while the read path is calibrated; afterwards the new
    correction is applied to the chip (also for the threshold measurement).

    Raises:
        ConfigError: the station has no ``[calibration]`` section, or no sense SMU, or
            (with ``thresholds``) its envelope refuses the die's nominal write pulse, or
            ``die_id`` given with ``thresholds`` off or no ``threshold_arrays``
            (:func:`check_die_label`).
        CalibrationError: a procedure failed (the message names the part).
    """
    check_die_label(die_id, thresholds)
    station = chip.station
    check_calibration_setup(station)
    settings = station.calibration
    assert settings is not None  # (checked above)
    check_die_label(die_id, thresholds, settings.threshold_arrays, station.path)
    smu = chip.smus.get("sense")
    if smu is None:
        raise ConfigError(f"{station.path}: calibration needs an [smu.*] with role = 'sense'")
    controller = chip.controller
    env = chip.envelope
    if thresholds and settings.threshold_arrays:
        try:  # the thresholds write at the nominal pulse: refuse now, not after the read path
            check_write_pulse(chip.layout, None)
        except InvalidRequest as exc:
            raise ConfigError(
                f"{station.path}: the defect thresholds cannot be measured: "
                f"{str(exc).removesuffix('; nothing applied')}; calibrate "
                "the read path alone with --no-thresholds, or allow the pulse in [safety]"
            ) from None
    chip.correction = None
    chip.calibration = {"applied": None, "calibrating": True}
    try:
        offset = measure_smu_offset(controller, smu)
        smu_cal = measure_smu_gain(
            controller,
            smu,
            settings.references,
            offset,
            max_voltage=env.max_read_voltage,
            envelope=env,
        )
        conv = calibrate_converters(
            controller,
            smu,
            smu_cal,
            array=settings.array,
            rows=settings.rows,
            voltages=settings.voltages,
            full_scale=settings.full_scale,
            envelope=env,
        )
    finally:
        chip.forget_board_state()
        smu.source_voltage = 0.0
    chip.verify_instruments()  # nothing is recorded from an SMU that lost its state
    record = CalibrationRecord(
        station=station.name,
        created=now or datetime.now(UTC),
        instruments=dict(chip.parts),
        procedure_version=PROCEDURE_VERSION,
        smu=smu_cal,
        converter=conv,
    )
    chip.correction = ReadPathCorrection.from_record(record)
    if thresholds and settings.threshold_arrays:
        if die_id is None:
            lab = station.virtual_lab
            die_id = simulated_die_id(station.profile.name, lab.lot_seed, lab.die) if lab else "?"
        thr = derive_die_thresholds(chip, settings.threshold_arrays, die_id=die_id)
        chip.verify_instruments()
        record = replace(record, thresholds=thr)
    chip.calibration = {"applied": record.summary(), "valid": True, "problems": []}
    return record


def calibrate_station(
    chip: InstrumentChip, *, die_id: str | None = None, thresholds: bool = True
) -> CalibrationRecord:
    """:func:`calibrate_chip`, then write the record to the station's calibration folder."""
    record = calibrate_chip(chip, die_id=die_id, thresholds=thresholds)
    assert chip.station.calibration is not None
    try:
        write_record(record, chip.station.calibration.directory)
    except KeyboardInterrupt:  # a stop during the write: it waited for the record to be whole
        if record.path is not None:
            console.print(
                escape(f"the calibration record {record.path} was written before the stop"),
                soft_wrap=True,
            )
        raise
    return record


def _directory(station: Station) -> Path:
    if station.calibration is None:
        raise ConfigError(f"{station.path}: has no [calibration] section (calibration.dir)")
    return station.calibration.directory


@click.command(short_help="Calibrate a station's SMU, connectors and converters.")
@click.option(
    "--station",
    "station_file",
    type=GivenPath(dir_okay=False, path_type=Path),
    required=True,
    help="Station file (TOML) with a [calibration] section.",
)
@click.option(
    "--die-id",
    default=None,
    callback=checked_label,
    help="Label of the mounted die (its defect thresholds are recorded against it; not "
    "with --no-thresholds).",
)
@click.option(
    "--no-thresholds",
    is_flag=True,
    help="Skip the defect-threshold measurement (read path only; about 1 s per array).",
)
def calibrate(station_file: Path, die_id: str | None, no_thresholds: bool) -> None:
    """Calibrate a station: SMU offset (A) and gain against the reference resistors (ohm),
    connector series resistance (ohm), every converter line's gain and offset (A), and the
    mounted die's defect thresholds (S). Writes a new record; later measurements on the
    station apply it automatically. On failure nothing is written and the previous
    calibration stays in force."""
    from mtj_hil.fileio.atomic import error_text
    from mtj_hil.fileio.writable import probe_folder
    from mtj_hil.station.connect import open_station

    try:
        check_die_label(die_id, not no_thresholds)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    station = load_station(station_file)
    arrays = station.calibration.threshold_arrays if station.calibration else None
    try:
        check_die_label(die_id, not no_thresholds, arrays, station.path)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    measures_thresholds = not no_thresholds and arrays != ()
    if station.virtual_lab is None and die_id is None and measures_thresholds:
        raise click.UsageError("--die-id is required on a real station (or --no-thresholds)")
    check_calibration_setup(station)  # before any instrument is opened
    folder = station.calibration.directory if station.calibration else None
    try:  # before the measurement, not after it: the record could not be written
        if folder is not None:
            probe_folder(folder)
    except OSError as exc:
        raise StoreError(
            f"{station.path}: calibration.dir {folder} cannot be made or written: "
            f"{error_text(exc)}; nothing was measured"
        ) from exc
    try:
        with open_station(station, apply_calibration=False) as chip:
            record = calibrate_station(chip, die_id=die_id, thresholds=not no_thresholds)
    except CalibrationError as exc:
        if isinstance(exc, StoreError):
            raise  # the record could not be written (a full disk): a file problem, exit 4
        raise CalibrationFailed(str(exc)) from exc
    print_record(record)
    console.print(escape(f"written: {record.path}"), soft_wrap=True)


@click.group(short_help="Inspect a station's calibration records.")
def calibration() -> None:
    """Inspect a station's calibration records."""


@calibration.command("list", short_help="List a station's calibration records, newest last.")
@click.option(
    "--station",
    "station_file",
    type=GivenPath(dir_okay=False, path_type=Path),
    required=True,
    help="Station file (TOML) naming the calibration folder.",
)
def list_command(station_file: Path) -> None:
    """List the station's calibration records, newest last, with their age (days)."""
    station = load_station(station_file)
    records = list_records(_directory(station), station.name)
    now = datetime.now(UTC)
    validity = station.calibration_validity_days
    rows = []
    for r in records:
        age = r.age(now).total_seconds() / 86400
        rows.append(
            (
                r.id,
                r.created.strftime("%Y-%m-%d %H:%M:%S"),
                f"{age:.2f}" + _age_note(age, validity),
                ", ".join(r.summary()["parts"]),
                "; ".join(f"{k} {v.get('serial', '')}" for k, v in sorted(r.instruments.items())),
            )
        )
    print_table(
        make_console(),
        ("id", "created (UTC)", "age / d", "parts", "instruments"),
        rows,
        f"calibrations of {station.name} ({_directory(station)})",
        wrap=(3, 4),
    )
    if not records:
        again = command_line("calibrate", "--station", station_file)
        console.print(escape(f"no calibration records; make one with: {again}"), soft_wrap=True)


@calibration.command("show", short_help="Show one calibration record.")
@click.argument("record", required=False)
@click.option(
    "--station",
    "station_file",
    type=GivenPath(dir_okay=False, path_type=Path),
    default=None,
    help="Station file: show its newest record (or RECORD by id).",
)
def show_command(record: str | None, station_file: Path | None) -> None:
    """Show one calibration record: a file path, an id (with --station), or the station's
    newest record."""
    if record is not None and not record.strip():
        raise click.UsageError(
            "RECORD is empty: give a record file or id, or leave it out (with --station) for "
            "the newest record"
        )
    try:
        if record is not None and Path(record).is_file():
            rec = read_record(record)
        else:
            if station_file is None and record is not None:
                raise CalibrationError(
                    f"no calibration record file {record} (not a file); give a record "
                    "file, or a record id with --station FILE"
                )
            if station_file is None:
                raise click.UsageError("give a record file, or --station [ID]")
            station = load_station(station_file)
            records = list_records(_directory(station), station.name)
            if record is not None:
                records = [r for r in records if r.id == record]
            if not records:
                raise CalibrationError(
                    f"no calibration record {record or ''} for station {station.name!r}".replace(
                        "  ", " "
                    )
                )
            rec = records[-1]
    except RecordFileError:
        raise  # a malformed file: a configuration error (exit 3)
    except CalibrationError as exc:
        raise CalibrationFailed(str(exc)) from exc
    print_record(rec)


def print_record(r: CalibrationRecord) -> None:
    out = make_console()
    out.print(
        Text.assemble((r.id, "bold"), f"  station {r.station}, made {r.created.isoformat()}"),
        soft_wrap=True,
    )
    out.print(escape(f"procedure version {r.procedure_version}; file {r.path}"), soft_wrap=True)
    for part, ident in sorted(r.instruments.items()):
        out.print(escape(f"  {part}: {ident.get('idn', '')}"), soft_wrap=True)
    if r.smu is not None:
        s = r.smu
        out.print(
            escape(
                f"SMU offset {s.offset}; gain {s.gain}; series resistance {s.series_resistance}"
            ),
            soft_wrap=True,
        )
        for ref in s.references:
            out.print(
                escape(
                    f"  reference {ref.name}: listed {ref.listed_ohms:g} ohm +/- "
                    f"{100 * ref.tolerance:g} %, reads {ref.apparent_ohms:.6g} ohm, fit residual "
                    f"{100 * ref.residual:+.4f} %"
                )
            )
    if r.converter is not None:
        c = r.converter
        out.print(
            escape(
                f"converters (range {c.full_scale:g} A, array {c.array}, {c.points} points/line): "
                f"gain {c.gain.min():.4f}..{c.gain.max():.4f} (+/- "
                f"{np.median(c.gain_uncertainty):.1e}), offset {c.offset.min():.3g}.."
                f"{c.offset.max():.3g} A (+/- {np.median(c.offset_uncertainty):.1e} A)"
            )
        )
    if r.thresholds is not None:
        t = r.thresholds.thresholds
        out.print(
            escape(
                f"defect thresholds (die {r.thresholds.die_id}, arrays {list(r.thresholds.arrays)}): "
                f"state {t.state_g:.4g} S, short {t.short_g:.4g} S, open {t.open_g:.4g} S"
            )
        )
        out.print(escape(f"  how: {t.method}"), soft_wrap=True)


def _age_note(age_days: float, validity_days: float) -> str:
    """`` (stale)`` past the station's validity, `` (future)`` dated ahead of the clock."""
    if age_days > validity_days:
        return " (stale)"
    if age_days < -FUTURE_SKEW.total_seconds() / 86400:
        return " (future)"
    return ""
