"""Calibration record files: TOML on disk, written atomically, read back and validated, and
the choice of the record that applies to a station now."""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from mtj_hil.calibration.errors import (
    CalibrationError,
    CalibrationWarning,
    RecordFileError,
    RecordWriteError,
)
from mtj_hil.calibration.record_checks import check_named_after_id, check_record
from mtj_hil.calibration.records import (
    FORMAT,
    FORMAT_VERSION,
    CalibrationRecord,
    ConverterCalibration,
    Measured,
    ReferenceCheck,
    SmuCalibration,
    ThresholdCalibration,
    identity_mismatches,
)
from mtj_hil.errors import command_line
from mtj_hil.fileio.atomic import atomic_write, error_text, remove_stale_temps
from mtj_hil.instruments.bus.transport import defer_sigint
from mtj_hil.protocols.defects.detect import Thresholds
from mtj_hil.schema import read_toml


def write_record(record: CalibrationRecord, directory: str | Path) -> Path:
    """Store ``record`` as a new TOML file in ``directory`` (created if needed).

    Returns:
        The file's path (also set as ``record.path``).

    The record appears whole or not at all, and stays after a power cut once this returns
    (written aside, flushed, then linked into place: :func:`mtj_hil.fileio.atomic.atomic_write`).
    A stop signal arriving meanwhile is raised once the record is whole (``record.path`` then
    names it).

    Raises:
        CalibrationError: a file of that name exists already (records are never
            overwritten).
        RecordWriteError: the directory or the file cannot be written (naming the cause).
    """
    directory = Path(directory)
    path = directory / f"{record.id}.toml"
    try:
        # a stop signal (Ctrl-C, SIGTERM) waits until the record is whole: the calibration
        # it holds was measured already, and is kept rather than lost to the stop
        with defer_sigint():
            directory.mkdir(parents=True, exist_ok=True)
            remove_stale_temps(directory)
            atomic_write(path, _to_toml(record).encode(), exclusive=True)
            record.path = path
    except FileExistsError as exc:
        raise CalibrationError(f"calibration record {path} exists already") from exc
    except OSError as exc:
        raise RecordWriteError(
            f"cannot write calibration record {path}: {error_text(exc)}"
        ) from exc
    record.path = path
    return path


def read_record(path: str | Path) -> CalibrationRecord:
    """Load one record file, validated by its schema
    (:data:`mtj_hil.calibration.record_schema.RECORD_FILE`).

    Raises:
        RecordFileError: unreadable, binary or not UTF-8, not TOML, not a calibration record,
            a newer format, or an unknown, missing or mistyped key (naming file and key).
    """
    path = Path(path)
    _, data = read_toml(path, "calibration record", RecordFileError)
    if data.get("format") != FORMAT:
        raise RecordFileError(f"{path} is not a calibration record (format {FORMAT!r})")
    version = data.get("format_version", 0)
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise RecordFileError(
            f"{path}: record format {version} is newer than this program's {FORMAT_VERSION}"
        )
    check_record(data, str(path))
    try:
        record = _from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordFileError(f"calibration record {path} is incomplete: {exc!r}") from exc
    record.path = path
    return record


def list_records(directory: str | Path, station: str | None = None) -> list[CalibrationRecord]:
    """Every readable record in ``directory`` (of ``station`` if given), oldest first.

    Unreadable files, and records not named after their id (a renamed copy), are skipped
    with a :class:`CalibrationWarning` naming them.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    out = []
    for path in sorted(directory.glob("*.toml")):
        try:
            record = read_record(path)
            check_named_after_id(record.id, path)
        except CalibrationError as exc:
            warnings.warn(f"skipping {exc}", CalibrationWarning, stacklevel=2)
            continue
        if station is None or record.station == station:
            out.append(record)
    return sorted(out, key=lambda r: (r.created, r.id))


FUTURE_SKEW = timedelta(hours=1)
"""How far in the future a record may be dated (clocks of two machines disagree a little)."""


def _converter_fits(record: CalibrationRecord, lines: int | None) -> bool:
    """Whether the record's converter calibration (if any) has one entry per output line."""
    return lines is None or record.converter is None or len(record.converter.gain) == lines


