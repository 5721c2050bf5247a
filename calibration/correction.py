"""Corrections built from a calibration record and applied to raw read-path currents.

:class:`ReadPathCorrection` is applied by ``InstrumentChip`` to every read (its
:meth:`~ReadPathCorrection.correct` undoes the on-chip converters' per-line gain and offset),
so the procedures above the ``Chip`` seam see corrected currents; it also carries what the SMU read path needs: the SMU's gain and offset, and the series
resistance of the connector path, which only a caller who knows the read voltages can take
out (:meth:`~ReadPathCorrection.correct_series`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mtj_hil.calibration.records import CalibrationRecord


@dataclass(frozen=True)
class ReadPathCorrection:
    """Inverse of the measured read-path errors.

    Attributes:
        converter_gain, converter_offset: per output line, ``I_read = g I + o`` (o in A);
            ``None`` when the record has no converter calibration (currents pass unchanged).
        smu_gain, smu_offset: the SMU's ``I_read = g I + o`` (o in A).
        series_resistance: R_s (ohm) of the SMU connector path.
        record_id: the record it was built from (for provenance).
    """

    converter_gain: np.ndarray | None = None
    converter_offset: np.ndarray | None = None
    smu_gain: float = 1.0
    smu_offset: float = 0.0
    series_resistance: float = 0.0
    record_id: str = ""
    notes: tuple[str, ...] = field(default=())

    @classmethod
    def from_record(cls, record: CalibrationRecord) -> ReadPathCorrection:
        """The correction a record describes (parts it lacks are left ideal)."""
        kwargs: dict = {"record_id": record.id}
        if record.converter is not None:
            kwargs["converter_gain"] = np.asarray(record.converter.gain, float)
            kwargs["converter_offset"] = np.asarray(record.converter.offset, float)
        if record.smu is not None:
            kwargs["smu_gain"] = record.smu.gain.value
            kwargs["smu_offset"] = record.smu.offset.value
            kwargs["series_resistance"] = record.smu.series_resistance.value
        return cls(**kwargs)

    def correct(self, array: int, currents: np.ndarray) -> np.ndarray:
        """Converter path: true output-line currents (A) from converter readings (A),
        ``(batch, cols)``. The same correction applies to every array (the converters
        belong to the output lines)."""
        currents = np.asarray(currents, float)
        if self.converter_gain is None or self.converter_offset is None:
            return currents.copy()
        return (currents - self.converter_offset) / self.converter_gain

    def correct_smu_reading(self, current: float | np.ndarray) -> float | np.ndarray:
        """The current (A) at the SMU terminal from the SMU's reading (A)."""
        return (np.asarray(current, float) - self.smu_offset) / self.smu_gain

    def correct_series(self, currents: np.ndarray, voltages: np.ndarray) -> np.ndarray:
        """Remove the connector path's series resistance from line currents (A).

        A line whose cells of total conductance S are driven at V carries
        ``I = V S / (1 + R_s S)``, so ``V S = I / (1 - R_s I / V)``. This is exact when every
        driven input line of a vector has the same voltage (conductance maps, all-equal
        vectors); for mixed voltages the mean driven voltage is used (first order).

        Args:
            currents: ``(batch, cols)`` line currents (A) after :meth:`correct_smu_reading`.
            voltages: ``(batch, rows)`` input-line voltages (V) of the same reads.
        """
        currents = np.asarray(currents, float)
        if self.series_resistance == 0:
            return currents.copy()
        v = np.asarray(voltages, float)
        driven = v != 0
        n = driven.sum(axis=1)
        v_mean = np.where(n > 0, np.abs(v).sum(axis=1) / np.maximum(n, 1), np.inf)[:, None]
        denom = 1.0 - self.series_resistance * np.abs(currents) / v_mean
        return currents / np.clip(denom, 1e-3, None)
