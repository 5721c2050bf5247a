"""Networks and placements in run files: save one under a group, load it back.

Under ``<group>``: ``latent_<l>`` (n_in, n_out) and ``bias_<l>`` (n_out,), unit "1"; attributes
``gains`` (JSON list), ``activation``, ``sizes`` (JSON) and ``placement`` (JSON, see
:meth:`Placement.as_dict`). A network deployed with a digital compensation
(:class:`~mtj_hil.training.compensation.Compensation`) also has ``<group>/compensation``:
per layer ``corrected_<l>`` (n, 2) int, the (input, output) index of each weight corrected
digitally, ``correction_<l>`` (n,), what is added to each of those weights, in units of the
die's nominal pair conductance ``G_P_nom - G_AP_nom`` (an ideal weight is +-1), and
``scale_<l>`` / ``shift_<l>`` (n_out,), the per-neuron scale and the shift after it, the
shift in units of ``(G_P_nom - G_AP_nom) * V_read`` (a layer's signal: its differential
output current for inputs driven at ``V_read`` per unit).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import h5py
import numpy as np

from mtj_hil.errors import StoreError
from mtj_hil.protocols.chip import Layout
from mtj_hil.runs.store.runfile import RunFile
from mtj_hil.training.bnn import BNN
from mtj_hil.training.compensation import Compensation
from mtj_hil.training.errors import TrainingError
from mtj_hil.training.mapping import Placement

T = TypeVar("T")


def save_network(run: RunFile, group: str, net: BNN, placement: Placement | None) -> None:
    """Write ``net`` (and where it is placed) under ``group`` of ``run``."""
    for i, (w, b) in enumerate(zip(net.latent, net.biases, strict=True)):
        run.write(f"{group}/latent_{i}", w, "1", f"latent weights of layer {i} (sign is deployed)")
        run.write(f"{group}/bias_{i}", b, "1", f"digital bias of layer {i}")
    attrs = {
        "gains": json.dumps(list(net.gains)),
        "activation": net.activation,
        "sizes": json.dumps(net.sizes),
    }
    if placement is not None:
        attrs["placement"] = json.dumps(placement.as_dict())
    run.set_attrs(group, **attrs)
    run.flush()


def load_network(run: RunFile, group: str, layout: Layout | None) -> tuple[BNN, Placement | None]:
    """Read a network saved by :func:`save_network`; the placement is rebuilt for ``layout``.

    Raises:
        StoreError: the group is missing or malformed.
        TrainingError: the recorded placement was made for another layout.
    """
    if group not in run.h5:
        raise StoreError(f"{run.path} holds no network under {group!r}")
    g = run.h5[group]
    try:
        n = len(json.loads(g.attrs["sizes"])) - 1
        for name, ndim in [(f"latent_{i}", 2) for i in range(n)] + [
            (f"bias_{i}", 1) for i in range(n)
        ]:
            ds = g.get(name)
            if isinstance(ds, h5py.Dataset) and (ds.ndim != ndim or ds.dtype.kind != "f"):
                raise ValueError(
                    f"{name} holds {ds.dtype} of shape {ds.shape}, not a {ndim}-D float array"
                )
        net = BNN(
            [g[f"latent_{i}"][()] for i in range(n)],
            [g[f"bias_{i}"][()] for i in range(n)],
            [float(x) for x in json.loads(g.attrs["gains"])],
            str(g.attrs["activation"]),  # type: ignore[arg-type]
        )
    except (KeyError, ValueError, TypeError, TrainingError) as exc:
        raise StoreError(f"{run.path}:{group} is not a readable network: {exc}") from exc
    values = [*net.latent, *net.biases, np.asarray(net.gains)]
    if not all(v.dtype.kind == "f" and np.isfinite(v).all() for v in values):
        raise StoreError(
            f"{run.path}:{group} holds weights, biases or gains that are not finite numbers: "
            + DAMAGED
        )
    placement = None
    if "placement" in g.attrs and layout is not None:
        placement = load_recorded(
            run, group, "placement", "a placement", lambda d: Placement.from_dict(d, layout)
        )
    return net, placement


DAMAGED = "the file is damaged; train the network again"
"""What a refusal of a damaged network file tells the user to do."""


def load_recorded(run: RunFile, group: str, key: str, what: str, build: Callable[[Any], T]) -> T:
    """``build`` of the JSON attribute ``key`` of ``group`` (e.g. a placement).

    Raises:
        StoreError: the attribute is no JSON, or ``build`` cannot make ``what`` of it
            (naming the file, the group and the fault).
    """
    try:
        return build(json.loads(run.h5[group].attrs[key]))
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise StoreError(
            f"{run.path}:{group} records {what} that cannot be read "
            f"({type(exc).__name__}: {exc}): {DAMAGED}"
        ) from exc


COMPENSATION = "compensation"
"""The subgroup of a network's group that holds its digital compensation."""
WEIGHT_UNIT = "G_P_nom - G_AP_nom"
"""The unit of a weight (a pair's differential conductance) as run files record it: an ideal
weight is +-1 of it."""
SIGNAL_UNIT = "(G_P_nom - G_AP_nom) * V_read"
"""The unit of a layer's signal as run files record it: its differential output current for
inputs driven at ``V_read`` per unit (:func:`~mtj_hil.training.evaluation.forward_currents`)."""