@dataclass
class Selection:
    """Outcome of :func:`select_record`: the record to apply (or none) and why.

    Attributes:
        record: the record to apply, ``None`` if there is none for the station.
        valid: it is recent enough and from the connected instruments.
        problems: what is wrong with the chosen record, or with newer ones that were
            passed over (each names the record and the part).
    """

    record: CalibrationRecord | None
    valid: bool
    problems: list[str]


def select_record(
    directory: str | Path,
    station: str,
    instruments: dict[str, dict[str, str]],
    validity: timedelta,
    *,
    now: datetime | None = None,
    strict: bool = False,
    lines: int | None = None,
    station_file: str | Path | None = None,
) -> Selection:
    """Choose the calibration a measurement on ``station`` applies.

    The newest record of the station that is younger than ``validity`` (and not dated in
    the future: a clock or a typo would freeze the station on it), whose instruments
    (model and serial number of every part it covers) are the ones connected, and whose
    converter calibration covers ``lines`` output lines (the die's columns, when given) is
    chosen. ``station_file``, when given, is named in the command the messages suggest.
    Newer records passed over, and the lack of any valid record, are reported: as a
    :class:`CalibrationWarning` (then the newest record is applied as it is, if there is
    one whose converter fits the die), or with ``strict`` as a :class:`CalibrationError`.

    Raises:
        CalibrationError: with ``strict``, when the newest record is not valid or none exists.
    """
    now = now or datetime.now(UTC)
    records = list_records(directory, station)
    problems: list[str] = []
    chosen: CalibrationRecord | None = None
    fitting = [r for r in records if _converter_fits(r, lines)]
    for record in reversed(records):
        issues = identity_mismatches(record.instruments, instruments)
        age = record.age(now)
        if age > validity:
            issues.append(
                f"made {age.total_seconds() / 86400:.1f} days ago, older than the station's "
                f"validity of {validity.total_seconds() / 86400:g} days"
            )
        if age < -FUTURE_SKEW:
            issues.append(
                f"dated {-age.total_seconds() / 86400:.2f} days in the future (a clock or its "
                "created date is wrong)"
            )
        if record not in fitting:
            issues.append(
                f"its converter calibration covers {len(record.converter.gain)} output lines; "
                f"the die has {lines}"
            )
        if not issues:
            chosen = record
            break
        problems.append(f"calibration {record.id}: " + "; ".join(issues))
    if chosen is not None and not problems:
        return Selection(chosen, True, [])
    if not records:
        problems.append(f"no calibration record for station {station!r} in {directory}")
    message = "; ".join(problems)
    again = command_line("calibrate", "--station", station_file or "FILE")
    if strict:
        raise CalibrationError(f"{message} (measure one with: {again})")
    if chosen is None and fitting:
        chosen = fitting[-1]
        message += f"; applying {chosen.id} anyway"
    elif chosen is not None:
        message += f"; applying the newest valid one, {chosen.id}"
    else:
        message += f"; reads go uncorrected: measure one with: {again}"
    warnings.warn(message, CalibrationWarning, stacklevel=2)
    return Selection(chosen, False, problems)


# -- TOML ----------------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_value(key)


def _table(lines: list[str], name: str, values: dict[str, Any]) -> None:
    lines.append(f"\n[{name}]")
    for k, v in values.items():
        if v is not None:
            lines.append(f"{_key(k)} = {_toml_value(v)}")


def _measured(m: Measured) -> dict[str, Any]:
    return {"value": float(m.value), "uncertainty": float(m.uncertainty), "unit": m.unit}


