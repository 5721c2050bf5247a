"""Hardware in the loop: program a placed network onto a die through the Chip interface and
measure its outputs with batched crossbar reads.

Voltages in volts, currents in amperes, conductances in siemens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mtj_hil.protocols.chip import Chip, Pulse
from mtj_hil.protocols.write import WriteReport, write_weights
from mtj_hil.training.bnn import BNN
from mtj_hil.training.ensemble import EnsemblePlacement, check_lea, lea_layer_currents
from mtj_hil.training.errors import DatasetError, TrainingError
from mtj_hil.training.evaluation import (
    V_READ,
    LayerCurrents,
    accuracy,
    crossbar_layer_currents,
    forward_currents,
)
from mtj_hil.training.mapping import Placement, target_bits


@dataclass
class ProgramReport:
    """Outcome of writing one network: per-array write reports and the bit error rate.

    Attributes:
        reports: one :class:`WriteReport` per array written.
        selected: devices written (those holding a weight).
        residual: devices write-verify gave up on.
    """

    reports: list[WriteReport]

    @property
    def selected(self) -> int:
        return int(sum(r.selected.sum() for r in self.reports))

    @property
    def residual(self) -> int:
        return int(sum(r.errors for r in self.reports))

    @property
    def bit_error_rate(self) -> float:
        """Residual errors after verify as a fraction of the written devices."""
        return self.residual / self.selected if self.selected else 0.0


def check_placement(chip: Chip, placement: Placement) -> None:
    """Raise TrainingError unless ``placement`` was made for this chip's geometry."""
    L, P = chip.layout, placement.layout
    if (L.n_arrays, L.rows, L.cols) != (P.n_arrays, P.rows, P.cols):
        raise TrainingError(
            f"placement is for {P.n_arrays} arrays of {P.rows}x{P.cols}; the die has "
            f"{L.n_arrays} arrays of {L.rows}x{L.cols}"
        )


def program_bits(
    chip: Chip,
    bits: np.ndarray,
    used: np.ndarray,
    arrays: Sequence[int] | None = None,
    pulse: Pulse | None = None,
    thresholds: np.ndarray | None = None,
) -> ProgramReport:
    """Write ``bits`` (uint8 ``(n_arrays, rows, cols)``, 1 = P) to the devices in ``used``,
    array by array, with write-verify starting at ``pulse`` (default: the die's nominal one).
    ``thresholds`` (S, same shape): each device's P/AP verify threshold, e.g. a
    characterisation's ``DieModel.state_thresholds()`` (default: the die's nominal one).

    Raises:
        TrainingError: shapes do not match the die (nothing is written).
    """
    L = chip.layout
    shape = (L.n_arrays, L.rows, L.cols)
    if np.shape(bits) != shape or np.shape(used) != shape:
        raise TrainingError(f"bit map {np.shape(bits)} / mask {np.shape(used)}; expected {shape}")
    if thresholds is not None and np.shape(thresholds) != shape:
        raise TrainingError(f"thresholds {np.shape(thresholds)}; expected {shape}")
    todo = [a for a in range(L.n_arrays) if used[a].any()] if arrays is None else list(arrays)
    return ProgramReport(
        [
            write_weights(
                chip,
                a,
                bits[a],
                selected=used[a],
                pulse=pulse,
                threshold=None if thresholds is None else thresholds[a],
            )
            for a in todo
        ]
    )


def program_network(
    chip: Chip,
    net: BNN,
    placement: Placement,
    pulse: Pulse | None = None,
    thresholds: np.ndarray | None = None,
) -> ProgramReport:
    """Write the binary weights of ``net`` where ``placement`` puts them (``thresholds``: see
    :func:`program_bits`).

    Raises:
        TrainingError: the placement does not fit this die or this network (nothing written).
    """
    check_placement(chip, placement)
    if placement.sizes != net.sizes:
        raise TrainingError(f"placement is for {placement.sizes}, network is {net.sizes}")
    bits, used = target_bits(placement, net.binary_weights())
    return program_bits(chip, bits, used, placement.arrays_used(), pulse, thresholds)


def check_samples(net: BNN, X: np.ndarray, y: np.ndarray) -> None:
    """Raise DatasetError unless ``X`` is finite ``(n, n_in)`` and ``y`` holds ``n`` class
    indices of the network's outputs."""
    Xa, ya = np.asarray(X), np.asarray(y)
    n_in, n_out = net.sizes[0], net.sizes[-1]
    if Xa.ndim != 2 or Xa.shape[1] != n_in or ya.shape != (Xa.shape[0],):
        raise DatasetError(f"samples {Xa.shape} / labels {ya.shape} do not fit {n_in} inputs")
    if not np.all(np.isfinite(Xa)):
        raise DatasetError("samples contain NaN or infinite values")
    if not np.issubdtype(ya.dtype, np.integer) or (ya.size and (ya.min() < 0 or ya.max() >= n_out)):
        raise DatasetError(f"labels must be integers in 0..{n_out - 1}")


def chip_layer_currents(chip: Chip, placement: Placement, v_read: float = V_READ) -> LayerCurrents:
    """Differential layer currents measured on ``chip`` (one batched read per tile)."""
    check_placement(chip, placement)
    return crossbar_layer_currents(placement, chip.read, v_read)


def evaluate_on_chip(
    chip: Chip,
    net: BNN,
    placement: Placement,
    X: np.ndarray,
    y: np.ndarray,
    v_read: float = V_READ,
    program: bool = True,
    pulse: Pulse | None = None,
    thresholds: np.ndarray | None = None,
) -> tuple[float, ProgramReport | None]:
    """Accuracy of ``net`` measured on ``chip``: program it (unless ``program`` is False, for
    a network already on the die; ``thresholds``: see :func:`program_bits`), then read every
    sample through the crossbars.

    Returns:
        ``(accuracy, program report or None)``.

    Raises:
        TrainingError: network, placement and die disagree (before any write).
    """
    check_placement(chip, placement)
    if placement.sizes != net.sizes:
        raise TrainingError(f"placement is for {placement.sizes}, network is {net.sizes}")
    check_samples(net, X, y)
    report = program_network(chip, net, placement, pulse, thresholds) if program else None
    currents = chip_layer_currents(chip, placement, v_read)
    return accuracy(forward_currents(net, X, currents, placement, v_read), y), report


def evaluate_lea_on_chip(
    chip: Chip,
    net: BNN,
    ensemble: EnsemblePlacement,
    weights: Sequence[np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    v_read: float = V_READ,
    program: bool = True,
    pulse: Pulse | None = None,
    thresholds: np.ndarray | None = None,
) -> tuple[float, ProgramReport | None]:
    """Accuracy of ``net`` with Layer Ensemble Averaging measured on ``chip`` (simulated die,
    virtual lab or a station's die): every copy of every layer is programmed with
    write-verify (``thresholds``: see :func:`program_bits`), every copy read per sample and
    the copies averaged per output with ``weights`` (see :mod:`mtj_hil.training.ensemble`).

    Returns:
        ``(accuracy, program report or None)``.

    Raises:
        TrainingError: network, ensemble, weights and die disagree (before any write).
    """
    check_placement(chip, ensemble.flat)
    check_lea(net, ensemble, weights)
    check_samples(net, X, y)
    report = None
    if program:
        bits, used = ensemble.target_bits(net.binary_weights())
        report = program_bits(chip, bits, used, ensemble.flat.arrays_used(), pulse, thresholds)
    currents = lea_layer_currents(ensemble, chip.read, weights, v_read)
    return accuracy(forward_currents(net, X, currents, ensemble.flat, v_read), y), report
