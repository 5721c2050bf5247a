"""Calibration procedures: functions over a station's instruments and the Chip interface.

Each procedure measures one part of the read path and returns its values with standard
uncertainties, or raises :class:`~mtj_hil.calibration.errors.CalibrationError` naming the part at
fault (nothing is recorded then, so the previous calibration stays in force).

- :func:`measure_smu_offset`: the sense SMU's offset current, connector open (``ROUTE OFF``).
- :func:`measure_smu_gain`: the SMU's gain and the connector path's series resistance, from
  the on-board reference resistors (``ROUTE REF <k>``) whose values the station file lists.
- :func:`calibrate_converters`: gain and offset of every output line's on-chip converter,
  against the SMU read path (``ROUTE SMU <line> DAC``), one input line driven at a time.
- :func:`derive_die_thresholds`: defect thresholds from the P and AP distributions measured
  on a die with the corrected read path.

Units: volts, amperes, ohms, siemens. The procedures leave the board routed OFF; a caller
that caches board state (routing, masks, read voltages, converter range) must forget it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from mtj_hil.calibration.correction import ReadPathCorrection
from mtj_hil.calibration.errors import CalibrationError
from mtj_hil.calibration.limits import (
    MAX_GAIN_ERROR,
    MAX_SERIES_RESISTANCE,
    MAX_SHORT_G,
    MAX_SMU_OFFSET,
    MIN_SERIES_RESISTANCE,
    max_converter_offset,
)
from mtj_hil.calibration.records import (
    ConverterCalibration,
    Measured,
    ReferenceCheck,
    ReferenceResistor,
    SmuCalibration,
    ThresholdCalibration,
)
from mtj_hil.instruments.controller import ChipController
from mtj_hil.instruments.errors import InstrumentError, InstrumentStateLost
from mtj_hil.instruments.safety import SafetyEnvelope
from mtj_hil.instruments.smu import SourceMeter
from mtj_hil.instruments.smu.base import smu_name
from mtj_hil.protocols.chip import Chip
from mtj_hil.protocols.defects.detect import derive_thresholds, measure_switching

PROCEDURE_VERSION = "1.0"
"""Version of these procedures, stored in every record they produce."""

REFERENCE_PLAUSIBLE = 0.1
"""A reference resistor reading further than this (relative) from its listed value is
refused as the wrong part, a bad contact or a wrong station file."""


def _readings(smu: SourceMeter, volts: Sequence[float], what: str) -> np.ndarray:
    """Currents (A) of a sweep of ``volts`` (V) measuring ``what``.

    Raises:
        InstrumentStateLost: the SMU reset or left its known state (an instrument fault,
            exit 7, as in every other phase).
        CalibrationError: any other failure, or readings that are no measurement.
    """
    try:
        readings = smu.sweep_voltages(list(volts))
    except InstrumentStateLost:
        raise
    except (InstrumentError, ValueError) as exc:
        raise CalibrationError(f"sense SMU failed while measuring {what}: {exc}") from exc
    untrusted = [r for r in readings if not r.trustworthy]
    if untrusted:
        why = list(dict.fromkeys(w for r in untrusted for w in r.untrusted_because()))
        raise CalibrationError(
            f"{smu_name(smu)}: readings while measuring {what} are not measurements: "
            + "; ".join(why)
            + ". Check the connections and the station's compliance and current range; "
            "nothing was recorded, the previous calibration stays in force"
        )
    return np.array([r.current for r in readings], float)


def _ensure_output(smu: SourceMeter) -> None:
    """The SMU at 0 V with its output on, after re-checking it is still in the state it was
    opened in (its ``check_health``, where the driver has one): a reset or power cycle
    between two phases left its output off at power-on settings, and switching it back on
    unchecked took a phase's readings at those settings.

    Raises:
        InstrumentStateLost: the SMU left its known state (named by the driver).
    """
    check = getattr(smu, "check_health", None)
    if check is not None:
        check()
    smu.source_voltage = 0.0
    if not smu.output_enabled:
        smu.enable_output()


def measure_smu_offset(
    controller: ChipController, smu: SourceMeter, *, points: int = 16
) -> Measured:
    """Offset current (A) of the sense SMU with the connector open (board routed OFF).

    The SMU sources 0 V; the mean of ``points`` readings is the offset, its standard error
    the uncertainty.

    Raises:
        CalibrationError: the SMU reads more than :data:`MAX_SMU_OFFSET` (a leak or a fault),
            or is in compliance.
    """
    if points < 2:
        raise ValueError("points must be >= 2")
    controller.route("OFF")
    _ensure_output(smu)
    i = _readings(smu, [0.0] * points, "its offset (connector open)")
    offset = float(i.mean())
    if abs(offset) > MAX_SMU_OFFSET:
        raise CalibrationError(
            f"sense SMU reads {offset:.3g} A with the connector open (more than "
            f"{MAX_SMU_OFFSET:g} A): check the SMU cabling and the board's relays"
        )
    return Measured(offset, float(i.std(ddof=1) / np.sqrt(points)), "A")


def _refuse_off_board(controller: ChipController, references: Sequence[ReferenceResistor]) -> None:
    """Refuse references the identified board does not have (``IDN refs``).

    Raises:
        CalibrationError: naming the first such resistor, its index and the board's range.
    """
    count = getattr(getattr(controller, "identity", None), "references", None)
    if count is None:
        return  # not identified: routing it refuses each one
    count = int(count)
    for ref in references:
        if not 0 <= int(ref.index) < count:
            on_board = f"0..{count - 1}" if count else "none"
            raise CalibrationError(
                f"reference resistor {ref.name} (calibration.references.{ref.name}.index = "
                f"{ref.index}) is not on the board: its reference resistors are {on_board}; "
                "nothing applied"
            )


def measure_smu_gain(
    controller: ChipController,
    smu: SourceMeter,
    references: Sequence[ReferenceResistor],
    offset: Measured,
    *,
    target_current: float = 1e-4,
    max_voltage: float = 0.3,
    repeats: int = 4,
    envelope: SafetyEnvelope | None = None,
    seed: int = 0,
) -> SmuCalibration:
    """SMU gain and connector series resistance from the on-board reference resistors.

    Each resistor k is routed to the SMU (``ROUTE REF k``) and read at two voltages (half
    and all of ``min(max_voltage, target_current * R_k)``), ``repeats`` times. With the
    offset removed, ``V / I = (R_k + R_s) / gain`` is a straight line in the listed R_k:
    a least-squares fit over the resistors gives gain and R_s. Uncertainties combine the
    resistors' tolerances (uniform within them) and the reading scatter, propagated by
    refitting 400 perturbed copies.

    Raises:
        CalibrationError: fewer than two resistors; a resistor reading more than
            :data:`REFERENCE_PLAUSIBLE` from its listed value, or not fitting the others
            beyond its tolerance (the message names it); a gain beyond
            :data:`MAX_GAIN_ERROR`.
    """
    if len(references) < 2:
        raise CalibrationError(
            "the SMU gain needs at least two reference resistors in the station file "
            "([calibration.references]); it lists " + str(len(references))
        )
    _refuse_off_board(controller, references)  # before any output goes on
    controller.check_not_reset()  # learns the flags the board has before the sweep
    _ensure_output(smu)
    y_mean, y_err, listed, tol = [], [], [], []
    for ref in references:
        v = min(max_voltage, target_current * ref.ohms)
        volts = [0.5 * v, v] * repeats
        if envelope is not None:
            envelope.check_read_voltages(np.array(volts))
        try:
            controller.route_reference(ref.index)
        except (InstrumentError, ValueError) as exc:
            raise CalibrationError(
                f"reference resistor {ref.name} (REF {ref.index}) cannot be routed: {exc}"
            ) from exc
        what = f"reference resistor {ref.name} (REF {ref.index}, listed {ref.ohms:g} ohm)"
        i = _readings(smu, volts, what) - offset.value
        # the readings are of the resistor only if the board held its route throughout
        controller.check_not_reset()
        if np.any(np.abs(i) < 1e-12):
            raise CalibrationError(f"{what} carries no current: open contact or missing part")
        y = np.asarray(volts) / i
        y_mean.append(float(y.mean()))
        y_err.append(float(y.std(ddof=1) / np.sqrt(len(y))))
        listed.append(ref.ohms)
        tol.append(ref.tolerance)
        if abs(y_mean[-1] / ref.ohms - 1) > REFERENCE_PLAUSIBLE:
            controller.route("OFF")
            raise CalibrationError(
                f"{what} reads {y_mean[-1]:.6g} ohm, {100 * (y_mean[-1] / ref.ohms - 1):+.1f} % "
                f"from its listed value (tolerance {100 * ref.tolerance:g} %, plausible "
                f"{100 * REFERENCE_PLAUSIBLE:g} %): wrong part, bad contact or wrong station "
                "file; nothing was recorded, the previous calibration stays in force"
            )
    controller.route("OFF")
    r = np.asarray(listed)
    ym, ye, tl = np.asarray(y_mean), np.asarray(y_err), np.asarray(tol)
    a, b = np.polyfit(r, ym, 1)
    gain, r_s = 1.0 / a, b / a
    fitted = a * r + b
    residual = ym / fitted - 1
    allowed = 3 * tl + 3 * ye / ym + 1e-5
    if len(references) > 2 and np.any(np.abs(residual) > allowed):
        worst = _odd_reference_out(r, ym)
        ref = references[worst]
        raise CalibrationError(
            f"reference resistor {ref.name} (REF {ref.index}, listed {ref.ohms:g} ohm) does "
            f"not fit the other references (largest fit residual "
            f"{100 * np.abs(residual).max():.3f} % against tolerances of "
            f"{100 * tl.max():g} %; without it the others give a plausible gain and series "
            "resistance): wrong part or bad contact; nothing was recorded, the previous "
            "calibration stays in force"
        )
    if abs(gain - 1) > MAX_GAIN_ERROR:
        raise CalibrationError(f"sense SMU gain {gain:.4f} is implausible: instrument fault")
    if not MIN_SERIES_RESISTANCE <= r_s <= MAX_SERIES_RESISTANCE:
        raise CalibrationError(
            f"SMU connector path: series resistance {r_s:.4g} ohm is implausible (allowed "
            f"{MIN_SERIES_RESISTANCE:g}..{MAX_SERIES_RESISTANCE:g} ohm): check the relays "
            "and the cable"
        )
    rng = np.random.default_rng(seed)
    n = 400
    r_mc = r * (1 + tl * rng.uniform(-1, 1, (n, r.size)))
    y_mc = ym + ye * rng.standard_normal((n, r.size))
    fits = np.array([np.polyfit(r_mc[k], y_mc[k], 1) for k in range(n)])
    gains, series = 1.0 / fits[:, 0], fits[:, 1] / fits[:, 0]
    gain_u = float(np.hypot(gains.std(), abs(gain) * offset.uncertainty / target_current))
    checks = tuple(
        ReferenceCheck(ref.name, ref.ohms, ref.tolerance, float(ym[k]), float(residual[k]))
        for k, ref in enumerate(references)
    )
    return SmuCalibration(
        offset=offset,
        gain=Measured(float(gain), gain_u, ""),
        series_resistance=Measured(float(r_s), float(series.std()), "ohm"),
        references=checks,
    )


def _odd_reference_out(r: np.ndarray, y: np.ndarray) -> int:
    """Index of the reference whose removal leaves the most plausible fit of the rest.

    With few references one wrong value bends the whole fit, so the largest residual need
    not be the culprit. Each reference is left out in turn; the remaining fit is scored by
    how far its gain is from 1 (in units of 1 %) and how far its series resistance lies
    outside 0..:data:`MAX_SERIES_RESISTANCE` (in ohm), plus its own misfit.
    """
    scores = []
    for k in range(r.size):
        keep = np.arange(r.size) != k
        a, b = np.polyfit(r[keep], y[keep], 1)
        gain, r_s = 1.0 / a, b / a
        misfit = float(np.abs(y[keep] / (a * r[keep] + b) - 1).max()) / 1e-3
        outside = max(0.0, -r_s, r_s - MAX_SERIES_RESISTANCE)
        scores.append(abs(gain - 1) / 0.01 + outside + misfit)
    return int(np.argmin(scores))


def calibrate_converters(
    controller: ChipController,
    smu: SourceMeter,
    smu_cal: SmuCalibration,
    *,
    array: int = 0,
    rows: Sequence[int] = (0, 6, 12, 18, 24),
    voltages: Sequence[float] = (0.05, 0.15, 0.3),
    full_scale: float = 1e-4,
    adc_reads: int = 8,
    smu_points: int = 4,
    zero_reads: int = 4,
    relative_noise: float = 0.003,
    envelope: SafetyEnvelope | None = None,
) -> ConverterCalibration:
    """Gain and offset of every output line's converter against the SMU read path.

    Converter side: with all input lines enabled, ``SCAN`` at each read voltage (averaged
    over ``adc_reads`` scans) converts every cell's current on every output line, and a
    ``READ`` with all read voltages at 0 V gives the offsets (``zero_reads`` times). SMU
    side: each output line in turn is routed to the SMU (``ROUTE SMU <line> DAC``, SMU at
    0 V); for each input line in ``rows`` (alone enabled) and each read voltage the SMU
    reads the line's current (``smu_points`` readings averaged), corrected for the SMU's
    offset, gain and the connector's series resistance. A weighted straight-line fit per
    line gives ``I_read = gain * I_true + offset`` (weights: quantisation, and
    ``relative_noise`` of the current per point); uncertainties are the fit's standard
    errors. Points where a converter saturates (e.g. a shorted cell) are left out. Any cells
    will do: their states and defects need not be known.

    Raises:
        CalibrationError: a line whose converter does not respond (flat reading) or whose
            gain is implausible, or a line without enough usable cells (all named).
        SafetyViolation: a read voltage outside ``envelope`` (nothing sent).
    """
    ident = controller.identity
    if ident is None:
        raise CalibrationError("the controller has not been identified")
    n_rows, cols = ident.rows, ident.cols
    v_all = np.asarray(voltages, float)
    if envelope is not None:
        envelope.check_read_voltages(v_all)
    corr = ReadPathCorrection(
        smu_gain=smu_cal.gain.value,
        smu_offset=smu_cal.offset.value,
        series_resistance=smu_cal.series_resistance.value,
    )
    rows = list(rows)
    all_cols = np.ones(cols, bool)
    controller.check_not_reset()  # learns the flags the board has before the sweep
    controller.select_array(array)
    controller.set_adc_range(full_scale)
    _ensure_output(smu)
    # converter side
    controller.enable_lines(np.ones(n_rows, bool), all_cols)
    controller.set_read_voltages(np.zeros(n_rows))
    controller.route("ADC")
    zero = [controller.read_raw() for _ in range(zero_reads)]
    zero_adc = np.mean([r.currents_a for r in zero], axis=0)
    zero_ok = ~np.any([r.saturated for r in zero], axis=0)
    adc = np.empty((v_all.size, len(rows), cols))
    sat = np.zeros((v_all.size, len(rows), cols), bool)
    for k, v in enumerate(v_all):
        scans = [controller.scan(float(v)) for _ in range(adc_reads)]
        adc[k] = np.mean([s.currents_a for s in scans], axis=0)[rows]
        sat[k] = np.any([s.saturated for s in scans], axis=0)[rows]
    # SMU side
    true = np.empty((v_all.size, len(rows), cols))
    for j in range(cols):
        controller.route("SMU", smu_line=j, input_source="DAC")
        for i, row in enumerate(rows):
            controller.enable_lines(np.arange(n_rows) == row, all_cols)
            for k, v in enumerate(v_all):
                vread = np.zeros(n_rows)
                vread[row] = v
                controller.set_read_voltages(vread)
                hi = np.empty(smu_points)
                for p in range(smu_points):
                    reading = smu.measure_current()
                    controller.keepalive()  # HostWatchdogFired if the route was dropped
                    if not reading.trustworthy:
                        raise CalibrationError(
                            f"{smu_name(smu)}: its reading on output line {j}, input line {row} at "
                            f"{v:g} V is not a measurement: "
                            + "; ".join(reading.untrusted_because())
                            + ". Check that line for a short or a wiring fault and the "
                            "station's compliance and current range; nothing was recorded, "
                            "the previous calibration stays in force"
                        )
                    hi[p] = reading.current
                line = -float(corr.correct_smu_reading(hi.mean()))
                true[k, i, j] = corr.correct_series(np.array([[line]]), vread[None, :])[0, 0]
        # the line's readings went through the board's route: only if it did not reset
        controller.check_not_reset()
    controller.route("OFF")
    controller.set_read_voltages(np.zeros(n_rows))
    lsb = 2 * full_scale / (1 << ident.limits.adc_bits)
    gain, offset, gain_u, offset_u = (np.empty(cols) for _ in range(4))
    npts = 0
    for j in range(cols):
        use = ~sat[..., j].ravel()
        xj = np.concatenate([[0.0] if zero_ok[j] else [], true[..., j].ravel()[use]])
        yj = np.concatenate([[zero_adc[j]] if zero_ok[j] else [], adc[..., j].ravel()[use]])
        npts = max(npts, xj.size)
        span = float(np.ptp(xj)) if xj.size else 0.0
        if xj.size < 3 or span < 0.05 * full_scale:
            raise CalibrationError(
                f"output line {j}: too few usable calibration points ({xj.size}, current span "
                f"{span:.3g} A) in array {array}, rows {rows}; choose other rows or another "
                "array in [calibration]"
            )
        if np.ptp(yj) < 2 * lsb:
            raise CalibrationError(
                f"converter of output line {j} does not respond: it reads {yj.mean():.3g} A "
                f"whatever the current (0 to {xj.max():.3g} A through the SMU); nothing was "
                "recorded, the previous calibration stays in force"
            )
        sigma = np.sqrt(lsb**2 / 12 + (relative_noise * xj) ** 2)
        design = np.column_stack([xj, np.ones_like(xj)]) / sigma[:, None]
        coef, *_ = np.linalg.lstsq(design, yj / sigma, rcond=None)
        g, o = float(coef[0]), float(coef[1])
        if abs(g - 1) > MAX_GAIN_ERROR:
            raise CalibrationError(
                f"converter of output line {j} has an implausible gain {g:.3f}: fault on "
                "that line; nothing was recorded, the previous calibration stays in force"
            )
        if abs(o) > max_converter_offset(full_scale):
            raise CalibrationError(
                f"converter of output line {j} has an implausible offset {o:.3g} A (more than "
                f"{max_converter_offset(full_scale):g} A on its {full_scale:g} A range): fault "
                "on that line; nothing was recorded, the previous calibration stays in force"
            )
        resid = yj / sigma - design @ coef
        chi2 = max(float(resid @ resid) / max(xj.size - 2, 1), 1.0)
        cov = chi2 * np.linalg.inv(design.T @ design)
        gain[j], offset[j] = g, o
        gain_u[j], offset_u[j] = float(np.sqrt(cov[0, 0])), float(np.sqrt(cov[1, 1]))
    return ConverterCalibration(
        full_scale=float(full_scale),
        array=int(array),
        gain=gain,
        gain_uncertainty=gain_u,
        offset=offset,
        offset_uncertainty=offset_u,
        points=int(npts),
    )


def derive_die_thresholds(
    chip: Chip,
    arrays: Sequence[int],
    *,
    die_id: str,
    cycles: int = 3,
) -> ThresholdCalibration:
    """Defect thresholds from P and AP distributions measured on ``arrays`` of a die.

    Runs :func:`mtj_hil.protocols.defects.detect.measure_switching` on each array (reads corrected by the
    chip itself when it has a read-path calibration), pools the cycle-averaged conductances and
    derives the thresholds with :func:`mtj_hil.protocols.defects.detect.derive_thresholds`; the method
    text says how, on which die and arrays.

    Raises:
        ProtocolError: the populations are not separated (nothing switched).
        CalibrationError: no arrays given, or a short threshold above ``MAX_SHORT_G``
            (1 S): the conductances measured cannot be the die's.
    """
    if not arrays:
        raise CalibrationError("defect thresholds need at least one array to measure")
    data = [measure_switching(chip, a, cycles=cycles) for a in arrays]
    mean_p = np.stack([d.mean_p.mean(axis=0) for d in data])
    mean_ap = np.stack([d.mean_ap.mean(axis=0) for d in data])
    t = derive_thresholds(mean_p, mean_ap)
    if not t.short_g <= MAX_SHORT_G:
        raise CalibrationError(
            f"defect thresholds from arrays {list(arrays)}: the short threshold "
            f"{t.short_g:.3g} S is above {MAX_SHORT_G:g} S (a device below 1 ohm): the reads "
            "are not of the die; nothing was recorded"
        )
    t = replace(
        t,
        method=(
            f"{t.method}; measured on die {die_id}, arrays {list(arrays)}, {cycles} "
            f"write/read cycles each, {mean_p.size} devices, read path calibrated"
        ),
    )
    return ThresholdCalibration(die_id=die_id, arrays=tuple(int(a) for a in arrays), thresholds=t)
