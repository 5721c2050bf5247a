"""One network at a time: train it for a die and save it in a run file (kind ``network``);
:mod:`mtj_hil.experiments.single_eval` evaluates a saved one in software, emulated with the
die's measured model, or on the die.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from mtj_hil.errors import ConfigError, StoreError, as_typed
from mtj_hil.experiments.borders_config import MAX_DIES, BordersConfig
from mtj_hil.experiments.data import (
    DEFAULT_IMAGE_SIZE,
    MAX_IMAGE_SIZE,
    MIN_IMAGE_SIZE,
    check_data_dir,
    check_image_size,
    data_fingerprint,
    load_dataset,
)
from mtj_hil.experiments.diemodels import (
    fit_population,
    load_die_model,
    load_population_models,
    model_from_memory,
)
from mtj_hil.experiments.lea import build_lea, parse_copies, resolve_copies, save_lea
from mtj_hil.experiments.method_names import (
    DIE_METHODS,
    METHOD_OPTIONS,
    METHODS,
    check_method_options,
)
from mtj_hil.experiments.networks import save_compensation, save_network
from mtj_hil.experiments.onchip import evaluate_on_chip
from mtj_hil.experiments.station_dies import refuse_other_lab_die, station_target
from mtj_hil.fileio.writable import check_writable_place
from mtj_hil.protocols.characterize.procedure import MemorySink, characterize_die
from mtj_hil.protocols.chip import Chip, Layout
from mtj_hil.runs.store.characterization import KIND as CHARACTERIZATION
from mtj_hil.runs.store.lease import writer_active
from mtj_hil.runs.store.runfile import RunFile
from mtj_hil.schema import Field, checked
from mtj_hil.sim.chip import SimulatedChip
from mtj_hil.sim.die import SIMULATED_PREFIX, simulated_die_id
from mtj_hil.sim.profile import as_dict, is_shipped_profile, load_profile
from mtj_hil.training.bnn import BNN, MAX_EPOCHS, TrainConfig
from mtj_hil.training.capacity import check_usable
from mtj_hil.training.chip_loop import train_chip_in_the_loop
from mtj_hil.training.compensation import COMPENSATION_BUDGET, COMPENSATION_EPOCHS, Compensation
from mtj_hil.training.datasets import Dataset
from mtj_hil.training.die_model import DieModel
from mtj_hil.training.errors import TrainingError
from mtj_hil.training.evaluation import evaluate_software
from mtj_hil.training.mapping import Placement, check_fits, place, place_defect_aware
from mtj_hil.training.methods import (
    train_defect_aware,
    train_defect_aware_compensated,
    train_statistics_aware,
    train_unaware,
)

KIND = "network"


def die_id(profile: str, lot_seed: int, die: int) -> str:
    """The identifier of a simulated die, as ``mtj-hil characterize`` records it."""
    return simulated_die_id(load_profile(profile).name, lot_seed, die)


def open_chip(
    station: Path | None, profile: str, lot_seed: int, die: int
) -> AbstractContextManager[Chip]:
    """The die to work on, as a context manager: a station's chip
    (:func:`mtj_hil.station.connect.open_station`, instruments closed on exit) or die ``die`` of the
    simulated lot.

    Raises:
        ConfigError: an invalid station file (before any instrument is opened).
    """
    if station is None:
        return SimulatedChip.from_lot(profile, lot_seed, die)
    from mtj_hil.station.connect import open_station

    return open_station(station)


def measured_model(chip: Chip, characterization: Path | None, expected_id: str | None) -> DieModel:
    """The die's measured model: from a characterisation run file (checked to be of this die
    and layout), else by characterising the die now (kept in memory).

    Raises:
        StoreError: the file is of another die, kind or layout, or unfinished.
    """
    if characterization is not None:
        return load_die_model(
            characterization, chip.layout, die_id=expected_id, description=chip.describe()
        )
    sink = MemorySink()
    characterize_die(chip, sink)
    return model_from_memory(chip.layout, sink)


_COUNTS = (
    Field("die", "int", "die of the lot", lo=0),
    Field("image_size", "int", "pixels a side", lo=MIN_IMAGE_SIZE, hi=MAX_IMAGE_SIZE),
    Field("epochs", "int", "epochs", lo=1, hi=MAX_EPOCHS),
    Field("seed", "int", "master seed", lo=0),
    Field("lot_seed", "int", "seed of the lot", lo=0),
    Field("population_dies", "int", "dies", lo=1, hi=MAX_DIES),
    Field("loop_epochs", "int", "epochs", lo=1, hi=MAX_EPOCHS),
    Field("compensation_epochs", "int", "epochs", lo=1, hi=MAX_EPOCHS),
    Field("compensation_budget", "float", "fraction of the weights", lo=0, hi=1),
)
"""The counts (and the compensation budget) of :class:`TrainSpec`, checked by type and range
as ``mtj-hil train`` checks its options (an epoch count of ``1e26`` is refused before any work, naming the allowed range)."""
_HIDDEN = Field("hidden", "int list", "widths", lo=1, nonempty=True)


@dataclass
class TrainSpec:
    """What ``mtj-hil train`` does (see the command's help for units and defaults).

    Raises:
        ConfigError: an unknown method, a count of the wrong type or out of its range
            (epochs at most :data:`MAX_EPOCHS`; the compensation budget a fraction in [0,
            1]), a data folder beside a data set that reads
            none, or a setting the method does not use (:data:`METHOD_OPTIONS`), as the
            command refuses its options.
    """

    method: str
    die: int
    out: Path
    dataset: str = "mnist5k"
    data_dir: Path | None = None
    image_size: int = DEFAULT_IMAGE_SIZE
    hidden: tuple[int, ...] = (64,)
    epochs: int = 30
    seed: int = 0
    profile: str = "1t1r-20k"
    lot_seed: int = 0
    characterization: Sequence[Path] = ()
    population_dies: int = 8
    station: Path | None = None
    loop_epochs: int = 5
    copies: str = "auto"
    compensation_budget: float = COMPENSATION_BUDGET
    compensation_epochs: int = COMPENSATION_EPOCHS

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"--method must be one of {', '.join(METHODS)}, not {self.method!r}")
        for f in _COUNTS:
            setattr(
                self, f.name, checked(f, getattr(self, f.name), f"--{f.name.replace('_', '-')}")
            )
        widths = list(self.hidden) if isinstance(self.hidden, list | tuple) else self.hidden
        self.hidden = tuple(checked(_HIDDEN, widths, "--hidden"))
        if not isinstance(self.copies, str):
            raise ConfigError(
                f"--copies must be text ('auto', 'K' or 'K0,K1,...'), not {self.copies!r}"
            )
        files = self.characterization
        files = [files] if isinstance(files, str | Path) else files
        self.characterization = tuple(Path(p) for p in files)
        self.out = Path(self.out)
        self.station = None if self.station is None else Path(self.station)
        self.data_dir = None if self.data_dir is None else Path(self.data_dir)
        check_data_dir(self.dataset, self.data_dir)
        size = None if self.image_size == DEFAULT_IMAGE_SIZE else self.image_size
        check_image_size(self.dataset, size)
        default = {f.name: f.default for f in fields(self)}
        check_method_options(
            self.method, [n for n in METHOD_OPTIONS if getattr(self, n) != default[n]]
        )


def train_network(spec: TrainSpec) -> dict[str, Any]:
    """Train a network for die ``spec.die`` and save it with its placement in ``spec.out``.

    Everything that can be checked (data, network fits the die, characterisation files, the
    output path) is checked before training starts.

    Returns:
        A summary: method, software test error (fraction), the die's id and the output path.

    Raises:
        ConfigError, DatasetError, TrainingError, StoreError: see the messages.
    """
    refuse_existing_network(spec.out)
    if spec.station is not None:  # before any training: the station's die is the one measured
        refuse_other_lab_die(spec.station, spec.die, verb="train for")
    try:
        check_writable_place(spec.out)
    except OSError as exc:
        raise StoreError(
            f"cannot write the network file {spec.out}: {exc.strerror or exc}; nothing trained"
        ) from exc
    data = load_dataset(spec.dataset, spec.seed, data_dir=spec.data_dir, image_size=spec.image_size)
    profile = load_profile(spec.profile)
    layout = profile.layout
    sizes = [data.n_features, *spec.hidden, data.n_classes]
    try:
        check_fits(sizes, layout)
    except TrainingError as exc:
        raise TrainingError(
            f"the network {'-'.join(map(str, sizes))} does not fit a die of profile "
            f"{spec.profile}: {exc} (fewer or narrower --hidden layers, a smaller --image-size, "
            "or a profile with more arrays)"
        ) from None
    target = die_id(spec.profile, spec.lot_seed, spec.die)
    copies: list[int] = []
    requested = None
    if spec.method == "lea":
        requested = parse_copies(spec.copies, len(sizes) - 1)
        copies = resolve_copies(sizes, layout, requested)
    files = list(spec.characterization)
    if spec.method in (*DIE_METHODS, "lea") and len(files) > 1:
        raise ConfigError(f"{spec.method} training takes one --characterization (its die)")
    if files and spec.method in (*DIE_METHODS, "lea") and spec.station is None:
        target = _labelled_die(files[0]) or target
    # every measured model is loaded (and checked) before any training
    model, models = None, []
    if spec.method in DIE_METHODS:
        with SimulatedChip.from_lot(spec.profile, spec.lot_seed, spec.die) as chip:
            model = measured_model(chip, files[0] if files else None, target)
    elif spec.method == "lea":
        with open_chip(spec.station, spec.profile, spec.lot_seed, spec.die) as chip:
            if spec.station is not None:
                target = station_target(spec.station)
            model = measured_model(
                chip, files[0] if files else None, None if spec.station else target
            )
    elif spec.method == "statistics-aware":
        models = _population_models(spec, layout)
    if model is not None:
        if spec.method == "lea" and requested is None:  # auto: as many as the die can hold
            copies = resolve_copies(sizes, layout, None, model.defects)
        check_usable(sizes, model.defects, copies or None, target)
    rng = np.random.default_rng(np.random.SeedSequence([spec.seed, spec.die]))
    cfg = TrainConfig(epochs=spec.epochs)
    unaware = train_unaware(data, spec.hidden, rng, cfg).net
    placement = place(sizes, layout)
    net = unaware
    comp = None
    if spec.method in DIE_METHODS:
        assert model is not None
        placement = place_defect_aware(sizes, layout, model.defects, (data.X_train**2).mean(0))
        ft = TrainConfig(epochs=max(1, spec.epochs // 3), lr=0.003)
        net = train_defect_aware(data, spec.hidden, model, placement, rng, ft, init=unaware).net
        if spec.method == "defect-aware-compensated":  # the same network, fine-tuned further
            net, comp = fine_tune_compensated(spec, data, net, model, placement, rng)
    elif spec.method == "statistics-aware":
        population = fit_population(models)
        st = TrainConfig(epochs=2 * spec.epochs, lr=0.003)
        net = train_statistics_aware(
            data, spec.hidden, population, placement, rng, st, pool_size=128, init=unaware
        ).net
    loop: dict[str, Any] = {}
    lea = None
    if spec.method == "lea":
        assert model is not None
        lea = build_lea(sizes, model, copies, input_importance=(data.X_train**2).mean(0))
        placement = Placement(layout, [g[0] for g in lea[0].copies])
        loop = {"lea_copies": copies, "lea_device_cost": lea[0].device_cost()}
    if spec.method == "chip-in-the-loop":
        net, loop = _train_in_the_loop(spec, data, unaware, sizes, rng)
        placement = loop.pop("placement")
        target = loop.pop("die_id", target)
    error = 1.0 - evaluate_software(net, data.X_test, data.y_test)
    run = RunFile.create(
        spec.out,
        KIND,
        die_id=target,
        seed=spec.seed,
        # the station file it was trained on, as a record (a run file's station attribute
        # holds JSON: plain text there made the file unreadable)
        station=None if spec.station is None else {"station_file": str(spec.station)},
        extra={
            "method": spec.method,
            "dataset": spec.dataset,
            "dataset_name": data.name,
            "preprocessing": data.preprocessing,
            "image_size": spec.image_size,
            "data_dir": "" if spec.data_dir is None else str(spec.data_dir.resolve()),
            "data_fingerprint": json.dumps(data_fingerprint(data)),
            "profile": _recorded_profile(spec.profile),
            # its values: a profile file edited since makes the same die id another die
            "profile_values": json.dumps(as_dict(profile), default=str),
            "lot_seed": spec.lot_seed,
            "die": spec.die,
            "characterization": [str(p) for p in spec.characterization],
            "chip_in_the_loop": loop,
        },
    )
    try:
        save_network(run, "network", net, placement)
        if lea is not None:
            save_lea(run, "network", *lea)
        if comp is not None:
            save_compensation(
                run,
                "network",
                comp,
                budget=spec.compensation_budget,
                epochs=spec.compensation_epochs,
            )
        run.write("errors/software", error, "1", "test error with ideal devices")
        run.set_status("completed")
    finally:
        run.close()
    summary = {"method": spec.method, "software_error": error, "die_id": target, "out": spec.out}
    summary.update({k: v for k, v in loop.items() if k.startswith(("on_chip", "lea"))})
    if comp is not None:
        summary["corrected_weights"] = comp.digital_cost()
    return summary


def refuse_existing_network(out: Path) -> None:
    """Refuse an output that exists, saying so plainly when it is a training run that was
    stopped while being saved (training is not resumed: delete it and train again).

    Raises:
        StoreError: ``out`` exists.
    """
    if not out.exists():
        return
    from mtj_hil.runs.store.resume import resume_hint

    try:
        with RunFile.open(out) as run:
            attrs = run.attrs
    except StoreError:
        attrs = {}
    if attrs.get("kind") == KIND and attrs.get("status") != "completed" and not writer_active(out):
        raise StoreError(
            f"{out} is an unfinished training run (stopped while its network was being saved, "
            f"status {attrs.get('status')!r}); {resume_hint(attrs, out)}"
        )
    raise StoreError(f"{out} already exists; choose another --out")


def fine_tune_compensated(
    spec: TrainSpec,
    data: Dataset,
    net: BNN,
    model: DieModel,
    placement: Placement,
    rng: np.random.Generator,
) -> tuple[BNN, Compensation]:
    """The defect-aware ``net`` fine-tuned ``spec.compensation_epochs`` more for its digital
    compensation (``spec.compensation_budget``), by the function and with the fine-tuning
    settings (step, selection, shrink) of the Borders experiment's
    ``defect_aware_compensated`` column, where its defaults were chosen."""
    b = BordersConfig  # its defaults: the settings that column is measured with
    config = TrainConfig(epochs=spec.compensation_epochs, lr=b.finetune_lr, lr_final=b.lr_final)
    result, comp = train_defect_aware_compensated(
        data,
        spec.hidden,
        model,
        placement,
        rng,
        config,
        net,
        spec.compensation_budget,
        select=b.select,
        init_shrink=b.finetune_shrink,
    )
    return result.net, comp


def _recorded_profile(profile: str) -> str:
    """The profile as a network file records it: a shipped name as it is, a TOML file as its
    absolute path (``mtj-hil evaluate`` may run from another folder)."""
    if is_shipped_profile(profile):  # (as load_profile reads it: the shipped one)
        return profile
    path = Path(profile)
    return str(path.resolve()) if path.suffix == ".toml" or path.is_file() else profile


def _train_in_the_loop(
    spec: TrainSpec, data: Dataset, start: Any, sizes: list[int], rng: np.random.Generator
) -> tuple[Any, dict[str, Any]]:
    """Fine-tune the software network with forward passes measured on the die (simulated,
    or the station's); returns the network and what it cost, with the on-chip test error
    before and after (fractions)."""
    with open_chip(spec.station, spec.profile, spec.lot_seed, spec.die) as chip:
        placement = place(sizes, chip.layout)
        # the write-verify judges each device by its own levels, measured first
        thresholds = measured_model(chip, None, None).state_thresholds()
        before, _ = evaluate_on_chip(
            chip, start, placement, data.X_test, data.y_test, thresholds=thresholds
        )
        net = start.copy()
        config = TrainConfig(epochs=spec.loop_epochs, lr=0.003, lr_final=0.0003)
        result, stats = train_chip_in_the_loop(
            data, net, chip, placement, rng, config, thresholds=thresholds
        )
        after, _ = evaluate_on_chip(chip, net, placement, data.X_test, data.y_test, program=False)
        info: dict[str, Any] = {
            "placement": placement,
            "epochs": spec.loop_epochs,
            "seconds": result.seconds,
            "reads": stats.reads,
            "rewrites": stats.rewrites,
            "residual_devices": stats.residual,
            "on_chip_error_before": 1.0 - before,
            "on_chip_error_after": 1.0 - after,
        }
        if spec.station is not None:
            info["die_id"] = station_target(spec.station)
    return net, info


def _labelled_die(characterization: Path) -> str | None:
    """The id of the die ``characterization`` measured when that is a die of a station (its
    ``--die-id`` label, not a simulated die's ``sim:...`` id): a network trained on its map
    is for that die. None for a simulated die's run (it must then be of ``--die``), or a file
    that is not a characterisation (refused when its model is loaded)."""
    try:
        with RunFile.open(characterization, "r", kind=CHARACTERIZATION) as run:
            found = str(run.attrs.get("die_id", ""))
    except StoreError:
        return None
    return found if found and not found.startswith(SIMULATED_PREFIX) else None


def _population_models(spec: TrainSpec, layout: Layout) -> list[DieModel]:
    """Measured models to fit the population on: the given files, else dies 0..N-1 of the lot
    characterised now."""
    if spec.characterization:
        name = load_profile(spec.profile).name
        return load_population_models(spec.characterization, layout, name)
    models = []
    for k in range(spec.population_dies):
        with SimulatedChip.from_lot(spec.profile, spec.lot_seed, k) as chip:
            sink = MemorySink()
            characterize_die(chip, sink)
            models.append(model_from_memory(layout, sink))
    return models


def summary_json(summary: dict[str, Any]) -> str:
    """A summary as one JSON line (paths as text; numbers to 12 significant digits, so an
    error of 98 in 1000 reads 0.098, not the 0.09799999999999998 of ``1 - 0.902``)."""
    return json.dumps(_tidy(summary), default=str)


def _tidy(value: Any) -> Any:
    """``value`` with every float (in dicts and lists too) rounded to 12 significant digits
    and every path or text as the user typed it (:func:`mtj_hil.errors.as_typed`: JSON
    would carry a C locale's surrogates as ``\udcc3``)."""
    if isinstance(value, str | os.PathLike):
        return as_typed(os.fspath(value))
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {k: _tidy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_tidy(v) for v in value]
    return value
