"""Data-free digital compensation: a network trained for a whole lot (statistics-aware)
adapted to one die from the die's measured conductances alone, without retraining and
without reading any image through the die.

On a die, layer ``l``'s signal is ``a @ W_eff`` with ``W_eff = offset + slope * w``
(:func:`~mtj_hil.training.methods.die_realisation`, weight units), while the network was
trained for ``a @ w``. On an early-process die the error ``E = W_eff - w`` is mostly the
common-mode mismatch of the two devices of a pair (``offset``: 13 % spread of each device's
P + AP conductance against a 30 % TMR leaves about 0.7 weight units per pair), and it does
not depend on the weight, so no routing and no shift per neuron can hide its part that
varies with the input. Since the measured die says what ``E`` is, two digital corrections
remove what they can:

* **sparse compensation**: the weights whose error costs the network most, by the
  saliency ``F * E**2`` (``F``: the diagonal Fisher information of each weight of the network
  on ideal devices, ``E[(dL/dW)**2]`` over the training data, computed once per network),
  are corrected digitally, ``+ a_i * (w - W_eff)[i, j]``: one multiply-add per compensated
  weight per input, within a ``budget`` given as a fraction of the network's weights (the
  crossbar's multiply-adds), shared between the layers by the saliency;
* **per-neuron scale and shift**: ``scale * signal + shift`` fitted, per neuron, to the
  ideal signal in the least-squares sense over the layer's inputs, from their mean and
  covariance over the training data through the network on ideal devices (computed once per
  network): ``scale = (W_c' S w) / (W_c' S W_c)`` with ``S`` the covariance and ``W_c`` the
  compensated column, ``shift = mu @ w - scale * mu @ W_c``. This is the regression the
  read-based recalibration (:mod:`~mtj_hil.training.recalibration`, rank 0) fits from a
  calibration batch, computed here from the measured conductances; a neuron the die left
  mostly noise gets a small scale (its output is trusted less).

A network can also be trained for the compensation: statistics-aware training against
what it leaves of each sampled die (:func:`residual_realisation`: the weights it would
correct made ideal, chosen for the network training starts from) stops spending the
network's robustness on errors the die's compensation removes anyway.

Measured on held-out data (1t1r-early-process, 6 dies x 3 seeds, 20 % of the training set
held out; mean difference to software): the statistics-aware network with read-based
recalibration +4.51 pt, with this correction at budget 0 +4.63 (about the same, and no
reads), 0.05 +2.90, 0.1 +2.35, 0.2 +1.87, 0.3 +1.62; its LEA deployment +4.18 (read-based)
against +2.69, +2.06, +1.71, +1.62. Trained against the residual (budget 0.2): +1.23 alone,
+1.03 with LEA (paired against the same compensation of the statistics-aware network
-0.68 and -0.66 pt, standard error 0.25 and 0.39 over the 6 networks; the residual-trained
network without the compensation is +8 to +10: it is a network for compensated dies only);
at budget 0.1 +2.31 and +1.85. On the test set (bench, 6 dies x 3 seeds): +1.77 alone,
+2.01 with LEA, against +5.00 for LEA with read-based recalibration. Choosing the compensated weights by input
variance times ``E**2`` per layer instead of by the saliency gave +2.45 (LEA, 0.1); a
rank-k correction on the inputs' k principal directions (k (n_in + n_out) multiply-adds)
did worse for its cost (k = 8, 1904 multiply-adds: +2.75 without LEA); fitting the scale
and shift layer by layer through the emulated die instead of from ideal-input statistics
gained nothing (+1.79 against +1.71, LEA, 0.2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mtj_hil.training.bnn import BNN, LayerSignal, Realisation
from mtj_hil.training.errors import TrainingError

COMPENSATION_BUDGET = 0.2
"""Default fraction of a network's weights corrected digitally (``compensation_budget`` of
``mtj-hil experiment borders`` and of ``mtj-hil train --method defect-aware-compensated``;
the evidence it was chosen on: :class:`~mtj_hil.experiments.borders_config.BordersConfig`)."""
COMPENSATION_EPOCHS = 10
"""Default epochs a defect-aware network is fine-tuned further for its compensation
(:func:`~mtj_hil.training.methods.train_defect_aware_compensated`; ``compensation_epochs``
of both commands, chosen on held-out data as ``BordersConfig`` records)."""


@dataclass
class NetworkStatistics:
    """What the compensation needs of a network, the same for every die.

    Attributes:
        means: per layer, the mean of each input over the data, ``(n_in,)``.
        covariances: per layer, the inputs' covariance, ``(n_in, n_in)``.
        saliency: per layer, the diagonal Fisher information of each weight (mean squared
            gradient of the loss per weight-unit change of the signal's weight),
            ``(n_in, n_out)``.
    """

    means: list[np.ndarray]
    covariances: list[np.ndarray]
    saliency: list[np.ndarray]


def network_statistics(net: BNN, X: np.ndarray, y: np.ndarray) -> NetworkStatistics:
    """Input statistics and weight saliency of ``net`` on ideal devices over ``(X, y)``
    (training data; labels for the loss gradients).

    Raises:
        TrainingError: ``X`` is not ``(n >= 2, net's inputs)`` or ``y`` not ``(n,)`` labels
            of the network's classes.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[0] < 2 or X.shape[1] != net.sizes[0]:
        raise TrainingError(f"X {X.shape} does not fit a network with {net.sizes[0]} inputs")
    if y.shape != (X.shape[0],) or y.min() < 0 or y.max() >= net.sizes[-1]:
        raise TrainingError(f"labels {y.shape} do not fit {X.shape[0]} rows and the classes")
    weights = net.binary_weights()
    acts, pres = [X], []
    for i, w in enumerate(weights):
        pres.append(net.gains[i] * (acts[-1] @ w) + net.biases[i])
        if i < net.n_layers - 1:
            acts.append(net.activate(pres[-1]))
    pre = pres[-1]
    shifted = pre - pre.max(axis=1, keepdims=True)
    d = np.exp(shifted)
    d /= d.sum(axis=1, keepdims=True)
    d[np.arange(y.size), y] -= 1.0  # per-row dL/dlogits
    saliency: list[np.ndarray] = [np.empty(0)] * net.n_layers
    for i in range(net.n_layers - 1, -1, -1):
        saliency[i] = net.gains[i] ** 2 * ((acts[i] ** 2).T @ (d**2)) / y.size
        if i:
            # straight-through derivative of the activation, as in training
            a, p = acts[i], pres[i - 1]
            slope = 1.0 - a**2 if net.activation == "tanh" else (np.abs(p) <= 1.0) * 1.0
            d = net.gains[i] * (d @ weights[i].T) * slope
    means = [a.mean(axis=0) for a in acts]
    covs = [np.atleast_2d(np.cov(a, rowvar=False, bias=True)) for a in acts]
    return NetworkStatistics(means, covs, saliency)


@dataclass
class Compensation:
    """Per layer, ``signal -> scale * (signal + a @ sparse) + shift`` (weight units).

    Attributes:
        scale: per layer, ``(n_out,)``, dimensionless.
        shift: per layer, ``(n_out,)``, weight units.
        sparse: per layer, ``(n_in, n_out)``, the digital correction of the compensated
            weights (zero elsewhere), weight units.
    """

    scale: list[np.ndarray]
    shift: list[np.ndarray]
    sparse: list[np.ndarray]

    def digital_cost(self) -> int:
        """Multiply-adds per input the sparse part adds (one per compensated weight)."""
        return int(sum(np.count_nonzero(s) for s in self.sparse))

    def wrap(self, layer_signal: LayerSignal) -> LayerSignal:
        """``layer_signal`` with the compensation applied to every layer's output."""

        def corrected(layer: int, a: np.ndarray) -> np.ndarray:
            raw = layer_signal(layer, a) + a @ self.sparse[layer]
            return self.scale[layer] * raw + self.shift[layer]

        return corrected


def compensated_weights(
    net: BNN,
    realisation: Sequence[Realisation],
    stats: NetworkStatistics,
    budget: float,
) -> list[np.ndarray]:
    """Per layer, a boolean ``(n_in, n_out)`` mask of the weights the compensation corrects:
    the ``round(budget * weights)`` largest saliency times squared weight error over the
    whole network (arguments as :func:`fit_compensation`).

    Raises:
        TrainingError: shapes disagree, or ``budget`` outside [0, 1].
    """
    if not 0.0 <= budget <= 1.0:
        raise TrainingError(f"compensation budget must lie in [0, 1], got {budget}")
    weights = net.binary_weights()
    if len(realisation) != net.n_layers or len(stats.saliency) != net.n_layers:
        raise TrainingError(f"realisation or statistics do not fit a network of {net.sizes}")
    scores = []
    for li, ((offset, slope), w, f) in enumerate(
        zip(realisation, weights, stats.saliency, strict=True)
    ):
        if np.shape(offset) != w.shape or np.shape(slope) != w.shape or f.shape != w.shape:
            raise TrainingError(f"layer {li}: realisation or saliency is not {w.shape}")
        scores.append((f * (np.asarray(offset) + np.asarray(slope) * w - w) ** 2).ravel())
    flat = np.concatenate(scores)
    chosen = np.zeros(flat.size, dtype=bool)
    chosen[np.argsort(-flat, kind="stable")[: int(round(budget * flat.size))]] = True
    out, start = [], 0
    for w in weights:
        out.append(chosen[start : start + w.size].reshape(w.shape))
        start += w.size
    return out


def residual_realisation(
    net: BNN,
    realisation: Sequence[Realisation],
    stats: NetworkStatistics,
    budget: float,
) -> list[Realisation]:
    """``realisation`` with the weights :func:`compensated_weights` would correct made ideal
    (offset 0, slope 1): what the compensation leaves of a die, for training a network
    against it (a statistics-aware training's ``adjust``; ``net`` and ``stats`` are those
    of the network training starts from).

    Raises:
        TrainingError: as :func:`compensated_weights`.
    """
    return made_ideal(realisation, compensated_weights(net, realisation, stats, budget))


def made_ideal(
    realisation: Sequence[Realisation], chosen: Sequence[np.ndarray]
) -> list[Realisation]:
    """``realisation`` with the weights ``chosen`` (per layer, a boolean ``(n_in, n_out)``
    mask) made ideal: offset 0, slope 1."""
    return [
        (np.where(pick, 0.0, off), np.where(pick, 1.0, sl))
        for (off, sl), pick in zip(realisation, chosen, strict=True)
    ]


def sparse_compensation(
    net: BNN, realisation: Sequence[Realisation], chosen: Sequence[np.ndarray]
) -> Compensation:
    """The compensation of a network fine-tuned on the die through
    ``made_ideal(realisation, chosen)``: the ``chosen`` weights' errors corrected digitally,
    scale 1 and shift 0 (the fine-tuning already fitted the die's scale and shift, in its
    weights and biases).

    Raises:
        TrainingError: the realisation or a mask does not fit ``net``.
    """
    weights = net.binary_weights()
    if len(realisation) != net.n_layers or len(chosen) != net.n_layers:
        raise TrainingError(f"realisation or masks do not fit a network of {net.sizes}")
    sparse = []
    for li, ((off, sl), w, pick) in enumerate(zip(realisation, weights, chosen, strict=True)):
        if np.shape(off) != w.shape or np.shape(sl) != w.shape or np.shape(pick) != w.shape:
            raise TrainingError(f"layer {li}: realisation or mask is not {w.shape}")
        sparse.append(np.where(pick, w - (np.asarray(off) + np.asarray(sl) * w), 0.0))
    return Compensation(
        [np.ones(w.shape[1]) for w in weights], [np.zeros(w.shape[1]) for w in weights], sparse
    )


def fit_compensation(
    net: BNN,
    realisation: Sequence[Realisation],
    stats: NetworkStatistics,
    budget: float = 0.0,
) -> Compensation:
    """The compensation of ``net`` on a die (see the module docstring).

    Args:
        net: the deployed network.
        realisation: per layer, the die's measured ``(offset, slope)`` where ``net`` is
            placed (:func:`~mtj_hil.training.methods.die_realisation`, or the LEA average
            :func:`~mtj_hil.training.ensemble.lea_realisation`).
        stats: :func:`network_statistics` of ``net``.
        budget: fraction of the network's weights compensated digitally (0: scale and
            shift only; 1: every weight, the die's signal made exact).

    Raises:
        TrainingError: shapes disagree, or ``budget`` outside [0, 1].
    """
    chosen = compensated_weights(net, realisation, stats, budget)
    weights = net.binary_weights()
    errors = [
        np.asarray(off) + np.asarray(sl) * w - w
        for (off, sl), w in zip(realisation, weights, strict=True)
    ]
    scales, shifts, sparse = [], [], []
    for w, e, mu, cov, pick in zip(
        weights, errors, stats.means, stats.covariances, chosen, strict=True
    ):
        fix = np.where(pick, -e, 0.0)
        col = w + e + fix  # the compensated effective weights
        num = np.einsum("ij,ik,kj->j", col, cov, w)
        den = np.einsum("ij,ik,kj->j", col, cov, col)
        live = den > 1e-12 * max(float(np.trace(cov)), 1e-300)
        scale = np.where(live, num / np.where(live, den, 1.0), 0.0)
        scales.append(scale)
        shifts.append(mu @ w - scale * (mu @ col))
        sparse.append(fix)
    return Compensation(scales, shifts, sparse)


def predict_compensated(
    net: BNN, X: np.ndarray, layer_signal: LayerSignal, compensation: Compensation
) -> np.ndarray:
    """Classes predicted by ``net`` on the die (``layer_signal``, weight units) with the
    compensation applied.

    Raises:
        TrainingError: the compensation does not match the network.
    """
    want = [(a, b) for a, b in zip(net.sizes[:-1], net.sizes[1:], strict=True)]
    if [s.shape for s in compensation.sparse] != want:
        raise TrainingError(f"compensation does not match a network of {net.sizes}")
    logits = net.forward_signals(X, compensation.wrap(layer_signal))
    return np.argmax(logits, axis=1)
