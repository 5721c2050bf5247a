"""Weight-aware placement: route a trained network's inputs and outputs so that the die's
measured devices realise its binary weights as closely as possible, without retraining.

A stuck device is harmless under the weight it is stuck at (a stuck-P device in the plus
column of a ``+1`` weight reads as intended) and halves the pair under the other; a short
or an open ruins a pair whatever it holds. Which inputs and outputs land on which physical
rows and pair slots is free (the controller routes them, :mod:`mtj_hil.training.mapping`),
so, given the weights, the permutation can put every defect where it does least harm.

:func:`match_weights` minimises the expected squared error of every pre-activation,
``sum_i E[x_i^2] (W_eff[i, j] - m w[i, j])^2`` (``m``: the die's median pair slope, so a
die whose devices all read 5 % high is not an error), by alternating two assignment
problems per layer (the outputs onto pair slots with the rows fixed, then the inputs onto
rows with the slots fixed; :func:`scipy.optimize.linear_sum_assignment`). Each step can only
lower the cost, and it starts from the placement it is given, so the result is never worse
than that placement by this measure. UNCERTAIN devices add :data:`SUSPECT_COST` per pair on
top of what their measured conductances predict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from scipy.optimize import linear_sum_assignment

from mtj_hil.protocols.defects.detect import DefectCode
from mtj_hil.training.bnn import BNN
from mtj_hil.training.die_model import DieModel
from mtj_hil.training.ensemble import EnsemblePlacement
from mtj_hil.training.errors import TrainingError
from mtj_hil.training.mapping import LayerPlacement, Placement, weight_response

SUSPECT_COST = 0.5
"""Extra squared weight error (weight units) charged per UNCERTAIN device of a pair: the
characterisation could not settle it, so its measured conductances are not trusted."""
MAX_ROUNDS = 8
"""Alternations of the two assignments per layer (it usually settles in two or three)."""


def full_grid(placement: Placement) -> Placement:
    """The same tiles with every physical row and pair slot used (identity routing): its
    layer ``l`` has shape ``(physical rows, physical slots)`` of the placement's layer."""
    layers = []
    for lp in placement.layers:
        n_in = int(max(t.in_stop for t in lp.tiles))
        n_out = int(max(t.out_stop for t in lp.tiles))
        layers.append(LayerPlacement(n_in, n_out, np.arange(n_in), np.arange(n_out), lp.tiles))
    return Placement(placement.layout, layers)


def typical_slope(slope: np.ndarray) -> float:
    """The die's typical pair slope of a layer (S per weight unit): the median of its
    finite positive slopes, 1 if it has none."""
    good = np.isfinite(slope) & (slope > 0)
    return float(np.median(slope[good])) if good.any() else 1.0


def layer_errors(placement: Placement, die: DieModel) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per layer, the squared weight error ``(for w = +1, for w = -1)`` of every
    (physical row, physical slot), shape ``(physical rows, physical slots)`` each, scaled by
    the die's median slope, with :data:`SUSPECT_COST` per UNCERTAIN device of the pair."""
    grid = full_grid(placement)
    ones = np.ones(die.g_p.shape, dtype=np.uint8)
    response = weight_response(grid, die.conductance(ones), die.conductance(0 * ones))
    suspect = (die.defects == DefectCode.UNCERTAIN).astype(np.float64)
    out = []
    for li, (offset, slope) in enumerate(response):
        m = typical_slope(slope)
        di = grid.index(li)
        penalty = SUSPECT_COST * (
            suspect[di.array, di.row, di.plus] + suspect[di.array, di.row, di.minus]
        )
        err_plus = (offset + slope - m) ** 2 / m**2 + penalty
        err_minus = (offset - slope + m) ** 2 / m**2 + penalty
        out.append((err_plus, err_minus))
    return out


