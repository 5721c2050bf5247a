"""Calibration never takes an SMU reading that is no measurement as a value: a reading in
compliance, clipped by a fixed current range, over range or without data stops the
procedure naming what it was (the offset took a no-data reading as NaN and a clipped one as
the offset; the converter calibration took both as the line's true current)."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from mtj_hil.calibration import CalibrationError
from mtj_hil.calibration.procedures import (
    calibrate_converters,
    measure_smu_gain,
    measure_smu_offset,
)
from mtj_hil.calibration.records import Measured, SmuCalibration
from mtj_hil.instruments.smu.base import Reading, make_reading

GOOD = make_reading(0.0, 2e-9, compliance=False)
FLAWED = {
    "compliance": replace(GOOD, compliance=True),
    "range compliance": replace(GOOD, range_compliance=True, current=1.05e-7),
    "overflow": make_reading(0.0, 9.9e37, compliance=False),
    "no data": make_reading(0.0, 9.91e37, compliance=False),
}


class StubSmu:
    """A sense SMU whose ``index``-th reading (counted over every call) is ``flawed``."""

    def __init__(self, flawed: Reading, index: int) -> None:
        self.flawed, self.index, self.count = flawed, index, 0
        self.source_voltage = 0.0
        self.output_enabled = True

    def _next(self, volts: float) -> Reading:
        self.count += 1
        if self.count - 1 == self.index:
            return self.flawed
        return make_reading(volts, volts / 10e3 + 1e-9, compliance=False)

    def sweep_voltages(self, volts):
        return [self._next(v) for v in volts]

    def measure_current(self) -> Reading:
        return self._next(0.1)


class StubController:
    """Just enough of a controller for the procedures (a 2 x 2 array, converters read a
    tenth of a microamp per volt)."""

    def __init__(self) -> None:
        self.identity = SimpleNamespace(rows=2, cols=2, limits=SimpleNamespace(adc_bits=12))

    def __getattr__(self, name):
        return lambda *args, **kwargs: None

    def scan(self, volts):
        return SimpleNamespace(
            currents_a=np.full((2, 2), volts * 1e-5), saturated=np.zeros((2, 2), bool)
        )

    def read_raw(self):
        return SimpleNamespace(currents_a=np.zeros(2), saturated=np.zeros(2, bool))


SMU_CAL = SmuCalibration(
    offset=Measured(0.0, 0.0, "A"),
    gain=Measured(1.0, 0.0, ""),
    series_resistance=Measured(0.0, 0.0, "ohm"),
)


def _offset(smu):
    return measure_smu_offset(StubController(), smu, points=4)


def _gain(smu):
    refs = [SimpleNamespace(name=f"R{k}", index=k, ohms=r, tolerance=1e-3)
            for k, r in enumerate((5e3, 10e3))]  # fmt: skip
    return measure_smu_gain(StubController(), smu, refs, Measured(0.0, 0.0, "A"), repeats=2)


def _converters(smu):
    return calibrate_converters(
        StubController(), smu, SMU_CAL, rows=(0, 1), voltages=(0.1, 0.2), smu_points=2
    )


@pytest.mark.parametrize("procedure", [_offset, _gain, _converters])
@pytest.mark.parametrize("flag", FLAWED)
def test_a_reading_that_is_no_measurement_stops_the_calibration_naming_it(procedure, flag):
    words = {
        "compliance": "hit its current compliance",
        "range compliance": "exceeded the fixed measurement range",
        "overflow": "overflowed its range",
        "no data": "returned no measurement",
    }[flag]
    with pytest.raises(CalibrationError, match="not a measurement|not measurements") as err:
        procedure(StubSmu(FLAWED[flag], index=1))
    assert words in str(err.value) and "nothing was recorded" in str(err.value)


@pytest.mark.parametrize(("scale", "refused"), [(1.0, False), (1e5, True)])
def test_defect_thresholds_from_reads_no_device_could_give_are_refused(monkeypatch, scale, refused):
    """A short threshold above 1 S (a device below 1 ohm) means the conductances measured
    were not the die's (a converter on the wrong range, say): nothing is derived from them.
    The same die measured right gives its thresholds."""
    from mtj_hil.calibration import procedures
    from mtj_hil.sim import SimulatedChip

    measured = procedures.measure_switching

    def scaled(chip, array, **kw):
        data = measured(chip, array, **kw)
        return replace(data, g_after_p=data.g_after_p * scale, g_after_ap=data.g_after_ap * scale)

    monkeypatch.setattr(procedures, "measure_switching", scaled)
    chip = SimulatedChip.from_lot("1t1r-20k", 0, 3)
    if not refused:
        made = procedures.derive_die_thresholds(chip, [0], die_id="d", cycles=1)
        assert 0 < made.thresholds.short_g <= 1.0
        return
    with pytest.raises(CalibrationError, match=r"above 1 S .*nothing was recorded"):
        procedures.derive_die_thresholds(chip, [0], die_id="d", cycles=1)
