"""Evaluation of a binary network: on ideal devices (:func:`evaluate_software`), on an
emulated die model with its read noise (:func:`evaluate_emulated`,
:func:`predict_emulated`), and through any chip: :func:`crossbar_layer_currents` +
:func:`forward_currents` take a ``read(array, voltages) -> currents`` (e.g. ``Chip.read``)
and tile, read and add the partial sums exactly as hardware would.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mtj_hil.training.bnn import BNN, Realisation
from mtj_hil.training.die_model import DieModel
from mtj_hil.training.errors import TrainingError
from mtj_hil.training.mapping import Placement, target_bits, weight_response

V_READ = 0.1
"""Default read voltage (V) for an input of 1."""

ArrayRead = Callable[[int, np.ndarray], np.ndarray]
"""``(array, voltages (batch, rows) V) -> currents (batch, cols) A``, like ``Chip.read``."""
LayerCurrents = Callable[[int, np.ndarray], np.ndarray]
"""``(layer_index, voltages (batch, n_in) V) -> differential currents (batch, n_out) A``."""


def die_realisation(die: DieModel, placement: Placement) -> list[Realisation]:
    """Per-layer ``(offset, slope)`` of the weights as placed on ``die`` (noise-free)."""
    if die.layout != placement.layout:
        raise TrainingError("die model and placement use different layouts")
    ones = np.ones(die.g_p.shape, dtype=np.uint8)
    return weight_response(placement, die.conductance(ones), die.conductance(0 * ones))


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    """Fraction of rows whose argmax equals the label."""
    return float(np.mean(np.argmax(logits, axis=1) == np.asarray(y)))


def evaluate_software(net: BNN, X: np.ndarray, y: np.ndarray) -> float:
    """Accuracy with ideal devices (weights exactly +/-1)."""
    return accuracy(net.forward(X), y)


def evaluate_emulated(
    net: BNN,
    X: np.ndarray,
    y: np.ndarray,
    die: DieModel,
    placement: Placement,
    noise: bool = False,
    rng: np.random.Generator | None = None,
    v_read: float = V_READ,
) -> float:
    """Accuracy of ``net`` programmed on an emulated ``die`` (see :func:`predict_emulated`).

    Raises:
        TrainingError: noise requested without ``rng``, or die and placement disagree.
    """
    return float(np.mean(predict_emulated(net, X, die, placement, noise, rng, v_read) == y))


def predict_emulated(
    net: BNN,
    X: np.ndarray,
    die: DieModel,
    placement: Placement,
    noise: bool = False,
    rng: np.random.Generator | None = None,
    v_read: float = V_READ,
) -> np.ndarray:
    """Class predicted for each row of ``X`` by ``net`` programmed on an emulated ``die``.

    Without ``noise`` the die's effective weights are used directly (ideal devices reproduce
    the software network bit for bit). With ``noise`` every input sample is a separate
    read of every array with the die's relative read noise, through the same tiled path a
    measured chip uses (:func:`crossbar_layer_currents`).

    Raises:
        TrainingError: noise requested without ``rng``, or die and placement disagree.
    """
    if not noise:
        return np.argmax(net.forward(X, die_realisation(die, placement)), axis=1)
    if rng is None:
        raise TrainingError("evaluate_emulated(noise=True) needs an rng")
    if die.layout != placement.layout:
        raise TrainingError("die model and placement use different layouts")
    bits, _ = target_bits(placement, net.binary_weights())
    currents = crossbar_layer_currents(placement, emulated_read(die, bits, rng), v_read)
    return np.argmax(forward_currents(net, X, currents, placement, v_read), axis=1)


def emulated_read(die: DieModel, bits: np.ndarray, rng: np.random.Generator | None) -> ArrayRead:
    """An ``ArrayRead`` for ``die`` programmed with ``bits``: ``I = V @ G`` per array, plus
    read noise drawn independently per device and per read (sampled in current space:
    ``sigma * sqrt(V**2 @ G**2) * N(0, 1)``, exact for Gaussian device noise)."""
    G = die.conductance(bits)

    def read(array: int, voltages: np.ndarray) -> np.ndarray:
        g = G[array]
        current = voltages @ g
        if die.read_noise > 0 and rng is not None:
            spread = np.sqrt((voltages**2) @ (g**2))
            current = current + die.read_noise * spread * rng.standard_normal(current.shape)
        return current

    return read


def crossbar_layer_currents(
    placement: Placement, read: ArrayRead, v_read: float = V_READ
) -> LayerCurrents:
    """Build ``layer_currents(layer, voltages) -> I+ - I-`` from per-array reads.

    For each tile the layer's voltages are routed to the tile's rows (others 0 V), the array is
    read, pairs are differenced and partial sums of row tiles are added digitally. Negative
    inputs (tanh hidden units) are read as two non-negative reads.
    """
    L = placement.layout
    plans = []
    for lp in placement.layers:
        tiles = []
        for t in lp.tiles:
            ins = np.flatnonzero((lp.in_rows >= t.in_start) & (lp.in_rows < t.in_stop))
            outs = np.flatnonzero((lp.out_slots >= t.out_start) & (lp.out_slots < t.out_stop))
            if ins.size == 0 or outs.size == 0:
                continue
            rows = t.row_offset + lp.in_rows[ins] - t.in_start
            plus = t.col_offset + 2 * (lp.out_slots[outs] - t.out_start)
            tiles.append((t.array, ins, rows, outs, plus))
        plans.append((lp.n_out, tiles))

    def tile_read(array: int, v: np.ndarray) -> np.ndarray:
        # Crossbar drivers may be unipolar: a signed input is read as its positive and its
        # negative part, and the two currents subtracted (the crossbar is linear).
        if not (v < 0).any():
            return read(array, v)
        return read(array, np.maximum(v, 0.0)) - read(array, np.maximum(-v, 0.0))

    def layer_currents(layer: int, voltages: np.ndarray) -> np.ndarray:
        n_out, tiles = plans[layer]
        out = np.zeros((voltages.shape[0], n_out))
        for array, ins, rows, outs, plus in tiles:
            v = np.zeros((voltages.shape[0], L.rows))
            v[:, rows] = voltages[:, ins]
            current = tile_read(array, v)
            out[:, outs] += current[:, plus] - current[:, plus + 1]
        return out

    return layer_currents


def forward_currents(
    net: BNN,
    X: np.ndarray,
    layer_currents: LayerCurrents,
    placement: Placement,
    v_read: float = V_READ,
) -> np.ndarray:
    """Logits from crossbar currents: inputs are driven as ``a * v_read`` (V) and each
    layer's signal is ``(I+ - I-) / ((G_P_nom - G_AP_nom) * v_read)``. This is where a measured
    chip plugs in (pass ``crossbar_layer_currents(placement, chip.read)``)."""
    g_norm = placement.layout.nominal_g_p - placement.layout.nominal_g_ap
    return net.forward_signals(X, lambda i, a: layer_currents(i, a * v_read) / (g_norm * v_read))