def match_weights(
    placement: Placement,
    weights: Sequence[np.ndarray],
    die: DieModel,
    importance: Sequence[np.ndarray],
) -> Placement:
    """``placement`` with each layer's input rows and output slots re-routed so the die's
    devices realise ``weights`` best (see the module docstring); tiles are unchanged.

    Args:
        placement: where the layers are (e.g. :func:`~mtj_hil.training.mapping.place_defect_aware`).
        weights: binary weights per layer, ``(n_in, n_out)``, sign taken.
        die: the die's measured model (conductances in S, defect codes).
        importance: per layer, the mean square of each input over the data (``(n_in,)``,
            dimensionless): errors on inputs that are often large cost more.

    Raises:
        TrainingError: the layer counts or shapes do not match the placement, or the die
            model has another layout.
    """
    if die.layout != placement.layout:
        raise TrainingError("die model and placement use different layouts")
    if len(weights) != len(placement.layers) or len(importance) != len(placement.layers):
        raise TrainingError(
            f"{len(weights)} weight matrices and {len(importance)} importance vectors for "
            f"{len(placement.layers)} layers"
        )
    errors = layer_errors(placement, die)
    layers = []
    for li, (lp, w, imp, (ep, em)) in enumerate(
        zip(placement.layers, weights, importance, errors, strict=True)
    ):
        w = np.asarray(w)
        imp = np.asarray(imp, dtype=np.float64)
        if w.shape != (lp.n_in, lp.n_out) or imp.shape != (lp.n_in,):
            raise TrainingError(
                f"layer {li}: weights {w.shape} and importance {imp.shape} for a "
                f"{lp.n_in}x{lp.n_out} layer"
            )
        rows, slots = _alternate(w >= 0, imp, ep, em, lp.in_rows, lp.out_slots)
        layers.append(replace(lp, in_rows=rows, out_slots=slots))
    return Placement(placement.layout, layers)


def routing_cost(
    positive: np.ndarray,
    imp: np.ndarray,
    ep: np.ndarray,
    em: np.ndarray,
    rows: np.ndarray,
    slots: np.ndarray,
) -> float:
    """Cost of one layer routed as ``rows`` / ``slots`` (``positive``: ``w >= 0``)."""
    sub_p, sub_m = ep[np.ix_(rows, slots)], em[np.ix_(rows, slots)]
    return float(imp @ np.where(positive, sub_p, sub_m).sum(axis=1))


def _alternate(
    positive: np.ndarray,
    imp: np.ndarray,
    ep: np.ndarray,
    em: np.ndarray,
    rows: np.ndarray,
    slots: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Alternate the slot and row assignments until the cost stops falling."""
    wp = imp[:, None] * positive
    wm = imp[:, None] * ~positive
    rows, slots = np.asarray(rows, np.int64), np.asarray(slots, np.int64)
    cost = routing_cost(positive, imp, ep, em, rows, slots)
    for _ in range(MAX_ROUNDS):
        slot_cost = wp.T @ ep[rows] + wm.T @ em[rows]  # (n_out, physical slots)
        new_slots = _assign(slot_cost)
        row_cost = wp @ ep[:, new_slots].T + wm @ em[:, new_slots].T  # (n_in, physical rows)
        new_rows = _assign(row_cost)
        new_cost = routing_cost(positive, imp, ep, em, new_rows, new_slots)
        if new_cost >= cost - 1e-12 * max(cost, 1.0):
            break
        rows, slots, cost = new_rows, new_slots, new_cost
    return rows, slots


def _assign(cost: np.ndarray) -> np.ndarray:
    """Column chosen for each row of ``cost`` (rows <= columns), minimising the total."""
    r, c = linear_sum_assignment(cost)
    out = np.empty(cost.shape[0], dtype=np.int64)
    out[r] = c
    return out


def input_importance(net: BNN, X: np.ndarray) -> list[np.ndarray]:
    """Per layer, the mean square of each of its inputs over ``X`` (``net`` on ideal
    devices): the pixels' for the first layer, the hidden activations' after it."""
    moments: list[np.ndarray] = []

    def capture(i: int, a: np.ndarray) -> np.ndarray:
        moments.append((a**2).mean(axis=0))
        return a @ weights[i]

    weights = net.binary_weights()
    net.forward_signals(np.asarray(X, dtype=np.float64), capture)
    return moments


def match_ensemble(
    ensemble: EnsemblePlacement,
    weights: Sequence[np.ndarray],
    die: DieModel,
    importance: Sequence[np.ndarray],
) -> EnsemblePlacement:
    """Every copy of every layer of a Layer Ensemble Averaging placement routed for
    ``weights`` on the die (:func:`match_weights`, one copy at a time; arguments per layer as
    there)."""
    flat = match_weights(ensemble.flat, ensemble.expand(weights), die, ensemble.expand(importance))
    groups, k = [], 0
    for n in ensemble.n_copies:
        groups.append(flat.layers[k : k + n])
        k += n
    return EnsemblePlacement(ensemble.layout, groups)
