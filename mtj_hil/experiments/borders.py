"""The 36-die experiment after Borders et al.: software baseline, unaware, defect-aware and
statistics-aware networks on a lot of simulated dies, each die characterised first.

Per die: the die is characterised through the Chip interface (``characterize_die``), and the
measured map (not the simulator's truth) is the die model. Errors are fractions of the test
set. Evaluation is emulation with the measured model plus its read noise, and optionally on
the simulated die itself (program with write-verify, batched crossbar reads).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mtj_hil.errors import ConfigError
from mtj_hil.experiments.data import load_dataset
from mtj_hil.experiments.diemodels import fit_population, model_from_memory
from mtj_hil.experiments.onchip import evaluate_on_chip
from mtj_hil.sim.chip import SimulatedChip
from mtj_hil.sim.profile import DeviceProfile, load_profile
from mtj_hil.training.bnn import BNN, TrainConfig
from mtj_hil.training.datasets import Dataset
from mtj_hil.training.die_model import DieModel, PopulationModel
from mtj_hil.training.mapping import Placement, check_fits, place, place_defect_aware
from mtj_hil.training.methods import (
    evaluate_emulated,
    evaluate_software,
    train_defect_aware,
    train_statistics_aware,
    train_unaware,
)
from protocols.characterize import MemorySink, characterize_die

METHODS = ("software", "unaware", "defect_aware", "statistics_aware")
"""Columns of the result, in the order of the seed paper's figure."""

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``."""


@dataclass
class BordersConfig:
    """What to run. Epoch counts are passes over the training set.

    Attributes:
        dataset: ``mnist5k`` | ``digits`` | ``idx`` (see :func:`load_dataset`).
        data_dir: folder of IDX files (``idx`` only).
        image_size: MNIST pixels per side after area down-sampling.
        profile: die profile name or TOML path.
        dies: number of dies of the lot (die indices ``0 .. dies - 1``).
        lot_seed: seed of the simulated lot.
        hidden: hidden-layer widths.
        epochs: epochs of the unaware and statistics-aware training.
        finetune_epochs: epochs of the per-die defect-aware fine-tuning.
        finetune_lr: Adam step of the fine-tuning (cosine-decayed to a tenth).
        stats_lr: Adam step of the statistics-aware training (starts from the unaware net).
        pool_size: die realisations pre-drawn for statistics-aware training.
        seed: master seed (data split, training, evaluation noise).
        on_chip: also measure the three networks on every simulated die.
    """

    dataset: str = "mnist5k"
    data_dir: Path | None = None
    image_size: int = 10
    profile: str = "1t1r-20k"
    dies: int = 36
    lot_seed: int = 0
    hidden: tuple[int, ...] = (64,)
    epochs: int = 30
    finetune_epochs: int = 10
    finetune_lr: float = 0.003
    stats_lr: float = 0.003
    pool_size: int = 128
    seed: int = 0
    on_chip: bool = False

    def __post_init__(self) -> None:
        if self.dies < 1:
            raise ConfigError(f"--dies must be >= 1, got {self.dies}")
        if self.epochs < 1 or self.finetune_epochs < 1:
            raise ConfigError("epochs must be >= 1")
        if self.pool_size < 1:
            raise ConfigError(f"pool size must be >= 1, got {self.pool_size}")
        if not self.hidden or min(self.hidden) < 1:
            raise ConfigError(f"hidden layer widths must be >= 1, got {self.hidden}")


@dataclass
class DieResult:
    """One die: test errors (counts of wrong test samples) per method and what it held."""

    index: int
    wrong: dict[str, int]
    wrong_on_chip: dict[str, int]
    defects: dict[str, int]
    read_noise: float
    truth_agreement: float
    placement: dict[str, Any]
    bit_error_rate: dict[str, float] = field(default_factory=dict)


@dataclass
class BordersResult:
    """Everything the experiment produced (errors are counts out of ``n_test``)."""

    config: BordersConfig
    dataset: str
    preprocessing: dict[str, Any]
    sizes: list[int]
    n_test: int
    software_wrong: int
    dies: list[DieResult]
    population: PopulationModel
    nets: dict[str, BNN]
    placement: Placement
    seconds: float

    def errors(self, method: str, on_chip: bool = False) -> np.ndarray:
        """Per-die error fractions of ``method`` (``software`` repeats the baseline)."""
        if method == "software":
            return np.full(len(self.dies), self.software_wrong / self.n_test)
        src = [(d.wrong_on_chip if on_chip else d.wrong).get(method, -1) for d in self.dies]
        return np.array([np.nan if w < 0 else w / self.n_test for w in src])


def _errors(acc: float, n: int) -> int:
    return int(round((1.0 - acc) * n))


def run_borders(config: BordersConfig, progress: Progress | None = None) -> BordersResult:
    """Run the experiment (see the module docstring).

    Raises:
        ConfigError: bad configuration or profile.
        DatasetError: the data set is missing or malformed.
        TrainingError: the network does not fit the die (raised before any die is touched).
    """
    t0 = time.perf_counter()
    report = progress or (lambda stage, done, total: None)
    seeds = np.random.SeedSequence(config.seed).spawn(5)
    data_seed = int(seeds[0].generate_state(1)[0])
    data = load_dataset(
        config.dataset, data_seed, data_dir=config.data_dir, image_size=config.image_size
    )
    profile = load_profile(config.profile)
    layout = profile.layout
    sizes = [data.n_features, *config.hidden, data.n_classes]
    check_fits(sizes, layout)
    plain = place(sizes, layout)
    cfg = TrainConfig(epochs=config.epochs)

    report("train unaware", 0, 1)
    unaware = train_unaware(data, config.hidden, np.random.default_rng(seeds[1]), cfg).net
    software_wrong = _errors(evaluate_software(unaware, data.X_test, data.y_test), data.y_test.size)
    report("train unaware", 1, 1)

    models, agreement = _characterise(profile, config, report)
    population = fit_population(models)
    report("train statistics-aware", 0, 1)
    stats_cfg = TrainConfig(epochs=2 * config.epochs, lr=config.stats_lr)
    stats = train_statistics_aware(
        data,
        config.hidden,
        population,
        plain,
        np.random.default_rng(seeds[2]),
        stats_cfg,
        pool_size=config.pool_size,
        init=unaware,
    ).net
    report("train statistics-aware", 1, 1)

    die_seeds = seeds[3].spawn(config.dies)
    importance = (data.X_train**2).mean(axis=0)
    results = []
    for k, model in enumerate(models):
        report("dies", k, config.dies)
        rng = np.random.default_rng(die_seeds[k])
        placed = place_defect_aware(sizes, layout, model.defects, importance)
        ft = TrainConfig(epochs=config.finetune_epochs, lr=config.finetune_lr)
        tuned = train_defect_aware(data, config.hidden, model, placed, rng, ft, init=unaware).net
        nets = {
            "unaware": (unaware, plain),
            "defect_aware": (tuned, placed),
            "statistics_aware": (stats, plain),
        }
        wrong = {
            name: _errors(_emulate(net, pl, model, data, rng), data.y_test.size)
            for name, (net, pl) in nets.items()
        }
        on_chip, ber = _on_chip(profile, config, k, nets, data) if config.on_chip else ({}, {})
        results.append(
            DieResult(
                k,
                wrong,
                on_chip,
                model.counts(),
                model.read_noise,
                agreement[k],
                placed.as_dict(),
                ber,
            )
        )
    report("dies", config.dies, config.dies)
    return BordersResult(
        config,
        data.name,
        data.preprocessing,
        sizes,
        int(data.y_test.size),
        software_wrong,
        results,
        population,
        {"unaware": unaware, "statistics_aware": stats},
        plain,
        time.perf_counter() - t0,
    )


def _emulate(
    net: BNN, placement: Placement, model: DieModel, data: Dataset, rng: np.random.Generator
) -> float:
    return evaluate_emulated(net, data.X_test, data.y_test, model, placement, noise=True, rng=rng)


def _characterise(
    profile: DeviceProfile, config: BordersConfig, report: Progress
) -> tuple[list[DieModel], list[float]]:
    """Characterise every die of the lot; measured models and agreement with the truth."""
    models, agreement = [], []
    for k in range(config.dies):
        report("characterise", k, config.dies)
        with SimulatedChip.from_lot(profile, config.lot_seed, k) as chip:
            sink = MemorySink()
            found = characterize_die(chip, sink)
            models.append(model_from_memory(chip.layout, sink))
            agreement.append(float(np.mean(found.codes == chip.die.defect)))
    report("characterise", config.dies, config.dies)
    return models, agreement


def _on_chip(
    profile: DeviceProfile,
    config: BordersConfig,
    k: int,
    nets: dict[str, tuple[BNN, Placement]],
    data: Dataset,
) -> tuple[dict[str, int], dict[str, float]]:
    """Measure each network on die ``k`` (drawn again from its seed: the same devices)."""
    wrong, ber = {}, {}
    with SimulatedChip.from_lot(profile, config.lot_seed, k) as chip:
        for name, (net, pl) in nets.items():
            acc, rep = evaluate_on_chip(chip, net, pl, data.X_test, data.y_test)
            wrong[name] = _errors(acc, data.y_test.size)
            ber[name] = rep.bit_error_rate if rep is not None else float("nan")
    return wrong, ber


def config_record(config: BordersConfig) -> dict[str, Any]:
    """JSON-serialisable form of the configuration."""
    rec = asdict(config)
    rec["data_dir"] = None if config.data_dir is None else str(config.data_dir)
    rec["hidden"] = list(config.hidden)
    return rec
