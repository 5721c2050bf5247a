"""``mtj-hil evaluate``: a network saved by ``mtj-hil train``
(:mod:`mtj_hil.experiments.single`) tested in software, emulated with the die's measured
model and, on request, measured on the die, deployed as it was trained to be (LEA copies,
or its digital compensation).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from mtj_hil.errors import ConfigError, StoreError
from mtj_hil.experiments.borders_die import compensated_accuracy_on_chip, compensated_wrong
from mtj_hil.experiments.data import load_dataset, same_data
from mtj_hil.experiments.diemodels import load_die_model
from mtj_hil.experiments.lea import check_lea_die, evaluate_lea, load_lea
from mtj_hil.experiments.method_names import DIE_METHODS, METHODS
from mtj_hil.experiments.networks import DAMAGED, load_compensation, load_network
from mtj_hil.experiments.onchip import check_placement, evaluate_on_chip
from mtj_hil.experiments.single import (
    KIND,
    die_id,
    measured_model,
    open_chip,
)
from mtj_hil.experiments.station_dies import (
    refuse_other_lab_die,
    refuse_simulated_die,
    station_die_id,
)
from mtj_hil.protocols.chip import Layout
from mtj_hil.runs.store.characterization import KIND as CHARACTERIZATION
from mtj_hil.runs.store.identity import simulated_profile_changes
from mtj_hil.runs.store.runfile import RunFile
from mtj_hil.sim.die import SIMULATED_PREFIX
from mtj_hil.training.compensation import Compensation
from mtj_hil.training.datasets import Dataset
from mtj_hil.training.errors import DatasetError, TrainingError
from mtj_hil.training.evaluation import evaluate_emulated, evaluate_software


def load_saved(path: Path, layout: Layout) -> tuple[Any, Any, dict[str, Any], Compensation | None]:
    """``(net, placement, attrs, compensation)`` of a network run file (``compensation``:
    the digital correction it is deployed with, None for a network without one).

    Raises:
        StoreError: not a network run, unfinished, without a placement, a damaged
            compensation, or a compensated method's file without its compensation.
    """
    with RunFile.open(path, "r", kind=KIND) as run:
        attrs = run.attrs
        if run.status != "completed":
            from mtj_hil.runs.store.resume import resume_hint

            raise StoreError(
                f"{path} is not a completed network run (status {run.status!r}: stopped "
                f"while it was being saved); {resume_hint(attrs, path)}"
            )
        net, placement = load_network(run, "network", layout)
        comp = load_compensation(run, "network", net)
    if placement is None:
        raise StoreError(f"{path} records no placement for its network")
    if comp is None and attrs.get("method") == "defect-aware-compensated":
        raise StoreError(f"{path} records no compensation for its network: {DAMAGED}")
    return net, placement, attrs, comp


def check_network_attrs(path: Path, attrs: dict[str, Any]) -> None:
    """Refuse a network run file that lacks what evaluating it needs (the training method,
    data set, die profile and seeds), or records them as something else.

    Raises:
        StoreError: naming the file and the attribute.
    """
    missing = [k for k in ("method", "dataset", "profile", "lot_seed", "seed") if k not in attrs]
    if missing:
        raise StoreError(f"{path} records no {', '.join(missing)} of its network: {DAMAGED}")
    if attrs["method"] not in METHODS:
        raise StoreError(f"{path} records the unknown training method {attrs['method']!r}")
    for key in ("lot_seed", "seed", "image_size"):
        value = str(attrs.get(key, 0)).strip()
        if not value.isdecimal():
            raise StoreError(f"{path}: its {key} {attrs[key]!r} is not an integer >= 0; {DAMAGED}")


class ProfileChangedWarning(UserWarning):
    """A network is evaluated on a simulated die whose profile changed since it was trained."""


def check_profile_values(path: Path, attrs: dict[str, Any], description: Any) -> None:
    """Refuse to evaluate a network trained for one die (:data:`DIE_METHODS`, LEA) on a
    simulated die whose profile has other values than the one it was trained for (its profile
    file edited since: the same die id, another die). Networks of the other methods are not
    tied to one die: they are evaluated, with a :class:`ProfileChangedWarning`. Network files
    that record no values (older ones) are not checked.

    Raises:
        ConfigError: naming the file, the profile and the values that differ.
    """
    recorded = attrs.get("profile_values")
    if not recorded:
        return
    try:
        values = json.loads(recorded) if isinstance(recorded, str) else recorded
    except ValueError as exc:
        raise StoreError(f"{path}: its profile_values are not JSON; {DAMAGED}") from exc
    changed = simulated_profile_changes(values, description)
    if changed and attrs.get("method") not in (*DIE_METHODS, "lea"):
        warnings.warn(  # not tied to one die: evaluated as asked, but said
            f"{path} was trained with profile {attrs['profile']} of other values "
            f"({', '.join(changed[:4])}{', ...' if len(changed) > 4 else ''} differ): it is "
            "evaluated on the die the profile describes now",
            ProfileChangedWarning,
            stacklevel=2,
        )
        return
    if changed:
        raise ConfigError(
            f"{path} was trained for profile {attrs['profile']} with other values "
            f"({', '.join(changed[:4])}{', ...' if len(changed) > 4 else ''} differ): the die "
            "it would be evaluated on is another die; restore the profile file it was trained "
            "with, or train again"
        )


def _data_for(attrs: dict[str, Any], path: Path) -> Dataset:
    """The data set the network was trained on, checked against the fingerprint the network
    file records (older files record none).

    Raises:
        DatasetError: the data cannot be loaded, or its files have changed since training.
    """
    data_dir = attrs.get("data_dir") or None
    data = load_dataset(
        str(attrs["dataset"]),
        int(attrs["seed"]),
        data_dir=data_dir,
        image_size=int(attrs.get("image_size", 10)),
    )
    try:
        recorded = json.loads(attrs.get("data_fingerprint") or "{}")
    except ValueError as exc:
        raise StoreError(f"{path}: its data_fingerprint is not JSON; {DAMAGED}") from exc
    differ = same_data(recorded, data) if isinstance(recorded, dict) else []
    if differ:
        where = f" in {data_dir}" if data_dir else ""
        raise DatasetError(
            f"the {attrs['dataset']} data{where} is not what {path} was trained and split on "
            f"({', '.join(differ)} differ): its test images may be training images now; "
            "restore the files it was trained on, or train again"
        )
    return data


def evaluate_network(
    net_path: Path,
    die: int,
    *,
    on_chip: bool = False,
    characterization: Path | None = None,
    station: Path | None = None,
) -> dict[str, Any]:
    """Test error (fractions) of a saved network: software, emulated with the die's measured
    model (read noise included) and, with ``on_chip``, measured on the die; a network saved
    with a digital compensation is read through the die and corrected by it (the same
    functions as the Borders experiment's compensated columns), and ``corrected_weights``
    says how many weights that corrects.

    Raises:
        StoreError: the file is not a completed network run, or the characterisation is of
            another die.
        TrainingError: the network or its placement does not fit the die (before any write).
        ConfigError: a network trained for one die's map (:data:`DIE_METHODS`) is evaluated
            on another die than its own.
    """
    with RunFile.open(net_path, "r", kind=KIND) as run:
        attrs = run.attrs
    check_network_attrs(net_path, attrs)
    profile, lot_seed = str(attrs["profile"]), int(attrs["lot_seed"])
    if station is not None:  # before any instrument is opened
        on = station_die_id(station)
        if attrs["method"] in (*DIE_METHODS, "lea"):
            refuse_simulated_die(str(attrs.get("die_id", "")), on, station, net_path, ConfigError)
        if characterization is not None:
            with RunFile.open(characterization, "r", kind=CHARACTERIZATION) as run:
                measured = str(run.attrs.get("die_id", ""))
            refuse_simulated_die(measured, on, station, characterization, StoreError)
        refuse_other_lab_die(station, die)
    with open_chip(station, profile, lot_seed, die) as chip:
        net, placement, attrs, comp = load_saved(net_path, chip.layout)
        check_placement(chip, placement)
        check_profile_values(net_path, attrs, chip.describe())
        target = die_id(profile, lot_seed, die) if station is None else None
        if attrs["method"] in DIE_METHODS and target is not None and attrs["die_id"] != target:
            hint = (
                ""
                if str(attrs["die_id"]).startswith(SIMULATED_PREFIX)
                else (" (a die of a station: evaluate it there, with --station)")
            )
            raise ConfigError(
                f"{net_path} is a {attrs['method']} network for {attrs['die_id']}, not {target}"
                + hint
            )
        data = _data_for(attrs, net_path)
        if net.sizes != [data.n_features, *net.sizes[1:-1], data.n_classes]:
            raise TrainingError(f"network {net.sizes} does not match data set {data.name}")
        out: dict[str, Any] = {
            "method": attrs["method"],
            "die": die,
            "n_test": int(data.y_test.size),
            "software_error": 1.0 - evaluate_software(net, data.X_test, data.y_test),
        }
        model = None
        if characterization is not None:
            model = load_die_model(
                characterization, chip.layout, die_id=target, description=chip.describe()
            )
        if attrs["method"] == "lea":
            check_lea_die(attrs, target, net_path)
            with RunFile.open(net_path, "r", kind=KIND) as run:
                ens, weights = load_lea(run, "network", chip.layout)
            if model is None:
                model = measured_model(chip, None, target)
            rng = np.random.default_rng(int(attrs["seed"]))
            out.update(evaluate_lea(chip, net, ens, weights, data, model, on_chip, rng))
            return out
        if model is None:
            model = measured_model(chip, None, target)
        if on_chip:  # the write-verify judges each device by its own measured levels
            thresholds = model.state_thresholds()
            if comp is None:
                acc, rep = evaluate_on_chip(
                    chip, net, placement, data.X_test, data.y_test, thresholds=thresholds
                )
            else:  # read through the die, then corrected digitally (as borders measures it)
                acc, rep = compensated_accuracy_on_chip(
                    chip, net, placement, comp, data, thresholds=thresholds
                )
            out["on_chip_error"] = 1.0 - acc
            out["bit_error_rate"] = rep.bit_error_rate if rep is not None else float("nan")
        rng = np.random.default_rng(int(attrs["seed"]))
        if comp is None:
            out["emulated_error"] = 1.0 - evaluate_emulated(
                net, data.X_test, data.y_test, model, placement, noise=True, rng=rng
            )
        else:
            wrong = compensated_wrong(net, placement, model, data, comp, rng)
            out["emulated_error"] = float(wrong.mean())
            out["corrected_weights"] = comp.digital_cost()
    return out
