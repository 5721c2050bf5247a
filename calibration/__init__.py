"""Calibration: procedures that measure the read path's errors, the records they produce,
and the corrections built from them.

Imports only :mod:`instruments` and :mod:`protocols`. ``mtj-hil calibrate`` runs the
procedures on a station and writes a record; opening a station applies the newest valid
record of that station (see :func:`mtj_hil.calibration.record_files.select_record`).

The names below load on first use (PEP 562, :mod:`mtj_hil.compat.lazy`): importing one
module of the package, such as :mod:`mtj_hil.calibration.errors`, does not load the
procedures and what they import (scipy, pymeasure).
"""

from typing import TYPE_CHECKING

from mtj_hil.compat.lazy import lazy_exports

if TYPE_CHECKING:
    from mtj_hil.calibration.correction import ReadPathCorrection
    from mtj_hil.calibration.errors import CalibrationError, CalibrationWarning
    from mtj_hil.calibration.procedures import (
        PROCEDURE_VERSION,
        calibrate_converters,
        derive_die_thresholds,
        measure_smu_gain,
        measure_smu_offset,
    )
    from mtj_hil.calibration.record_files import (
        Selection,
        list_records,
        read_record,
        select_record,
        write_record,
    )
    from mtj_hil.calibration.records import (
        CalibrationRecord,
        ConverterCalibration,
        Measured,
        ReferenceCheck,
        ReferenceResistor,
        SmuCalibration,
        ThresholdCalibration,
        controller_identity,
        identity_mismatches,
        smu_identity,
    )

__all__ = [
    "PROCEDURE_VERSION",
    "CalibrationError",
    "CalibrationRecord",
    "CalibrationWarning",
    "ConverterCalibration",
    "Measured",
    "ReadPathCorrection",
    "ReferenceCheck",
    "ReferenceResistor",
    "Selection",
    "SmuCalibration",
    "ThresholdCalibration",
    "calibrate_converters",
    "controller_identity",
    "derive_die_thresholds",
    "identity_mismatches",
    "list_records",
    "measure_smu_gain",
    "measure_smu_offset",
    "read_record",
    "select_record",
    "smu_identity",
    "write_record",
]

__getattr__, __dir__ = lazy_exports(
    globals(),
    {
        "mtj_hil.calibration.correction": ("ReadPathCorrection",),
        "mtj_hil.calibration.errors": ("CalibrationError", "CalibrationWarning"),
        "mtj_hil.calibration.procedures": (
            "PROCEDURE_VERSION",
            "calibrate_converters",
            "derive_die_thresholds",
            "measure_smu_gain",
            "measure_smu_offset",
        ),
        "mtj_hil.calibration.record_files": (
            "Selection",
            "list_records",
            "read_record",
            "select_record",
            "write_record",
        ),
        "mtj_hil.calibration.records": (
            "CalibrationRecord",
            "ConverterCalibration",
            "Measured",
            "ReferenceCheck",
            "ReferenceResistor",
            "SmuCalibration",
            "ThresholdCalibration",
            "controller_identity",
            "identity_mismatches",
            "smu_identity",
        ),
    },
)