def _to_toml(r: CalibrationRecord) -> str:
    lines = [
        f"# Calibration of station {r.station!r}, made {r.created.isoformat()}.",
        "# Written by mtj-hil calibrate; values in SI units (A, ohm, S), gains dimensionless.",
        f"format = {_toml_value(FORMAT)}",
        f"format_version = {FORMAT_VERSION}",
        f"id = {_toml_value(r.id)}",
        f"station = {_toml_value(r.station)}",
        f"created = {r.created.astimezone(UTC).isoformat()}",
        f"procedure_version = {_toml_value(r.procedure_version)}",
    ]
    for part, ident in sorted(r.instruments.items()):
        _table(lines, f"instruments.{_key(part)}", dict(ident))
    if r.smu is not None:
        s = r.smu
        _table(
            lines,
            "smu",
            {
                "offset": _measured(s.offset),
                "gain": _measured(s.gain),
                "series_resistance": _measured(s.series_resistance),
            },
        )
        for ref in s.references:
            lines.append("\n[[smu.references]]")
            for k, v in (
                ("name", ref.name),
                ("listed_ohms", ref.listed_ohms),
                ("tolerance", ref.tolerance),
                ("apparent_ohms", ref.apparent_ohms),
                ("residual", ref.residual),
            ):
                lines.append(f"{k} = {_toml_value(v)}")
    if r.converter is not None:
        c = r.converter
        _table(
            lines,
            "converter",
            {
                "full_scale": float(c.full_scale),
                "array": int(c.array),
                "points": int(c.points),
                "gain": [float(x) for x in c.gain],
                "gain_uncertainty": [float(x) for x in c.gain_uncertainty],
                "offset": [float(x) for x in c.offset],
                "offset_uncertainty": [float(x) for x in c.offset_uncertainty],
                "units": {"full_scale": "A", "offset": "A", "gain": "1"},
            },
        )
    if r.thresholds is not None:
        t = r.thresholds
        values = {"die_id": t.die_id, "arrays": list(t.arrays), "unit": "S"}
        values.update(t.thresholds.as_dict())
        _table(lines, "thresholds", values)
    return "\n".join(lines) + "\n"


def _m(d: dict[str, Any]) -> Measured:
    return Measured(float(d["value"]), float(d["uncertainty"]), str(d["unit"]))


def _from_dict(d: dict[str, Any]) -> CalibrationRecord:
    created = d["created"]
    if isinstance(created, str):
        created = datetime.fromisoformat(created)
    smu = conv = thr = None
    if "smu" in d:
        s = d["smu"]
        smu = SmuCalibration(
            offset=_m(s["offset"]),
            gain=_m(s["gain"]),
            series_resistance=_m(s["series_resistance"]),
            references=tuple(
                ReferenceCheck(
                    str(x["name"]),
                    float(x["listed_ohms"]),
                    float(x["tolerance"]),
                    float(x["apparent_ohms"]),
                    float(x["residual"]),
                )
                for x in s.get("references", [])
            ),
        )
    if "converter" in d:
        c = d["converter"]
        conv = ConverterCalibration(
            full_scale=float(c["full_scale"]),
            array=int(c["array"]),
            gain=np.asarray(c["gain"], float),
            gain_uncertainty=np.asarray(c["gain_uncertainty"], float),
            offset=np.asarray(c["offset"], float),
            offset_uncertainty=np.asarray(c["offset_uncertainty"], float),
            points=int(c["points"]),
        )
    if "thresholds" in d:
        t = dict(d["thresholds"])
        die_id, arrays = str(t.pop("die_id")), tuple(int(a) for a in t.pop("arrays"))
        t.pop("unit", None)
        thr = ThresholdCalibration(die_id, arrays, Thresholds(**t))
    return CalibrationRecord(
        station=str(d["station"]),
        created=created,
        instruments={k: {kk: str(vv) for kk, vv in v.items()} for k, v in d["instruments"].items()},
        procedure_version=str(d["procedure_version"]),
        smu=smu,
        converter=conv,
        thresholds=thr,
        id=str(d["id"]),
    )
