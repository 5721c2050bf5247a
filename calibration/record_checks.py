"""Checks of a calibration record's values beyond their types: each value in the unit it is
applied in, within the limits the procedures hold a measurement to
(:mod:`mtj_hil.calibration.limits`), one converter entry per line, thresholds in order, and
the file in a calibration folder named after its id. A record is a file a person can edit or copy; what the
procedure would have refused as a fault is refused here too, naming the file and the key."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from mtj_hil.calibration.errors import RecordFileError
from mtj_hil.calibration.limits import (
    MAX_GAIN_ERROR,
    MAX_SERIES_RESISTANCE,
    MAX_SMU_OFFSET,
    MIN_SERIES_RESISTANCE,
    max_converter_offset,
)
from mtj_hil.schema import check_section, check_top

SMU_UNITS = {"offset": ("A",), "gain": ("", "1"), "series_resistance": ("ohm", "Ohm")}
"""The units an SMU calibration value is written in (values are applied in these)."""

CONVERTER_UNITS = {
    "full_scale": ("A",),
    "offset": ("A",),
    "offset_uncertainty": ("A",),
    "gain": ("", "1"),
    "gain_uncertainty": ("", "1"),
}
"""The units a converter value is written in; ``[converter.units]`` may name them and must
then name these."""


def check_record(data: dict[str, Any], src: str) -> None:
    """Validate a record's tables against
    :data:`~mtj_hil.calibration.record_schema.RECORD_FILE` and its values against the
    calibration's limits.

    Raises:
        RecordFileError: naming ``src``, the key and what is allowed.
    """
    from mtj_hil.calibration.record_schema import (
        CONVERTER,
        INSTRUMENT,
        RECORD_FILE,
        REFERENCE,
        SMU,
        THRESHOLDS,
        TOP,
    )

    err = RecordFileError
    check_top(data, RECORD_FILE, src)
    check_section({k: v for k, v in data.items() if k in TOP.keys}, TOP, src, error=err)
    instruments = data.get("instruments")
    if not isinstance(instruments, dict):
        raise err(f"{src}: [instruments] is missing: the identities of the parts calibrated")
    for part, ident in instruments.items():
        check_section(ident, INSTRUMENT, src, where=f"instruments.{part}", error=err)
    if "smu" in data:
        smu = check_section(data["smu"], SMU, src, error=err)
        _check_smu_values(smu, src)
        refs = smu["references"]
        if not isinstance(refs, list):
            raise err(f"{src}: smu.references must be [[smu.references]] entries")
        for i, ref in enumerate(refs):
            check_section(ref, REFERENCE, src, where=f"smu.references[{i}]", error=err)
    if "converter" in data:
        _check_converter(check_section(data["converter"], CONVERTER, src, error=err), src)
    if "thresholds" in data:
        t = check_section(data["thresholds"], THRESHOLDS, src, error=err)
        if not t["short_g"] > t["state_g"] > t["open_g"]:
            raise err(
                f"{src}: thresholds short_g {t['short_g']:.4g} S > state_g {t['state_g']:.4g} "
                f"S > open_g {t['open_g']:.4g} S does not hold; a short conducts more than a "
                "P device, an open less than an AP device"
            )


def check_named_after_id(record_id: str, path: Path) -> None:
    """Refuse a record in a calibration folder not named after its id (``<id>.toml``): run
    files cite the id, and a renamed copy beside its original would be a second record of
    one calibration (``show`` of a copy elsewhere is fine).

    Raises:
        RecordFileError: naming the file, its id and the name it should have."""
    if path.stem != record_id:
        raise RecordFileError(
            f"{path}: its id is {record_id!r} but the file is named {path.name!r}; a record "
            f"is named after its id (rename it {record_id}.toml, or keep copies out of the "
            "calibration folder)"
        )


def _check_smu_values(smu: dict[str, Any], src: str) -> None:
    """Refuse an SMU value in another unit than the one it is applied in, outside the
    limits a calibration is held to, or with a negative or non-finite uncertainty.

    Raises:
        RecordFileError: naming ``src``, the key and what is allowed."""
    for key, units in SMU_UNITS.items():
        unit = smu[key]["unit"]
        if unit not in units:
            raise RecordFileError(
                f"{src}: smu.{key} is in {unit!r}; allowed: {units[0]!r} (values are applied "
                "in SI units as written)"
            )
        value, uncertainty = smu[key]["value"], smu[key]["uncertainty"]
        if not (math.isfinite(value) and math.isfinite(uncertainty) and uncertainty >= 0):
            raise RecordFileError(
                f"{src}: smu.{key} is {value!r} +/- {uncertainty!r}; allowed: a finite value "
                "with a finite uncertainty of at least 0"
            )
    limits = {
        "offset": (-MAX_SMU_OFFSET, MAX_SMU_OFFSET, "A"),
        "gain": (1 - MAX_GAIN_ERROR, 1 + MAX_GAIN_ERROR, ""),
        "series_resistance": (MIN_SERIES_RESISTANCE, MAX_SERIES_RESISTANCE, "ohm"),
    }
    for key, (lo, hi, unit) in limits.items():
        value = smu[key]["value"]
        if not lo <= value <= hi:
            raise RecordFileError(
                f"{src}: smu.{key} is {value!r}; allowed: {lo:g} to {hi:g} {unit}".rstrip()
                + " (a calibration outside this is refused as an instrument or wiring fault)"
            )


def _check_converter(conv: dict[str, Any], src: str) -> None:
    """Refuse converter values that cannot be applied as written: entries per line that
    differ in number, gains outside the limits, negative uncertainties, other units.

    Raises:
        RecordFileError: naming ``src``, the key and what is allowed."""
    n = len(conv["gain"])
    for key in ("gain_uncertainty", "offset", "offset_uncertainty"):
        if len(conv[key]) != n:
            raise RecordFileError(
                f"{src}: converter.{key} holds {len(conv[key])} values, gain holds {n}; "
                "allowed: one per output line"
            )
    lo, hi = 1 - MAX_GAIN_ERROR, 1 + MAX_GAIN_ERROR
    bad = [g for g in conv["gain"] if not lo <= g <= hi]
    if bad:
        raise RecordFileError(
            f"{src}: converter.gain holds {bad[0]!r}; allowed: gains from {lo:g} to {hi:g} "
            "(a line outside this is refused as a fault)"
        )
    most = max_converter_offset(conv["full_scale"])
    big = [o for o in conv["offset"] if not abs(o) <= most]
    if big:
        raise RecordFileError(
            f"{src}: converter.offset holds {big[0]!r}; allowed: offsets from {-most:g} to "
            f"{most:g} A (on full_scale {conv['full_scale']:g} A; a line outside this is "
            "refused as a fault)"
        )
    for key in ("gain_uncertainty", "offset_uncertainty"):
        negative = [u for u in conv[key] if u < 0]
        if negative:
            raise RecordFileError(
                f"{src}: converter.{key} holds {negative[0]!r}; allowed: at least 0"
            )
    units = conv["units"]
    for key, unit in units.items():
        allowed = CONVERTER_UNITS.get(key)
        if allowed is None:
            raise RecordFileError(
                f"{src}: converter.units names {key!r}; allowed: "
                + ", ".join(sorted(CONVERTER_UNITS))
            )
        if unit not in allowed:
            raise RecordFileError(
                f"{src}: converter.units gives {key} in {unit!r}; allowed: {allowed[0]!r} "
                "(values are applied in SI units as written)"
            )
