"""Chip-in-the-loop training: forward passes measured on the die, gradients in software.

The network is written onto the die (write-verify), then every minibatch is read through the
crossbars; the measured layer signals replace the computed ones in the forward pass and the
straight-through gradients are taken in software. After each update only the devices of
weights whose sign flipped are rewritten. Defects, variation and write errors the die really
has are therefore seen by training without a model of them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from mtj_hil.protocols.chip import Chip, Pulse
from mtj_hil.protocols.write import write_weights
from mtj_hil.training.bnn import BNN, TrainConfig, fit
from mtj_hil.training.datasets import Dataset
from mtj_hil.training.errors import TrainingError
from mtj_hil.training.evaluation import V_READ, crossbar_layer_currents
from mtj_hil.training.mapping import Placement, target_bits
from mtj_hil.training.methods import TrainResult


@dataclass
class LoopStats:
    """What a chip-in-the-loop training cost on the die.

    Attributes:
        reads: crossbar read calls made by the forward passes.
        rewrites: weight-sign flips written back to the die (cells, after the first write).
        residual: used devices left in the wrong state by write-verify (last write of each).
    """

    reads: int = 0
    rewrites: int = 0
    residual: int = 0


def train_chip_in_the_loop(
    data: Dataset,
    net: BNN,
    chip: Chip,
    placement: Placement,
    rng: np.random.Generator,
    config: TrainConfig | None = None,
    *,
    v_read: float = V_READ,
    pulse: Pulse | None = None,
    thresholds: np.ndarray | None = None,
) -> tuple[TrainResult, LoopStats]:
    """Fine-tune ``net`` (in place) with its forward passes measured on ``chip``.

    Args:
        net: the starting network (usually trained in software); its sizes must match the
            placement.
        placement: where the layers live on the die.
        v_read: read voltage (V) of an input of 1.
        thresholds: the P/AP threshold (S) of every device ``(arrays, rows, cols)`` its
            write-verify judges it by (e.g. ``DieModel.state_thresholds()``: each device's
            own measured levels); default the die's nominal one.

    Raises:
        TrainingError: the placement is for another die geometry or another network, or the
            data do not fit (before anything is written).
    """
    L, P = chip.layout, placement.layout
    if (L.n_arrays, L.rows, L.cols) != (P.n_arrays, P.rows, P.cols):
        raise TrainingError("the placement was made for another die geometry")
    if placement.sizes != net.sizes:
        raise TrainingError(f"placement is for {placement.sizes}, network is {net.sizes}")
    if data.X_train.shape[1] != net.sizes[0] or data.y_train.max() >= net.sizes[-1]:
        raise TrainingError("the data do not fit the network")
    config = config or TrainConfig(epochs=5, lr=0.003, lr_final=0.0003)
    start = time.perf_counter()
    stats = LoopStats()
    bits, used = target_bits(placement, net.binary_weights())
    programmed = bits.copy()
    residual = np.zeros(used.shape, bool)

    def write(array: int, selected: np.ndarray) -> None:
        thr = None if thresholds is None else thresholds[array]
        report = write_weights(
            chip, array, programmed[array], selected=selected, pulse=pulse, threshold=thr
        )
        residual[array][selected] = report.residual[selected]

    for array in placement.arrays_used():
        write(array, used[array])

    def measured_read(array: int, voltages: np.ndarray) -> np.ndarray:
        stats.reads += 1
        return chip.read(array, voltages)

    currents = crossbar_layer_currents(placement, measured_read, v_read)
    g_norm = L.nominal_g_p - L.nominal_g_ap

    def layer_signal(layer: int, a: np.ndarray) -> np.ndarray:
        return currents(layer, a * v_read) / (g_norm * v_read)

    def rewrite_flips(trained: BNN) -> None:
        new_bits, _ = target_bits(placement, trained.binary_weights())
        changed = used & (new_bits != programmed)
        if not changed.any():
            return
        programmed[changed] = new_bits[changed]
        stats.rewrites += int(changed.sum())
        for array in np.flatnonzero(changed.any(axis=(1, 2))):
            write(int(array), changed[array])

    history = fit(
        net,
        data.X_train,
        data.y_train,
        config,
        rng,
        layer_signal=layer_signal,
        after_step=rewrite_flips,
    )
    stats.residual = int((residual & used).sum())
    result = TrainResult(net, history, "chip-in-the-loop", time.perf_counter() - start)
    return result, stats
