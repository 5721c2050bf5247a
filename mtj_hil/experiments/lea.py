"""Layer Ensemble Averaging for one network and one die (``mtj-hil train --method lea`` and
``mtj-hil evaluate`` of such a network): copies parsed from the command line or chosen for a
lot's dies (``mtj-hil experiment borders``), the ensemble
and its averaging weights saved beside the network, and evaluation emulated or measured
through the Chip interface (simulated die, virtual lab or a station's die).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from mtj_hil.errors import ConfigError, StoreError, counted
from mtj_hil.experiments.networks import DAMAGED, load_recorded
from mtj_hil.experiments.onchip import evaluate_lea_on_chip
from mtj_hil.protocols.chip import Chip, Layout
from mtj_hil.runs.store.runfile import RunFile
from mtj_hil.training.bnn import BNN
from mtj_hil.training.capacity import check_usable, devices_needed, usable_per_array
from mtj_hil.training.datasets import Dataset
from mtj_hil.training.die_model import DieModel
from mtj_hil.training.ensemble import (
    EnsemblePlacement,
    arrays_needed,
    auto_copies,
    check_ensemble_fits,
    lea_weights,
    place_ensemble,
    predict_lea,
)


def parse_copies(text: str, n_layers: int, option: str = "--copies") -> list[int] | None:
    """``"auto"`` -> None; ``"K"`` -> K copies of every layer; ``"K0,K1,..."`` -> per layer.

    Raises:
        ConfigError: not integers >= 1, or a list of the wrong length (naming ``option``).
    """
    if text.strip().lower() == "auto":
        return None
    try:
        values = [int(x) for x in text.split(",")]
    except ValueError as exc:
        raise ConfigError(f"{option} must be 'auto', K or K0,K1,...; got {text!r}") from exc
    if len(values) == 1:
        values = values * n_layers
    if len(values) != n_layers or min(values) < 1:
        raise ConfigError(
            f"{option} {text!r}: need {counted(n_layers, 'value')} >= 1 (one per layer)"
        )
    return values


def resolve_copies(
    sizes: Sequence[int],
    layout: Layout,
    copies: Sequence[int] | None,
    defects: np.ndarray | None = None,
) -> list[int]:
    """The copies to use (``None``: the most that fit the die's arrays and, with its
    measured ``defects``, its usable devices and the arrays holding any) after checking
    they fit the die.

    Raises:
        TrainingError: the copies need more arrays than the die has (saying how many).
    """
    usable = arrays = None
    if defects is not None and copies is None:
        per_array = usable_per_array(defects)
        usable, arrays = int(per_array.sum()), int(np.count_nonzero(per_array))
    chosen = (
        auto_copies(sizes, layout, usable=usable, arrays=arrays) if copies is None else list(copies)
    )
    check_ensemble_fits(sizes, layout, chosen)
    return chosen


def lot_copies(
    sizes: Sequence[int],
    layout: Layout,
    models: Sequence[DieModel],
    requested: Sequence[int] = (),
    lot_seed: int = 0,
) -> list[int]:
    """The LEA copies every die of a lot deploys (``mtj-hil experiment borders``), checked
    against each die's measured usable (GOOD) devices before any training, as
    ``mtj-hil train --method lea`` checks its one die.

    Every die must first hold the network once. ``requested`` copies (empty: automatic) must
    then fit every die; automatic copies are the most that fit the die with fewest usable
    devices, with a warning naming that die when they are fewer than its arrays alone
    would allow.

    Raises:
        TrainingError: a die has fewer usable devices than the network, or than the
            requested copies, need (naming the die, the devices needed and present).
    """
    names = [f"die {k} of lot {lot_seed}" for k in range(len(models))]
    for name, m in zip(names, models, strict=True):
        check_usable(sizes, m.defects, die=name)
    if not models:
        return list(requested) or auto_copies(sizes, layout)
    per_array = np.stack([usable_per_array(m.defects) for m in models])
    usable, live = per_array.sum(axis=1), np.count_nonzero(per_array, axis=1)
    copies = list(requested)
    if not copies:
        copies = auto_copies(sizes, layout, usable=int(usable.min()), arrays=int(live.min()))
        full = auto_copies(sizes, layout)
        if copies != full:
            worst = int(np.argmin(usable))
            why = (
                f"{names[worst]} has {int(usable[worst])} usable (GOOD) devices of "
                f"{layout.n_devices}, and copies {full} need {devices_needed(sizes, full)} "
                "(two per weight)"
            )
            if auto_copies(sizes, layout, usable=int(usable.min())) != copies:
                worst = int(np.argmin(live))
                why = (
                    f"{names[worst]} holds usable (GOOD) devices on {int(live[worst])} of its "
                    f"{layout.n_arrays} arrays, and copies {full} need "
                    f"{sum(arrays_needed(sizes, layout, full))} arrays"
                )
            warnings.warn(f"LEA copies {copies} instead of {full}: {why}", stacklevel=2)
    for name, m in zip(names, models, strict=True):
        check_usable(sizes, m.defects, copies, die=name)
    return copies


def build_lea(
    sizes: Sequence[int],
    model: DieModel,
    copies: Sequence[int],
    beta: int | None = None,
    input_importance: np.ndarray | None = None,
) -> tuple[EnsemblePlacement, list[np.ndarray]]:
    """Ensemble on the die's cleanest arrays and its averaging weights from the measured map."""
    ens = place_ensemble(sizes, model.layout, copies, model.defects, input_importance)
    return ens, lea_weights(ens, model.defects, beta)


