"""The calibration record file's schema (written by ``mtj-hil calibrate``, read back by
:func:`mtj_hil.calibration.record_files.read_record`): every section and key, declared once.

Records are written by the program, but they are files a person can open, copy and edit;
a record with an unknown, mistyped or missing key is refused naming the file and the key,
rather than applied half-read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mtj_hil.calibration.errors import RecordFileError
from mtj_hil.calibration.limits import (
    MAX_CONVERTER_OFFSET_FRACTION,
    MAX_SHORT_G,
    MIN_CONVERTER_OFFSET_BOUND,
)
from mtj_hil.calibration.records import FORMAT, FORMAT_VERSION
from mtj_hil.instruments.controller import ADC_RANGES
from mtj_hil.schema import Field, FileSchema, Section


def _measured(value: Any) -> str | None:
    ok = (
        isinstance(value, dict)
        and set(value) == {"value", "uncertainty", "unit"}
        and all(
            isinstance(value[k], int | float) and not isinstance(value[k], bool)
            for k in ("value", "uncertainty")
        )
        and isinstance(value["unit"], str)
    )
    return None if ok else f"= {value!r} is not a measured value {{value, uncertainty, unit}}"


def _date(value: Any) -> str | None:
    if isinstance(value, datetime):
        return None
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
            return None
        except ValueError:
            pass
    return f"= {value!r} is not a date and time (ISO 8601)"


_MEASURED = '{value = x, uncertainty = u, unit = "..."}'

TOP = Section(
    "",
    "Top-level keys: what the file is and whose calibration it holds.",
    (
        Field("format", "str", "Always the record format's name.", choices=(FORMAT,)),
        Field("format_version", "int", "Version of the record format.", lo=1,
              hi=FORMAT_VERSION),
        Field("id", "str", "Unique name of the record (station and creation time); the "
              "file's stem."),
        Field("station", "str", "Name of the station calibrated."),
        Field("created", "any", "When the calibration was made (UTC).", check=_date,
              allowed="a date and time"),
        Field("procedure_version", "str", "Version of the procedures that made it."),
    ),
)  # fmt: skip

INSTRUMENT = Section(
    "instruments.<part>",
    "Identity of each instrument calibrated (parts: controller, smu:<role>).",
    (
        Field("model", "str", "Model."),
        Field("serial", "str", "Serial number."),
        Field("idn", "str", "Full identity string.", default=""),
    ),
    named=True,
)

SMU = Section(
    "smu",
    "The sense SMU and its connector path: I_read = gain V / (R + R_s) + offset.",
    (
        Field("offset", "any", "Offset current.", check=_measured, allowed=_MEASURED,
              unit="A"),
        Field("gain", "any", "Gain of the current measurement.", check=_measured,
              allowed=_MEASURED),
        Field("series_resistance", "any", "Series resistance of the connector path.",
              check=_measured, allowed=_MEASURED, unit="ohm"),
        Field("references", "any", "One [[smu.references]] entry per reference resistor.",
              default=[]),
    ),
    required=False,
)  # fmt: skip

REFERENCE = Section(
    "smu.references",
    "How one reference resistor read.",
    (
        Field("name", "str", "The station file's name for it."),
        Field("listed_ohms", "float", "Listed value.", unit="ohm", lo=0, lo_open=True),
        Field("tolerance", "float", "Relative tolerance of the listed value.", lo=0),
        Field("apparent_ohms", "float", "V / (I - offset) as the SMU saw it.", unit="ohm",
              finite=False),
        Field("residual", "float", "Relative misfit in the gain fit.", finite=False),
    ),
    required=False,
    many=True,
)  # fmt: skip

CONVERTER = Section(
    "converter",
    "Per output line: I_read = gain I_true + offset of the on-chip converters.",
    (
        Field("full_scale", "float", "Converter range calibrated (one of the converter's "
              "ranges, as the station's calibration.full_scale).", unit="A",
              choices=tuple(float(r) for r in ADC_RANGES)),
        Field("array", "int", "Array whose cells carried the currents.", lo=0),
        Field("points", "int", "Calibration points per line.", lo=1),
        Field("gain", "float list", "Gain per output line.", nonempty=True),
        Field("gain_uncertainty", "float list", "Its uncertainty.", finite=False),
        Field("offset", "float list", "Offset per output line (at most "
              f"{MAX_CONVERTER_OFFSET_FRACTION:.0%} of full_scale in size, or "
              f"{MIN_CONVERTER_OFFSET_BOUND:g} A on the smallest ranges).", unit="A",
              nonempty=True),
        Field("offset_uncertainty", "float list", "Its uncertainty.", unit="A",
              finite=False),
        Field("units", "table", "Units of the values (for people).", default={}),
    ),
    required=False,
)  # fmt: skip

THRESHOLDS = Section(
    "thresholds",
    "Defect thresholds derived on one die.",
    (
        Field("die_id", "str", "The die they were measured on."),
        Field("arrays", "int list", "Arrays measured.", lo=0),
        Field("unit", "str", "Unit of the thresholds.", default="S", choices=("S",)),
        Field("state_g", "float", "P above, AP below.", unit="S", lo=0, lo_open=True),
        Field("short_g", "float", "Shorts above this after both writes.", unit="S", lo=0,
              lo_open=True, hi=MAX_SHORT_G),
        Field("open_g", "float", "Opens below this after both writes.", unit="S", lo=0),
        Field("method", "str", "How the values were derived."),
        Field("median_g_p", "float", "P median the thresholds came from.", unit="S",
              default=float("nan"), finite=False),
        Field("median_g_ap", "float", "AP median.", unit="S", default=float("nan"),
              finite=False),
        Field("sigma_ln_p", "float", "Robust spread of ln G_P.", default=float("nan"),
              finite=False),
        Field("sigma_ln_ap", "float", "Robust spread of ln G_AP.", default=float("nan"),
              finite=False),
    ),
    required=False,
)  # fmt: skip

RECORD_FILE = FileSchema(
    "calibration record",
    "One calibration of one station (<station dir>/<calibration.dir>/<id>.toml), written by "
    "mtj-hil calibrate and never overwritten; values in SI units.",
    (TOP, INSTRUMENT, SMU, REFERENCE, CONVERTER, THRESHOLDS),
    error=RecordFileError,
)
