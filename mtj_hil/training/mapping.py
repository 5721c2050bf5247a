"""Placement of network layers onto the crossbar arrays of a die.

A layer ``n_in x n_out`` uses differential pairs: logical output ``j`` occupies columns
``2k, 2k + 1`` of some tile, logical input ``i`` drives one row. Inputs and outputs are first
mapped to *physical* indices (``in_rows[i]``, ``out_slots[j]``; a permutation is free because
the digital controller routes the signals), and the physical index space is cut into tiles of
at most ``rows`` inputs by ``cols // 2`` pairs. Each tile sits at an explicit
``(array, row_offset, col_offset)``. Partial sums of row tiles are added digitally.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mtj_hil.protocols.chip import Layout
from mtj_hil.protocols.defects.detect import DefectCode
from mtj_hil.training.errors import TrainingError


@dataclass(frozen=True)
class Tile:
    """A block of one layer on one array.

    Attributes:
        array: array index on the die.
        row_offset: first row used in that array.
        col_offset: first column used (the plus column of the first pair).
        in_start, in_stop: physical input range ``[in_start, in_stop)`` on rows
            ``row_offset ..``.
        out_start, out_stop: physical output-slot range, slot ``s`` on columns
            ``col_offset + 2 (s - out_start)`` (plus) and the next one (minus).
    """

    array: int
    row_offset: int
    col_offset: int
    in_start: int
    in_stop: int
    out_start: int
    out_stop: int

    @property
    def n_rows(self) -> int:
        """Rows used."""
        return self.in_stop - self.in_start

    @property
    def n_cols(self) -> int:
        """Columns used (two per pair)."""
        return 2 * (self.out_stop - self.out_start)


@dataclass(frozen=True)
class LayerPlacement:
    """Where one layer lives.

    Attributes:
        n_in, n_out: logical layer size.
        in_rows: physical input index of each logical input, shape ``(n_in,)``.
        out_slots: physical pair slot of each logical output, shape ``(n_out,)``.
        tiles: tiles covering every used (physical input, physical slot) pair exactly once.
    """

    n_in: int
    n_out: int
    in_rows: np.ndarray
    out_slots: np.ndarray
    tiles: tuple[Tile, ...]


@dataclass(frozen=True)
class DeviceIndex:
    """Device addresses of every weight of a layer, each shape ``(n_in, n_out)``.

    ``plus``/``minus`` are column indices; the pair is ``G[array, row, plus] - G[array, row, minus]``.
    """

    array: np.ndarray
    row: np.ndarray
    plus: np.ndarray
    minus: np.ndarray


class Placement:
    """All layers of a network on one die.

    Raises:
        TrainingError: a tile leaves its array, two tiles overlap, or a layer's weights are not
            each covered by exactly one tile.
    """

    def __init__(self, layout: Layout, layers: Sequence[LayerPlacement]) -> None:
        self.layout = layout
        self.layers = list(layers)
        self._index = [self._build_index(i, lp) for i, lp in enumerate(self.layers)]
        self._check_overlap()

    def _build_index(self, li: int, lp: LayerPlacement) -> DeviceIndex:
        L = self.layout
        n_phys_in = int(max(t.in_stop for t in lp.tiles))
        n_phys_out = int(max(t.out_stop for t in lp.tiles))
        owner = np.full((n_phys_in, n_phys_out), -1, dtype=np.int64)
        for k, t in enumerate(lp.tiles):
            if not 0 <= t.array < L.n_arrays:
                raise TrainingError(f"layer {li}: tile on array {t.array}, die has {L.n_arrays}")
            if (
                t.row_offset < 0
                or t.col_offset < 0
                or t.row_offset + t.n_rows > L.rows
                or t.col_offset + t.n_cols > L.cols
                or t.n_rows < 1
                or t.n_cols < 2
            ):
                raise TrainingError(f"layer {li}: tile {t} does not fit a {L.rows}x{L.cols} array")
            block = owner[t.in_start : t.in_stop, t.out_start : t.out_stop]
            if np.any(block >= 0):
                raise TrainingError(f"layer {li}: tiles cover some weights twice")
            block[...] = k
        in_rows = np.asarray(lp.in_rows, dtype=np.int64)
        out_slots = np.asarray(lp.out_slots, dtype=np.int64)
        if in_rows.shape != (lp.n_in,) or out_slots.shape != (lp.n_out,):
            raise TrainingError(f"layer {li}: in_rows/out_slots do not match {lp.n_in}x{lp.n_out}")
        if (
            np.unique(in_rows).size != lp.n_in
            or np.unique(out_slots).size != lp.n_out
            or in_rows.min() < 0
            or out_slots.min() < 0
            or in_rows.max() >= n_phys_in
            or out_slots.max() >= n_phys_out
        ):
            raise TrainingError(f"layer {li}: in_rows/out_slots are not distinct tiled indices")
        tile_of = owner[in_rows[:, None], out_slots[None, :]]
        if np.any(tile_of < 0):
            raise TrainingError(f"layer {li}: some weights are on no tile")
        f = np.array(
            [[t.array, t.row_offset, t.col_offset, t.in_start, t.out_start] for t in lp.tiles],
            dtype=np.int64,
        )[tile_of]
        row = f[..., 1] + in_rows[:, None] - f[..., 3]
        plus = f[..., 2] + 2 * (out_slots[None, :] - f[..., 4])
        return DeviceIndex(f[..., 0], row, plus, plus + 1)

    def _check_overlap(self) -> None:
        used = np.zeros((self.layout.n_arrays, self.layout.rows, self.layout.cols), dtype=bool)
        for li, lp in enumerate(self.layers):
            for t in lp.tiles:
                sl = (
                    t.array,
                    slice(t.row_offset, t.row_offset + t.n_rows),
                    slice(t.col_offset, t.col_offset + t.n_cols),
                )
                if np.any(used[sl]):
                    raise TrainingError(f"layer {li}: tile on array {t.array} overlaps another")
                used[sl] = True

    @property
    def sizes(self) -> list[int]:
        """Layer widths, inputs first."""
        return [self.layers[0].n_in] + [lp.n_out for lp in self.layers]

    def index(self, layer: int) -> DeviceIndex:
        """Device addresses of layer ``layer``'s weights."""
        return self._index[layer]

    def arrays_used(self, layer: int | None = None) -> list[int]:
        """Sorted array indices used by one layer (or by all)."""
        layers = self.layers if layer is None else [self.layers[layer]]
        return sorted({t.array for lp in layers for t in lp.tiles})

    def used_mask(self) -> np.ndarray:
        """Boolean ``(n_arrays, rows, cols)``: True for devices that hold a weight."""
        L = self.layout
        mask = np.zeros((L.n_arrays, L.rows, L.cols), dtype=bool)
        for di in self._index:
            mask[di.array, di.row, di.plus] = True
            mask[di.array, di.row, di.minus] = True
        return mask

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (the layout is recorded by its geometry only)."""
        L = self.layout
        return {
            "layout": {"n_arrays": L.n_arrays, "rows": L.rows, "cols": L.cols},
            "layers": [
                {
                    "n_in": lp.n_in,
                    "n_out": lp.n_out,
                    "in_rows": lp.in_rows.tolist(),
                    "out_slots": lp.out_slots.tolist(),
                    "tiles": [
                        [
                            t.array,
                            t.row_offset,
                            t.col_offset,
                            t.in_start,
                            t.in_stop,
                            t.out_start,
                            t.out_stop,
                        ]
                        for t in lp.tiles
                    ],
                }
                for lp in self.layers
            ],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], layout: Layout) -> Placement:
        """Inverse of :meth:`as_dict`.

        Raises:
            TrainingError: the recorded geometry differs from ``layout``.
        """
        g = d["layout"]
        if (g["n_arrays"], g["rows"], g["cols"]) != (layout.n_arrays, layout.rows, layout.cols):
            raise TrainingError(f"placement was made for {g}, not this layout")
        layers = [
            LayerPlacement(
                int(x["n_in"]),
                int(x["n_out"]),
                np.asarray(x["in_rows"], dtype=np.int64),
                np.asarray(x["out_slots"], dtype=np.int64),
                tuple(Tile(*map(int, t)) for t in x["tiles"]),
            )
            for x in d["layers"]
        ]
        return cls(layout, layers)


def tile_grid(n_in: int, n_out: int, layout: Layout) -> tuple[int, int]:
    """Row bands and column tiles a layer needs: ``(ceil(n_in/rows), ceil(n_out/(cols//2)))``."""
    pairs = layout.cols // 2
    if pairs < 1:
        raise TrainingError(f"arrays with {layout.cols} columns cannot hold a differential pair")
    return -(-n_in // layout.rows), -(-n_out // pairs)


def _grid_tiles(
    n_phys_in: int, n_phys_out: int, layout: Layout, arrays: Sequence[int]
) -> tuple[Tile, ...]:
    pairs = layout.cols // 2
    bands, ctiles = -(-n_phys_in // layout.rows), -(-n_phys_out // pairs)
    tiles, k = [], 0
    for b in range(bands):
        for c in range(ctiles):
            tiles.append(
                Tile(
                    int(arrays[k]),
                    0,
                    0,
                    b * layout.rows,
                    min((b + 1) * layout.rows, n_phys_in),
                    c * pairs,
                    min((c + 1) * pairs, n_phys_out),
                )
            )
            k += 1
    return tuple(tiles)


def check_fits(sizes: Sequence[int], layout: Layout, n_arrays: int | None = None) -> list[int]:
    """Arrays each layer needs (one tile per array); raise if the total exceeds the die.

    Raises:
        TrainingError: naming the first layer that does not fit, the devices it needs and
            the devices still available.
    """
    available = layout.n_arrays if n_arrays is None else n_arrays
    per_array = layout.rows * layout.cols
    needs, used = [], 0
    for li, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        bands, ctiles = tile_grid(a, b, layout)
        need = bands * ctiles
        if used + need > available:
            raise TrainingError(
                f"layer {li} ({a} x {b}) does not fit: it needs {2 * a * b} devices on {need} "
                f"arrays of {layout.rows}x{layout.cols} (tiles of {layout.rows} inputs x "
                f"{layout.cols // 2} pairs), but only {available - used} arrays "
                f"({(available - used) * per_array} devices) of the die's {layout.n_arrays} "
                f"remain after earlier layers"
            )
        needs.append(need)
        used += need
    return needs


def place(
    sizes: Sequence[int], layout: Layout, array_order: Sequence[int] | None = None
) -> Placement:
    """Straightforward placement: one tile per array, layers in order, identity index maps.

    Args:
        sizes: layer widths, inputs first (e.g. ``[100, 64, 10]``).
        layout: die geometry.
        array_order: arrays to use, in order of use (default ``0, 1, 2, ...``).

    Raises:
        TrainingError: the network does not fit (see :func:`check_fits`).
    """
    order = list(range(layout.n_arrays)) if array_order is None else [int(a) for a in array_order]
    needs = check_fits(sizes, layout, len(order))
    layers, k = [], 0
    for (a, b), need in zip(zip(sizes[:-1], sizes[1:], strict=True), needs, strict=True):
        tiles = _grid_tiles(a, b, layout, order[k : k + need])
        k += need
        layers.append(LayerPlacement(a, b, np.arange(a), np.arange(b), tiles))
    return Placement(layout, layers)


def place_defect_aware(
    sizes: Sequence[int],
    layout: Layout,
    defects: np.ndarray,
    input_importance: np.ndarray | None = None,
) -> Placement:
    """Placement that keeps defective devices and whole defective lines away from the lines
    that matter most.

    Each device costs :data:`DEFECT_COST` of its measured class (SHORT and OPEN 1: a pair
    with one turns into a large fixed weight; UNCERTAIN 0.5, suspect; STUCK 0.25: the pair
    still switches by half).

    1. Arrays are ranked by cost; the output layer goes on the cleanest, then the earlier
       layers (last to first); the worst arrays stay unused.
    2. Per layer (:func:`layer_on_arrays`), spare pair slots go on the costliest slots (whole
       open output lines carry no weight); layers after the first route their inputs to the
       cleanest rows of their full last band (whole shorted input lines left unused); with
       ``input_importance`` (first-layer inputs, e.g. mean x**2 on the training set) the
       least important inputs go to the costliest rows.

    Permuting inputs and outputs does not change the network's function: the controller
    routes signals through ``in_rows`` / ``out_slots``.

    Raises:
        TrainingError: the network does not fit, or ``defects`` has the wrong shape.
    """
    codes = np.asarray(defects)
    shape = (layout.n_arrays, layout.rows, layout.cols)
    if codes.shape != shape:
        raise TrainingError(f"defect map has shape {codes.shape}; expected {shape}")
    cost = defect_cost(codes)
    needs = check_fits(sizes, layout)
    ranked = np.argsort(cost.sum(axis=(1, 2)), kind="stable")
    layers: list[LayerPlacement] = []
    k = 0
    for li in range(len(sizes) - 2, -1, -1):
        arrays = ranked[k : k + needs[li]]
        k += needs[li]
        imp = input_importance if li == 0 else None
        layers.append(
            layer_on_arrays(sizes[li], sizes[li + 1], layout, arrays, cost, imp, spare_rows=li > 0)
        )
    return Placement(layout, layers[::-1])


def defect_cost(codes: np.ndarray) -> np.ndarray:
    """Placement cost per device (:data:`DEFECT_COST` of its measured class)."""
    cost = np.zeros(np.shape(codes))
    for code, c in DEFECT_COST.items():
        cost[np.asarray(codes) == code] = c
    return cost


def layer_on_arrays(
    a: int,
    b: int,
    layout: Layout,
    arrays: Sequence[int],
    cost: np.ndarray,
    input_importance: np.ndarray | None = None,
    spare_rows: bool = True,
) -> LayerPlacement:
    """One ``a x b`` layer on ``arrays`` (one tile each), its spare pair slots on the costliest
    slots, its inputs on the cleanest rows (with ``spare_rows`` the last band's unused rows
    are available), or, with ``input_importance``, the most important inputs on the cleanest
    rows. ``cost`` is per device, shape ``(n_arrays, rows, cols)``.

    Raises:
        TrainingError: ``input_importance`` has the wrong shape.
    """
    pairs = layout.cols // 2
    bands, ctiles = tile_grid(a, b, layout)
    n_phys_out = ctiles * pairs
    n_phys_in = bands * layout.rows if spare_rows else a
    tiles = _grid_tiles(n_phys_in, n_phys_out, layout, arrays)
    # defect cost per physical slot and per physical row, over this layer's tiles
    slot_cost = np.zeros(n_phys_out)
    row_cost = np.zeros(n_phys_in)
    for t in tiles:
        s = cost[t.array, : t.n_rows, : t.n_cols]
        slot_cost[t.out_start : t.out_stop] += s.reshape(t.n_rows, -1, 2).sum(axis=(0, 2))
    slots = np.sort(np.argsort(slot_cost, kind="stable")[:b])
    for t in tiles:
        cols_used = np.zeros(t.n_cols, dtype=bool)
        used_slots = slots[(slots >= t.out_start) & (slots < t.out_stop)] - t.out_start
        cols_used[2 * used_slots] = cols_used[2 * used_slots + 1] = True
        row_cost[t.in_start : t.in_stop] += cost[t.array, : t.n_rows, : t.n_cols][:, cols_used].sum(
            axis=1
        )
    in_rows = np.sort(np.argsort(row_cost, kind="stable")[:a])
    if input_importance is not None:
        imp = np.asarray(input_importance, dtype=np.float64)
        if imp.shape != (a,):
            raise TrainingError(f"input_importance has shape {imp.shape}; expected ({a},)")
        # most important input -> cleanest physical row
        in_rows = np.empty(a, dtype=np.int64)
        in_rows[np.argsort(-imp, kind="stable")] = np.argsort(row_cost, kind="stable")[:a]
    return LayerPlacement(a, b, in_rows, slots, tiles)


DEFECT_COST = {
    DefectCode.SHORT: 1.0,
    DefectCode.OPEN: 1.0,
    DefectCode.UNCERTAIN: 0.5,
    DefectCode.STUCK_P: 0.25,
    DefectCode.STUCK_AP: 0.25,
}
"""Placement cost of a device by its measured class (GOOD devices cost nothing)."""


def target_bits(
    placement: Placement, weights: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Bit pattern to program: w=+1 -> (P, AP) = (1, 0), w=-1 -> (0, 1) on (plus, minus).

    Args:
        placement: where the layers are.
        weights: binary weights per layer, shape ``(n_in, n_out)``, values +/-1 (sign taken).

    Returns:
        ``(bits, used)``: uint8 ``(n_arrays, rows, cols)`` with 1 = P, and a boolean mask of
        the devices that hold a weight (unused devices are 0 = AP in ``bits``).

    Raises:
        TrainingError: number or shape of weight matrices does not match the placement.
    """
    L = placement.layout
    if len(weights) != len(placement.layers):
        raise TrainingError(f"{len(weights)} weight matrices for {len(placement.layers)} layers")
    bits = np.zeros((L.n_arrays, L.rows, L.cols), dtype=np.uint8)
    for li, (w, lp) in enumerate(zip(weights, placement.layers, strict=True)):
        if np.shape(w) != (lp.n_in, lp.n_out):
            raise TrainingError(f"layer {li}: weights {np.shape(w)}, placed {lp.n_in}x{lp.n_out}")
        di = placement.index(li)
        pos = (np.asarray(w) >= 0).astype(np.uint8)
        bits[di.array, di.row, di.plus] = pos
        bits[di.array, di.row, di.minus] = 1 - pos
    return bits, placement.used_mask()


def effective_weights(placement: Placement, conductance: np.ndarray) -> list[np.ndarray]:
    """Effective weight matrices ``(G+ - G-) / (G_P_nom - G_AP_nom)`` per layer.

    Args:
        conductance: per-device conductance (S), shape ``(..., n_arrays, rows, cols)``; leading
            axes (e.g. a batch of die realisations) are kept.

    Returns:
        One array per layer of shape ``(..., n_in, n_out)``. Ideal nominal devices give +/-1.
    """
    g = np.asarray(conductance)
    dg = placement.layout.nominal_g_p - placement.layout.nominal_g_ap
    out = []
    for li in range(len(placement.layers)):
        di = placement.index(li)
        out.append((g[..., di.array, di.row, di.plus] - g[..., di.array, di.row, di.minus]) / dg)
    return out


def weight_response(
    placement: Placement, g_bit1: np.ndarray, g_bit0: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per-layer ``(offset, slope)`` with ``W_eff = offset + slope * w`` for w in {-1, +1}.

    Args:
        g_bit1: conductance (S) each device shows when programmed to P (bit 1),
            shape ``(..., n_arrays, rows, cols)``.
        g_bit0: conductance when programmed to AP (bit 0), same shape.

    Exact for any device behaviour: a defective device simply has ``g_bit1 == g_bit0``.
    """
    up = effective_weights(placement, _pair_select(placement, g_bit1, g_bit0, plus_bit=1))
    down = effective_weights(placement, _pair_select(placement, g_bit1, g_bit0, plus_bit=0))
    return [(0.5 * (u + d), 0.5 * (u - d)) for u, d in zip(up, down, strict=True)]


def _pair_select(placement: Placement, g1: np.ndarray, g0: np.ndarray, plus_bit: int) -> np.ndarray:
    """Conductance map with every plus column at ``plus_bit`` and every minus column at the
    opposite bit (a whole-die map, so effective_weights can gather from it)."""
    L = placement.layout
    plus_cols = np.zeros((L.n_arrays, L.rows, L.cols), dtype=bool)
    for li in range(len(placement.layers)):
        di = placement.index(li)
        plus_cols[di.array, di.row, di.plus] = True
    first, second = (g1, g0) if plus_bit else (g0, g1)
    return np.where(plus_cols, first, second)