def save_lea(
    run: RunFile, group: str, ensemble: EnsemblePlacement, weights: Sequence[np.ndarray]
) -> None:
    """Record the ensemble (attribute ``ensemble``) and weights (``lea_weights_<l>``)."""
    for li, w in enumerate(weights):
        run.write(
            f"{group}/lea_weights_{li}", w, "1", f"averaging weight per copy and output, layer {li}"
        )
    run.h5[group].attrs["ensemble"] = json.dumps(ensemble.as_dict())
    run.flush()


def load_lea(
    run: RunFile, group: str, layout: Layout
) -> tuple[EnsemblePlacement, list[np.ndarray]]:
    """Inverse of :func:`save_lea`.

    Raises:
        StoreError: the group records no ensemble, or a damaged one.
        TrainingError: it was made for another layout.
    """
    g = run.h5[group]
    if "ensemble" not in g.attrs:
        raise StoreError(f"{run.path}:{group} records no LEA ensemble")
    ens = load_recorded(
        run, group, "ensemble", "an LEA ensemble", lambda d: EnsemblePlacement.from_dict(d, layout)
    )
    weights = [run.read(f"{group}/lea_weights_{li}") for li in range(len(ens.copies))]
    if not all(w.dtype.kind == "f" and np.isfinite(w).all() for w in weights):
        raise StoreError(f"{run.path}:{group} holds LEA weights that are not finite: {DAMAGED}")
    return ens, weights


def evaluate_lea(
    chip: Chip,
    net: BNN,
    ensemble: EnsemblePlacement,
    weights: Sequence[np.ndarray],
    data: Dataset,
    model: DieModel,
    on_chip: bool,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Emulated (measured model + read noise) and, with ``on_chip``, measured test error of
    ``net`` with LEA (fractions; the write-verify judges each device by its own levels in
    ``model``), with the copies and their device cost."""
    out: dict[str, Any] = {
        "lea_copies": ensemble.n_copies,
        "lea_device_cost": ensemble.device_cost(),
        "lea_devices": ensemble.devices(),
    }
    if on_chip:
        acc, rep = evaluate_lea_on_chip(
            chip,
            net,
            ensemble,
            weights,
            data.X_test,
            data.y_test,
            thresholds=model.state_thresholds(),
        )
        out["on_chip_error"] = 1.0 - acc
        out["bit_error_rate"] = rep.bit_error_rate if rep is not None else float("nan")
    pred = predict_lea(net, data.X_test, model, ensemble, weights, noise=True, rng=rng)
    out["emulated_error"] = float(np.mean(pred != data.y_test))
    return out


def check_lea_die(attrs: dict[str, Any], target: str | None, path: Any) -> None:
    """An LEA network is placed for its die's defect map: refuse another simulated die.

    Raises:
        ConfigError: ``target`` differs from the die recorded at training.
    """
    if target is not None and attrs["die_id"] != target:
        raise ConfigError(f"{path} is an LEA network placed for {attrs['die_id']}, not {target}")
