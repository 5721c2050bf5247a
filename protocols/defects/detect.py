"""Defect detection: switch every device back and forth, read it, and classify it.

The default classifier (:func:`classify_reads`, see :mod:`mtj_hil.protocols.defects.classifier`) judges each
device on its own switching evidence with distributions fitted to the die, gives every
device a posterior and an ``UNCERTAIN`` outcome where the evidence cannot settle it. The
rules below are the older fixed-threshold classifier, still used when thresholds are given
(e.g. by a calibration record):

Measurement (:func:`measure_switching`): ``cycles`` times, write the whole array to P (with
write-verify, so a rare write error or a slow device does not look stuck) and read it
``reads`` times, the last verify read being the first; then the same towards AP. Each write
starts from the map just read, so no read is spent finding out what is already known.
Classification (:func:`classify`) compares each device's cycle-averaged conductances with
thresholds derived from the measured distributions (:func:`derive_thresholds`) or given by a
calibration:

- SHORT: conductance above ``short_g`` after both P and AP writes (a broken barrier; in 1T1R
  cells the access transistor sets its value).
- OPEN: conductance below ``open_g`` after both writes.
- STUCK_P: reads P after every AP write (and is not a short).
- STUCK_AP: reads AP after every P write (and is not open).
- GOOD: everything else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtj_hil.protocols.chip import CellState, Chip, Pulse
from mtj_hil.protocols.defects.codes import DefectCode
from mtj_hil.protocols.defects.reads import classify_reads
from mtj_hil.protocols.defects.results import DefectMap, Thresholds
from mtj_hil.protocols.errors import InvalidRequest, ProtocolError
from mtj_hil.protocols.plan_values import is_whole
from mtj_hil.protocols.read import DEFAULT_READ_VOLTAGE
from mtj_hil.protocols.sequence import KnownStates, ReadMap, SeqStep, WriteAll, run_sequence
from mtj_hil.protocols.write import MAX_ROUNDS, full_range_plan


@dataclass
class SwitchingData:
    """Conductance reads (S) of one array after writing all-P and all-AP.

    Attributes:
        g_after_p: shape ``(cycles, reads, rows, cols)``, reads after each all-P write.
        g_after_ap: same shape, reads after each all-AP write.
        residual_p: cells the all-P write-verify gave up on, per cycle ``(cycles, rows, cols)``.
        residual_ap: the same for the all-AP writes.
        g_high_p, g_high_ap: like ``g_after_p`` / ``g_after_ap`` but read at the second
            (bias-signature) read voltage; None when it was not measured.
    """

    g_after_p: np.ndarray
    g_after_ap: np.ndarray
    residual_p: np.ndarray
    residual_ap: np.ndarray
    g_high_p: np.ndarray | None = None
    g_high_ap: np.ndarray | None = None

    @property
    def mean_p(self) -> np.ndarray:
        """Per-cycle mean conductance after P writes, ``(cycles, rows, cols)`` (S)."""
        return self.g_after_p.mean(axis=1)

    @property
    def mean_ap(self) -> np.ndarray:
        """Per-cycle mean conductance after AP writes, ``(cycles, rows, cols)`` (S)."""
        return self.g_after_ap.mean(axis=1)


SHORT_SIGMAS = 6.0
"""A short must sit this many robust standard deviations of ln G_P above the P median."""
MIN_SHORT_MARGIN = 0.15
"""...and at least this much above it in ln G (15 %), whatever the spread."""
OPEN_FRACTION = 0.2
"""A device below this fraction of the AP median after both writes is open."""


def measure_switching(
    chip: Chip,
    array: int,
    *,
    cycles: int = 3,
    reads: int = 1,
    pulse: Pulse | None = None,
    read_voltage: float = DEFAULT_READ_VOLTAGE,
    verify_rounds: int = 3,
    selected: np.ndarray | None = None,
    bias_read_voltage: float | None = None,
) -> SwitchingData:
    """Write all-P / read / write all-AP / read, ``cycles`` times, on one array.

    With ``bias_read_voltage`` (V) every state is also read ``reads`` times at that voltage
    right after its reads at ``read_voltage`` (the bias signature,
    :mod:`mtj_hil.protocols.defects.bias_signature`); None (the default) reads at one voltage only.

    The writes use write-verify over the die's whole allowed pulse range
    (:func:`mtj_hil.protocols.write.full_range_plan`: the amplitude rises to the die's largest
    over ``verify_rounds - 1`` rounds, the last round also at its longest width), so a good
    device is given up only after the largest pulse the die allows. ``selected`` (boolean ``(rows,
    cols)``) restricts the writes to some cells (targeted re-measurement): only they are
    verified and reported as residual; a board running the sequence pulses the whole array
    with them (a pulse towards the state a device is in does nothing), the host pulses them
    alone. The whole array is still read. The array is measured as one sequence
    (:func:`~mtj_hil.protocols.sequence.run_sequence`), selected or not.

    Raises:
        InvalidRequest: ``cycles``, ``reads`` or ``verify_rounds`` not a whole number >= 1,
            a pulse outside the die's limits, or
            ``selected`` not a boolean ``(rows, cols)`` mask.
        SafetyViolation: ``bias_read_voltage`` above the die's read limit.
    """
    for name, value in (("cycles", cycles), ("reads", reads), ("verify_rounds", verify_rounds)):
        if not is_whole(value) or value < 1:
            raise InvalidRequest(f"{name} must be a whole number >= 1, got {value!r}")
    if verify_rounds > MAX_ROUNDS:
        raise InvalidRequest(f"verify_rounds must be at most {MAX_ROUNDS}, got {verify_rounds}")
    return _measure_as_sequence(
        chip, array, cycles, reads, pulse, read_voltage, verify_rounds, bias_read_voltage, selected
    )


def _measure_as_sequence(
    chip: Chip,
    array: int,
    cycles: int,
    reads: int,
    pulse: Pulse | None,
    read_voltage: float,
    verify_rounds: int,
    bias_read_voltage: float | None,
    selected: np.ndarray | None = None,
) -> SwitchingData:
    """:func:`measure_switching` of one array as one sequence: run on the board when the
    chip can (one upload per array, no host round trip per step), else call for call on the
    host (:func:`~mtj_hil.protocols.sequence.run_on_host`: :func:`write_weights` with
    ``pulse_all``, the last verify read of each write being the first read of the state)."""
    steps: list[SeqStep] = []
    plan = full_range_plan(chip.layout, pulse, verify_rounds)
    cells = None if selected is None else _as_selection(chip, selected)
    # the full-range plan as one write-verify per state (one board step; its last round
    # longer than the others)
    writes = {
        s: WriteAll(s, plan=tuple(plan), read_voltage=read_voltage, cells=cells)
        for s in (CellState.P, CellState.AP)
    }
    # Every write after the first starts with a pulse: each cell is declared on the wrong
    # side of the verify threshold. Else a cell whose opposite state already reads beyond
    # the threshold (a high-conductance device's AP level above it, a low one's P level
    # below) is taken as written without a pulse, and its "read after the write" is a copy
    # of the read before it; re-measuring a few such cells alone, nothing else keeps the
    # write going. (The first write reads afresh: no copy. Where some cell reads wrong the
    # whole selection is pulsed anyway, so on a normal array nothing changes.)
    shape = (chip.layout.rows, chip.layout.cols)
    seen = {s: KnownStates(read_voltage, np.full(shape, s == CellState.AP)) for s in writes}
    declared: list[bool] = []
    for cycle in range(cycles):
        for state in (CellState.P, CellState.AP):
            declare = cycle > 0 or state != CellState.P or selected is not None
            steps += [seen[state], writes[state]] if declare else [writes[state]]
            declared.append(declare)
            if reads > 1:
                steps.append(ReadMap(read_voltage, reads - 1))
            if bias_read_voltage is not None:
                steps.append(ReadMap(bias_read_voltage, reads))
    results = iter(run_sequence(chip, array, steps))
    out: dict[CellState, tuple[list[np.ndarray], list[np.ndarray]]] = {
        CellState.P: ([], []),
        CellState.AP: ([], []),
    }
    high: dict[CellState, list[np.ndarray]] = {CellState.P: [], CellState.AP: []}
    flags = iter(declared)
    for _ in range(cycles):
        for state in (CellState.P, CellState.AP):
            if next(flags):
                next(results)  # (the declared states)
            report = next(results)  # its last verify read is the first read of the state
            g = report.conductance[None]
            if reads > 1:
                g = np.concatenate([g, next(results)])
            out[state][0].append(g)
            out[state][1].append(report.residual)
            if bias_read_voltage is not None:
                high[state].append(next(results))
    return _switching_data(out, high, bias_read_voltage is not None)


def _as_selection(chip: Chip, selected: np.ndarray) -> np.ndarray:
    """``selected`` as a boolean ``(rows, cols)`` mask.

    Raises:
        InvalidRequest: wrong dtype or shape (nothing applied).
    """
    shape = (chip.layout.rows, chip.layout.cols)
    mask = np.asarray(selected)
    if mask.dtype != bool or mask.shape != shape:
        raise InvalidRequest(
            f"selection must be a boolean mask of shape {shape}, got {mask.dtype} {mask.shape}"
        )
    return mask


def _switching_data(out, high, with_bias: bool) -> SwitchingData:
    return SwitchingData(
        g_after_p=np.stack(out[CellState.P][0]),
        g_after_ap=np.stack(out[CellState.AP][0]),
        residual_p=np.stack(out[CellState.P][1]),
        residual_ap=np.stack(out[CellState.AP][1]),
        g_high_p=np.stack(high[CellState.P]) if with_bias else None,
        g_high_ap=np.stack(high[CellState.AP]) if with_bias else None,
    )


def derive_thresholds(mean_p: np.ndarray, mean_ap: np.ndarray) -> Thresholds:
    """Thresholds from measured distributions of conductance after P and AP writes (S).

    The P and AP medians and the robust spread (1.4826 x median absolute deviation of ln G)
    of each population are taken over all devices; defects are few, so they move neither.
    The state threshold is the geometric mean of the two medians; the short threshold sits
    ``SHORT_SIGMAS`` spreads (at least ``MIN_SHORT_MARGIN`` in ln G) above the P median; the
    open threshold at ``OPEN_FRACTION`` of the AP median.

    Raises:
        ProtocolError: the two populations are not separated (nothing switched).
    """
    lp = np.log(np.clip(np.asarray(mean_p, float), 1e-15, None)).ravel()
    lap = np.log(np.clip(np.asarray(mean_ap, float), 1e-15, None)).ravel()
    med_p, med_ap = float(np.median(lp)), float(np.median(lap))
    sig_p = 1.4826 * float(np.median(np.abs(lp - med_p)))
    sig_ap = 1.4826 * float(np.median(np.abs(lap - med_ap)))
    if not med_p > med_ap + 3 * max(sig_p, sig_ap, 1e-3):
        raise ProtocolError(
            f"P and AP conductances are not separated (medians {np.exp(med_p):.3g} S and "
            f"{np.exp(med_ap):.3g} S): the devices did not switch; check the write pulse"
        )
    margin = max(SHORT_SIGMAS * sig_p, MIN_SHORT_MARGIN)
    return Thresholds(
        state_g=float(np.exp(0.5 * (med_p + med_ap))),
        short_g=float(np.exp(med_p + margin)),
        open_g=float(OPEN_FRACTION * np.exp(med_ap)),
        method=(
            f"from measured distributions: state = geometric mean of P and AP medians; "
            f"short = P median x exp(max({SHORT_SIGMAS:g} robust sigma of ln G_P, "
            f"{MIN_SHORT_MARGIN:g})); open = {OPEN_FRACTION:g} x AP median"
        ),
        median_g_p=float(np.exp(med_p)),
        median_g_ap=float(np.exp(med_ap)),
        sigma_ln_p=sig_p,
        sigma_ln_ap=sig_ap,
    )


def classify(mean_p: np.ndarray, mean_ap: np.ndarray, thresholds: Thresholds) -> np.ndarray:
    """Defect code (uint8) of every device from per-cycle mean conductances (S).

    Args:
        mean_p, mean_ap: shape ``(cycles, ...)``: conductance after each P and AP write.

    Returns:
        Codes of shape ``mean_p.shape[1:]``.
    """
    t = thresholds
    p = np.asarray(mean_p, float)
    ap = np.asarray(mean_ap, float)
    g_p, g_ap = p.mean(axis=0), ap.mean(axis=0)
    short = (g_p > t.short_g) & (g_ap > t.short_g)
    open_ = (g_p < t.open_g) & (g_ap < t.open_g)
    stuck_p = (ap > t.state_g).all(axis=0) & ~short
    stuck_ap = (p < t.state_g).all(axis=0) & ~open_
    codes = np.full(g_p.shape, DefectCode.GOOD, dtype=np.uint8)
    codes[stuck_ap] = DefectCode.STUCK_AP
    codes[stuck_p] = DefectCode.STUCK_P
    codes[open_] = DefectCode.OPEN
    codes[short] = DefectCode.SHORT
    return codes


def detect_defects(
    chip: Chip,
    array: int,
    *,
    cycles: int = 3,
    reads: int = 1,
    thresholds: Thresholds | None = None,
    pulse: Pulse | None = None,
    read_voltage: float = DEFAULT_READ_VOLTAGE,
    bias_read_voltage: float | None = None,
) -> DefectMap:
    """Measure one array and classify every device (see the module docstring).

    Without ``thresholds`` each device is classified on its own evidence
    (:func:`classify_reads`); ``thresholds`` (e.g. from a calibration) select the
    fixed-threshold classifier instead. ``bias_read_voltage`` (V) adds the bias signature
    (see :func:`measure_switching`; used by the evidence classifier only).
    """
    data = measure_switching(
        chip,
        array,
        cycles=cycles,
        reads=reads,
        pulse=pulse,
        read_voltage=read_voltage,
        bias_read_voltage=bias_read_voltage,
    )
    if thresholds is not None:
        return defect_map(data.mean_p, data.mean_ap, thresholds)
    return classify_reads(
        data.g_after_p,
        data.g_after_ap,
        g_high_p=data.g_high_p,
        g_high_ap=data.g_high_ap,
        read_voltages=(read_voltage, bias_read_voltage),
    )


def defect_map(
    mean_p: np.ndarray, mean_ap: np.ndarray, thresholds: Thresholds | None = None
) -> DefectMap:
    """Classify devices from per-cycle mean conductances ``(cycles, ...)`` (S)."""
    t = thresholds or derive_thresholds(mean_p.mean(axis=0), mean_ap.mean(axis=0))
    return DefectMap(
        g_p=mean_p.mean(axis=0),
        g_ap=mean_ap.mean(axis=0),
        codes=classify(mean_p, mean_ap, t),
        thresholds=t,
    )


__all__ = [
    "DefectCode",
    "DefectMap",
    "SwitchingData",
    "Thresholds",
    "classify",
    "classify_reads",
    "defect_map",
    "derive_thresholds",
    "detect_defects",
    "measure_switching",
]