def save_compensation(run: RunFile, group: str, compensation: Compensation, **attrs: Any) -> None:
    """Write the digital compensation a network at ``group`` is deployed with (layout: the
    module docstring; only the weights with a correction are listed), with ``attrs`` (e.g.
    the budget and epochs it was trained with) as attributes of ``<group>/compensation``."""
    where = f"{group}/{COMPENSATION}"
    for li, (sparse, scale, shift) in enumerate(
        zip(compensation.sparse, compensation.scale, compensation.shift, strict=True)
    ):
        cells = np.argwhere(sparse != 0)
        run.write(
            f"{where}/corrected_{li}",
            cells.astype(np.int64).reshape(-1, 2),
            "1",
            f"(input, output) index of each weight of layer {li} corrected digitally: one "
            "multiply-add per input each",
        )
        run.write(
            f"{where}/correction_{li}",
            sparse[cells[:, 0], cells[:, 1]],
            WEIGHT_UNIT,
            f"added to each corrected weight of layer {li} (input times it added to the "
            "output's signal): the weight minus its measured effective value",
        )
        run.write(
            f"{where}/scale_{li}", scale, "1", f"per-neuron scale of layer {li}'s corrected signal"
        )
        run.write(
            f"{where}/shift_{li}", shift, SIGNAL_UNIT, f"per-neuron shift of layer {li}, after it"
        )
    run.set_attrs(
        where,
        description="signal = scale * (crossbar signal + input @ correction) + shift, per layer",
        **attrs,
    )
    run.flush()


def load_compensation(run: RunFile, group: str, net: BNN) -> Compensation | None:
    """The compensation :func:`save_compensation` wrote for ``net`` at ``group``, or None
    if the file holds none (a network deployed without one: files written before it existed
    load as they did).

    Raises:
        StoreError: a compensation that does not fit ``net`` or holds indices out of range,
            repeated, or values that are not finite numbers (naming the file).
    """
    where = f"{group}/{COMPENSATION}"
    if where not in run.h5:
        return None
    scales, shifts, sparse = [], [], []
    try:
        for li, (n_in, n_out) in enumerate(zip(net.sizes[:-1], net.sizes[1:], strict=True)):
            cells = np.asarray(run.read(f"{where}/corrected_{li}"))
            values = np.asarray(run.read(f"{where}/correction_{li}"))
            scale = np.asarray(run.read(f"{where}/scale_{li}"))
            shift = np.asarray(run.read(f"{where}/shift_{li}"))
            if cells.dtype.kind not in "iu" or cells.ndim != 2 or cells.shape[1:] != (2,):
                raise ValueError(f"corrected_{li} is not an (n, 2) index list")
            if values.shape != (cells.shape[0],):
                raise ValueError(f"correction_{li} does not hold one value per corrected weight")
            if scale.shape != (n_out,) or shift.shape != (n_out,):
                raise ValueError(f"scale_{li} or shift_{li} is not one value per output")
            if cells.size and (cells.min() < 0 or (cells.max(axis=0) >= (n_in, n_out)).any()):
                raise ValueError(f"corrected_{li} indexes outside layer {li}'s {n_in}x{n_out}")
            flat = cells[:, 0] * n_out + cells[:, 1]
            if np.unique(flat).size != flat.size:
                raise ValueError(f"corrected_{li} lists a weight twice")
            if not all(
                v.dtype.kind == "f" and np.isfinite(v).all() for v in (values, scale, shift)
            ):
                raise ValueError(f"layer {li} holds values that are not finite numbers")
            dense = np.zeros((n_in, n_out))
            dense[cells[:, 0], cells[:, 1]] = values
            sparse.append(dense)
            scales.append(scale.astype(np.float64))
            shifts.append(shift.astype(np.float64))
    except (StoreError, ValueError) as exc:
        raise StoreError(
            f"{run.path}:{where} is not a compensation of its network ({exc}): {DAMAGED}"
        ) from exc
    return Compensation(scales, shifts, sparse)
