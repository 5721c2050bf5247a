"""Calibration records: one TOML file per calibration, and the choice of which one applies.

A record holds the date (UTC), the station's name, the identities and serial numbers of the
instruments that were measured, the procedure's version and every measured value with its
uncertainty (SI units: A, ohm, S; gains are dimensionless). Files are never overwritten: each
calibration gets a new file named after its station and creation time, so a failed or
rejected calibration leaves every earlier record, and so the calibration in force, intact.

:func:`select_record` picks the record a measurement applies: the newest one of the station
that is recent enough and was made with the very instruments now connected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from mtj_hil.protocols.defects.detect import Thresholds

FORMAT = "mtj-hil-calibration"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Measured:
    """A measured value with its standard uncertainty (1 sigma), in ``unit``."""

    value: float
    uncertainty: float
    unit: str

    def __str__(self) -> str:
        return f"{self.value:.6g} +/- {self.uncertainty:.2g} {self.unit}".rstrip()


@dataclass(frozen=True)
class ReferenceResistor:
    """An on-board reference resistor as the station file lists it.

    Attributes:
        name: the station file's name for it (e.g. ``"r1k"``).
        index: its ``ROUTE REF`` index on the board.
        ohms: listed value (ohm).
        tolerance: relative tolerance of the listed value (e.g. 1e-3 for 0.1 %).
    """

    name: str
    index: int
    ohms: float
    tolerance: float


@dataclass(frozen=True)
class ReferenceCheck:
    """How one reference resistor read during a calibration.

    Attributes:
        name, listed_ohms, tolerance: as the station lists it.
        apparent_ohms: V / (I - offset) as the SMU saw it (gain and series resistance
            still in it), ohm.
        residual: relative misfit of the resistor in the gain / series-resistance fit.
    """

    name: str
    listed_ohms: float
    tolerance: float
    apparent_ohms: float
    residual: float


@dataclass(frozen=True)
class SmuCalibration:
    """The sense SMU and the connector path: ``I_read = gain * V / (R + R_s) + offset``.

    Attributes:
        offset: offset current (A), measured with the connector open.
        gain: gain of the current measurement (1 = perfect).
        series_resistance: R_s (ohm) of the SMU connector path (relays, cable, contact).
        references: per-resistor results of the gain fit.
    """

    offset: Measured
    gain: Measured
    series_resistance: Measured
    references: tuple[ReferenceCheck, ...] = ()


@dataclass(frozen=True)
class ConverterCalibration:
    """Per output line: ``I_read = gain * I_true + offset`` of the on-chip converters.

    Attributes:
        full_scale: converter range (A) the calibration was made on.
        array: the array whose cells carried the calibration currents.
        gain, gain_uncertainty: shape ``(cols,)``, dimensionless.
        offset, offset_uncertainty: shape ``(cols,)``, A.
        points: calibration points per line.
    """

    full_scale: float
    array: int
    gain: np.ndarray
    gain_uncertainty: np.ndarray
    offset: np.ndarray
    offset_uncertainty: np.ndarray
    points: int


@dataclass(frozen=True)
class ThresholdCalibration:
    """Defect thresholds derived from the P and AP distributions measured on a die.

    Attributes:
        die_id: the die they were measured on (thresholds are a die correction).
        arrays: the arrays measured.
        thresholds: values (S) and how they were derived (``thresholds.method``).
    """

    die_id: str
    arrays: tuple[int, ...]
    thresholds: Thresholds


@dataclass
class CalibrationRecord:
    """One calibration of one station.

    Attributes:
        station: the station's name.
        created: when it was made (UTC).
        instruments: per part (``"controller"``, ``"smu:sense"``) its ``model``, ``serial``
            and full identity string.
        procedure_version: version of the procedures that produced it.
        smu, converter, thresholds: the parts measured (``None`` if not).
        id: unique name (station and creation time); also the file's stem.
        path: where it is stored (``None`` until written).
    """

    station: str
    created: datetime
    instruments: dict[str, dict[str, str]]
    procedure_version: str
    smu: SmuCalibration | None = None
    converter: ConverterCalibration | None = None
    thresholds: ThresholdCalibration | None = None
    id: str = ""
    path: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.created.tzinfo is None:
            self.created = self.created.replace(tzinfo=UTC)
        if not self.id:
            stamp = self.created.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            self.id = f"{_slug(self.station)}-{stamp}"

    def age(self, now: datetime | None = None) -> timedelta:
        """Time since the calibration was made."""
        return (now or datetime.now(UTC)) - self.created

    def summary(self) -> dict[str, Any]:
        """Short provenance entry for run files: id, date, station, procedure version."""
        return {
            "id": self.id,
            "created": self.created.isoformat(),
            "station": self.station,
            "procedure_version": self.procedure_version,
            "file": str(self.path) if self.path else None,
            "parts": [
                n
                for n, v in (
                    ("smu", self.smu),
                    ("converter", self.converter),
                    ("thresholds", self.thresholds),
                )
                if v is not None
            ],
        }


# -- identities --------------------------------------------------------------------------


def smu_identity(idn: str) -> dict[str, str]:
    """Model and serial number from a SCPI ``*IDN?`` string (``maker,model,serial,fw``)."""
    parts = [p.strip() for p in idn.split(",")]
    return {
        "model": parts[1] if len(parts) > 1 else idn.strip(),
        "serial": parts[2] if len(parts) > 2 else "",
        "idn": idn.strip(),
    }


def controller_identity(model: str, serial: str, firmware: str) -> dict[str, str]:
    """Identity entry of a controller board."""
    return {"model": model, "serial": serial, "idn": f"{model} sn {serial} fw {firmware}"}


def identity_mismatches(
    recorded: dict[str, dict[str, str]], present: dict[str, dict[str, str]]
) -> list[str]:
    """Human-readable differences in model or serial number, one per part (empty = same).

    Only the parts the record covers are compared; a part the record has but the station
    lacks is a mismatch.
    """
    out = []
    for part, rec in sorted(recorded.items()):
        now = present.get(part)
        if now is None:
            out.append(f"{part}: recorded {rec.get('model')} sn {rec.get('serial')}, not present")
            continue
        if (rec.get("model"), rec.get("serial")) != (now.get("model"), now.get("serial")):
            out.append(
                f"{part}: recorded {rec.get('model')} sn {rec.get('serial')}, "
                f"connected {now.get('model')} sn {now.get('serial')}"
            )
    return out


# -- files -------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text) or "station"


from mtj_hil.compat.legacy_names import forwarder as _forwarder  # noqa: E402

__getattr__ = _forwarder(__name__, ("mtj_hil.calibration.record_files",))
"""0.1 names of this module that moved (deprecated)."""
