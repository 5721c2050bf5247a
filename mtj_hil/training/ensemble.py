"""Layer Ensemble Averaging (LEA): every layer mapped ``k`` times onto different arrays of the
die, and the copies' outputs averaged digitally.

After Yousuf et al., "Layer ensemble averaging for fault tolerance in memristive neural
networks", Nature Communications 16 (2025), doi:10.1038/s41467-025-56319-6: a network trained
in software is mapped without per-die retraining; each layer is mapped onto several device
sets and a subset of the mappings, chosen from the measured defect map, is averaged. The
price is devices: a layer with ``k`` copies occupies ``k`` times its devices
(:meth:`EnsemblePlacement.device_cost`). The paper reports, on the same 20,000-device
platform family, MNIST recovered from about 40 % to 89.6 % at 20 % stuck devices in
simulation, and a continual-learning task from 55 % to 71 % on hardware.

Here the averaging is per logical output: for each output of a layer, the copies whose
column pair holds the fewest devices measured as not GOOD are averaged (all copies on a
clean die). Because ``I = V @ G`` is linear, averaging the copies' currents equals using the
average effective weight, so emulation is exact with :class:`~mtj_hil.training.bnn.BNN`
realisations and the measured path averages per-copy crossbar reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mtj_hil.protocols.chip import Layout
from mtj_hil.protocols.defects.detect import DefectCode
from mtj_hil.training.bnn import BNN, Realisation
from mtj_hil.training.capacity import devices_needed
from mtj_hil.training.die_model import DieModel
from mtj_hil.training.errors import TrainingError
from mtj_hil.training.evaluation import (
    V_READ,
    ArrayRead,
    LayerCurrents,
    crossbar_layer_currents,
    emulated_read,
    forward_currents,
)
from mtj_hil.training.mapping import (
    DeviceIndex,
    LayerPlacement,
    Placement,
    defect_cost,
    layer_on_arrays,
    target_bits,
    tile_grid,
    weight_response,
)

MAX_COPIES = 8
"""Most copies of one layer :func:`auto_copies` proposes."""


class EnsemblePlacement:
    """Every copy of every layer on one die; copies never share a device.

    Attributes:
        layout: die geometry.
        copies: per layer, its copies (each a :class:`LayerPlacement` of the same size).
        flat: one :class:`Placement` holding all copies as consecutive "layers" (layer ``l``
            copy ``c`` is flat layer ``start[l] + c``), used for overlap checks, bit maps
            and reads.

    Raises:
        TrainingError: a layer without copies, copies of different sizes, layers that do
            not chain, or any tile overlapping another / leaving its array.
    """

    def __init__(self, layout: Layout, copies: Sequence[Sequence[LayerPlacement]]) -> None:
        self.layout = layout
        self.copies = [tuple(c) for c in copies]
        if not self.copies or any(len(c) == 0 for c in self.copies):
            raise TrainingError("every layer needs at least one copy")
        for li, group in enumerate(self.copies):
            if len({(lp.n_in, lp.n_out) for lp in group}) != 1:
                raise TrainingError(f"layer {li}: copies of different sizes")
            if li and group[0].n_in != self.copies[li - 1][0].n_out:
                raise TrainingError(f"layer {li} does not take layer {li - 1}'s outputs")
        self.flat = Placement(layout, [lp for group in self.copies for lp in group])
        self.start = np.cumsum([0] + [len(g) for g in self.copies])[:-1].tolist()

    @property
    def sizes(self) -> list[int]:
        """Layer widths, inputs first."""
        return [self.copies[0][0].n_in] + [g[0].n_out for g in self.copies]

    @property
    def n_copies(self) -> list[int]:
        """Copies per layer."""
        return [len(g) for g in self.copies]

    def index(self, layer: int, copy: int) -> DeviceIndex:
        """Device addresses of one copy of one layer."""
        return self.flat.index(self.start[layer] + copy)

    def devices(self) -> int:
        """Devices holding a weight, all copies counted (two per weight and copy)."""
        return int(self.flat.used_mask().sum())

    def device_cost(self) -> float:
        """Devices used relative to one copy of every layer (1.0 = no redundancy)."""
        single = sum(2 * g[0].n_in * g[0].n_out for g in self.copies)
        return self.devices() / single

    def expand(self, weights: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per-layer weights repeated once per copy, in :attr:`flat` order."""
        if len(weights) != len(self.copies):
            raise TrainingError(f"{len(weights)} weight matrices for {len(self.copies)} layers")
        return [w for w, g in zip(weights, self.copies, strict=True) for _ in g]

    def target_bits(self, weights: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Bits to program and devices used (see :func:`mapping.target_bits`), every copy."""
        return target_bits(self.flat, self.expand(weights))

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form: the flat placement and the copies per layer."""
        return {"flat": self.flat.as_dict(), "n_copies": self.n_copies}

    @classmethod
    def from_dict(cls, d: dict[str, Any], layout: Layout) -> EnsemblePlacement:
        """Inverse of :meth:`as_dict`.

        Raises:
            TrainingError: another layout, or copy counts that do not match the layers.
        """
        flat = Placement.from_dict(d["flat"], layout)
        counts = [int(k) for k in d["n_copies"]]
        if sum(counts) != len(flat.layers) or min(counts, default=0) < 1:
            raise TrainingError(f"copy counts {counts} do not match {len(flat.layers)} layers")
        groups, k = [], 0
        for n in counts:
            groups.append(flat.layers[k : k + n])
            k += n
        return cls(layout, groups)


def arrays_needed(sizes: Sequence[int], layout: Layout, copies: Sequence[int]) -> list[int]:
    """Arrays each layer needs with its copies (one tile per array)."""
    if len(copies) != len(sizes) - 1 or min(copies, default=0) < 1:
        raise TrainingError(
            f"copies {list(copies)} must be >= 1 for each of {len(sizes) - 1} layers"
        )
    return [
        int(np.prod(tile_grid(a, b, layout))) * k
        for a, b, k in zip(sizes[:-1], sizes[1:], copies, strict=True)
    ]


def check_ensemble_fits(sizes: Sequence[int], layout: Layout, copies: Sequence[int]) -> None:
    """Raise unless ``copies`` of each layer fit on the die, saying what they need.

    Raises:
        TrainingError: naming arrays and devices needed and available.
    """
    need = sum(arrays_needed(sizes, layout, copies))
    if need > layout.n_arrays:
        devices = sum(2 * a * b * k for a, b, k in zip(sizes[:-1], sizes[1:], copies, strict=True))
        raise TrainingError(
            f"{'-'.join(map(str, sizes))} with copies {list(copies)} needs {need} arrays "
            f"({devices} devices in tiles of {layout.rows} inputs x {layout.cols // 2} pairs); "
            f"the die has {layout.n_arrays} arrays ({layout.n_arrays * layout.rows * layout.cols} "
            "devices)"
        )


def auto_copies(
    sizes: Sequence[int],
    layout: Layout,
    max_copies: int = MAX_COPIES,
    usable: int | None = None,
    arrays: int | None = None,
) -> list[int]:
    """The most copies that fit, given to the last layers first (they hold fewest devices
    and every output depends on them): each layer from the last gets as many as fit with
    one copy of every earlier layer.

    Args:
        usable: the die's usable (GOOD) devices, if measured: copies that would occupy more
            devices than that are not proposed (one copy of every layer always is; see
            :func:`capacity.check_usable` for refusing a die too small even for that).
        arrays: the die's arrays holding any usable device, if measured: copies needing
            more arrays than that are not proposed either (default: every array).

    Raises:
        TrainingError: not even one copy of every layer fits.
    """
    copies = [1] * (len(sizes) - 1)
    check_ensemble_fits(sizes, layout, copies)
    room = layout.n_arrays if arrays is None else min(arrays, layout.n_arrays)
    for li in range(len(copies) - 1, -1, -1):
        while copies[li] < max_copies:
            trial = copies[:li] + [copies[li] + 1] + copies[li + 1 :]
            if sum(arrays_needed(sizes, layout, trial)) > room:
                break
            if usable is not None and devices_needed(sizes, trial) > usable:
                break
            copies = trial
    return copies


def place_ensemble(
    sizes: Sequence[int],
    layout: Layout,
    copies: Sequence[int],
    defects: np.ndarray | None = None,
    input_importance: np.ndarray | None = None,
) -> EnsemblePlacement:
    """Place ``copies[l]`` copies of layer ``l``, each on arrays of its own.

    With a measured ``defects`` map the arrays of lowest defect cost
    (:func:`mapping.defect_cost`: UNCERTAIN counted as suspect, whole defective lines device
    by device) are used, the output layer's copies first, and each copy is laid out like the
    defect-aware placement (:func:`mapping.layer_on_arrays`: spare pair slots on open output
    lines, spare rows on shorted input lines, important inputs on clean rows); without it
    arrays are used in order.

    Raises:
        TrainingError: the copies do not fit (see :func:`check_ensemble_fits`) or the defect
            map has the wrong shape.
    """
    check_ensemble_fits(sizes, layout, copies)
    order = np.arange(layout.n_arrays)
    cost = np.zeros((layout.n_arrays, layout.rows, layout.cols))
    if defects is not None:
        codes = np.asarray(defects)
        if codes.shape != cost.shape:
            raise TrainingError(f"defect map has shape {codes.shape}")
        cost = defect_cost(codes)
        order = np.argsort(cost.sum(axis=(1, 2)), kind="stable")
    needs = arrays_needed(sizes, layout, copies)
    groups: list[list[LayerPlacement]] = [[] for _ in copies]
    k = 0
    for li in range(len(copies) - 1, -1, -1):
        a, b = sizes[li], sizes[li + 1]
        per_copy = needs[li] // copies[li]
        for _ in range(copies[li]):
            arrays = [int(x) for x in order[k : k + per_copy]]
            k += per_copy
            imp = input_importance if li == 0 else None
            groups[li].append(layer_on_arrays(a, b, layout, arrays, cost, imp, spare_rows=li > 0))
    return EnsemblePlacement(layout, groups)


def lea_weights(
    ensemble: EnsemblePlacement, defects: np.ndarray | None = None, beta: int | None = None
) -> list[np.ndarray]:
    """Averaging weights per layer, shape ``(copies, n_out)``, each column summing to 1.

    For each output the copies are ranked by the devices of their column pair that are not
    GOOD; with ``beta`` the best ``beta`` copies are averaged, without it every copy tied
    at the fewest. Without ``defects`` every copy is averaged.

    Raises:
        TrainingError: ``beta`` < 1 or the defect map has the wrong shape.
    """
    if beta is not None and beta < 1:
        raise TrainingError(f"beta must be >= 1, got {beta}")
    out = []
    for li, group in enumerate(ensemble.copies):
        k, n_out = len(group), group[0].n_out
        if defects is None:
            out.append(np.full((k, n_out), 1.0 / k))
            continue
        bad = np.asarray(defects) != DefectCode.GOOD
        cost = np.empty((k, n_out))
        for c in range(k):
            di = ensemble.index(li, c)
            cost[c] = (bad[di.array, di.row, di.plus] | bad[di.array, di.row, di.minus]).sum(0)
        if beta is None:
            keep = cost <= cost.min(axis=0, keepdims=True)
        else:
            ranks = np.argsort(np.argsort(cost, axis=0, kind="stable"), axis=0)
            keep = ranks < min(beta, k)
        out.append(keep / keep.sum(axis=0, keepdims=True))
    return out


def lea_realisation(
    ensemble: EnsemblePlacement,
    g_bit1: np.ndarray,
    g_bit0: np.ndarray,
    weights: Sequence[np.ndarray],
) -> list[Realisation]:
    """Per-layer ``(offset, slope)`` of the averaged copies (conductances in S, as for
    :func:`mapping.weight_response`)."""
    flat = weight_response(ensemble.flat, g_bit1, g_bit0)
    real = []
    for li, w in enumerate(weights):
        s = ensemble.start[li]
        off = sum(w[c][None, :] * flat[s + c][0] for c in range(w.shape[0]))
        sl = sum(w[c][None, :] * flat[s + c][1] for c in range(w.shape[0]))
        real.append((np.asarray(off), np.asarray(sl)))
    return real


def lea_layer_currents(
    ensemble: EnsemblePlacement,
    read: ArrayRead,
    weights: Sequence[np.ndarray],
    v_read: float = V_READ,
) -> LayerCurrents:
    """``layer_currents(layer, voltages)``: every copy read through ``read`` (e.g.
    ``Chip.read``) and the differential currents averaged per output with ``weights``;
    copies with zero weight on every output are not read."""
    per_copy = crossbar_layer_currents(ensemble.flat, read, v_read)

    def layer_currents(layer: int, voltages: np.ndarray) -> np.ndarray:
        w = weights[layer]
        out = np.zeros((voltages.shape[0], w.shape[1]))
        for c in range(w.shape[0]):
            if w[c].any():
                out += w[c][None, :] * per_copy(ensemble.start[layer] + c, voltages)
        return out

    return layer_currents


def check_lea(net: BNN, ensemble: EnsemblePlacement, weights: Sequence[np.ndarray]) -> None:
    """Raise TrainingError unless network, ensemble and averaging weights agree."""
    if ensemble.sizes != net.sizes:
        raise TrainingError(f"ensemble is for {ensemble.sizes}, network is {net.sizes}")
    shapes = [np.shape(w) for w in weights]
    if shapes != [(len(g), g[0].n_out) for g in ensemble.copies]:
        raise TrainingError(f"averaging weights {shapes} do not match copies {ensemble.n_copies}")


def predict_lea(
    net: BNN,
    X: np.ndarray,
    die: DieModel,
    ensemble: EnsemblePlacement,
    weights: Sequence[np.ndarray],
    noise: bool = False,
    rng: np.random.Generator | None = None,
    v_read: float = V_READ,
) -> np.ndarray:
    """Class predicted for each row of ``X`` by ``net`` averaged over its copies on an emulated
    ``die`` (with ``noise``: every sample reads every copy with the die's read noise).

    Raises:
        TrainingError: layouts, sizes or weights disagree, or noise without ``rng``.
    """
    check_lea(net, ensemble, weights)
    if die.layout != ensemble.layout:
        raise TrainingError("die model and ensemble use different layouts")
    if not noise:
        ones = np.ones(die.g_p.shape, dtype=np.uint8)
        real = lea_realisation(ensemble, die.conductance(ones), die.conductance(0 * ones), weights)
        return np.argmax(net.forward(X, real), axis=1)
    if rng is None:
        raise TrainingError("predict_lea(noise=True) needs an rng")
    bits, _ = ensemble.target_bits(net.binary_weights())
    currents = lea_layer_currents(ensemble, emulated_read(die, bits, rng), weights, v_read)
    return np.argmax(forward_currents(net, X, currents, ensemble.flat, v_read), axis=1)
