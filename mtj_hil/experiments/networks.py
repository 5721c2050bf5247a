"""Networks and placements in run files: save one under a group, load it back.

Under ``<group>``: ``latent_<l>`` (n_in, n_out) and ``bias_<l>`` (n_out,), unit "1"; attributes
``gains`` (JSON list), ``activation``, ``sizes`` (JSON) and ``placement`` (JSON, see
:meth:`Placement.as_dict`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from mtj_hil.errors import StoreError
from mtj_hil.protocols.chip import Layout
from mtj_hil.runs.store.runfile import RunFile
from mtj_hil.training.bnn import BNN
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
