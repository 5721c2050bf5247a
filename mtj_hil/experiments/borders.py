"""The 36-die experiment after Borders et al.: software baseline, unaware, defect-aware and
statistics-aware networks on a lot of simulated dies, each die characterised first.

Per die: the die is characterised through the Chip interface (``characterize_die``), and the
measured map (not the simulator's truth) is the die model. Errors are fractions of the test
set. Evaluation is emulation with the measured model plus its read noise, and optionally on
the simulated die itself (program with write-verify, batched crossbar reads).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mtj_hil.errors import ConfigError, counted
from mtj_hil.experiments.borders_config import BordersConfig
from mtj_hil.experiments.borders_die import characterise_lot
from mtj_hil.experiments.borders_loop import DieContext, DieResult, die_results
from mtj_hil.experiments.borders_stats import stats_groups, train_stats
from mtj_hil.experiments.data import hold_out, load_dataset
from mtj_hil.experiments.diemodels import fit_population
from mtj_hil.experiments.lea import lot_copies
from mtj_hil.experiments.parallel import parallel_map
from mtj_hil.sim.profile import load_profile
from mtj_hil.training.bnn import BNN, TrainConfig
from mtj_hil.training.capacity import check_pool_memory
from mtj_hil.training.datasets import Dataset
from mtj_hil.training.die_model import DieModel, PopulationModel
from mtj_hil.training.ensemble import (
    auto_copies,
    check_ensemble_fits,
    place_ensemble,
)
from mtj_hil.training.errors import TrainingError
from mtj_hil.training.mapping import Placement, check_fits, place, place_defect_aware
from mtj_hil.training.methods import (
    train_defect_aware,
    train_unaware,
)

METHODS = (
    "software",
    "unaware",
    "unaware_placed",
    "defect_aware",
    "defect_aware_compensated",
    "statistics_aware",
    "statistics_aware_plain",
    "lea",
    "lea_statistics",
    "lea_recalibrated",
    "statistics_recalibrated",
    "lea_statistics_recalibrated",
    "statistics_compensated",
    "lea_statistics_compensated",
)
"""Columns of the result. ``unaware`` is the software network on the straightforward
placement; ``unaware_placed`` the same network routed by :func:`place_defect_aware` and,
with ``weight_routing``, for its weights (what the placement alone buys); ``statistics_aware`` one network for all dies, trained through
realisations placed the way each die is placed, deployed with each die's defect-aware
placement; ``statistics_aware_plain`` (optional) the same training on the straightforward
placement for every die; ``lea`` the software network with Layer Ensemble Averaging
(:mod:`mtj_hil.training.ensemble`: ``lea_copies`` copies per layer on each die's cleanest
arrays, averaged per output over the copies with fewest measured defects; no retraining);
``lea_statistics`` the statistics-aware network deployed the same way (no per-die
retraining either); ``lea_recalibrated``, ``statistics_recalibrated`` and
``lea_statistics_recalibrated`` the LEA, statistics-aware and LEA-of-statistics-aware
deployments with a per-neuron digital gain and offset fitted to the die's reads of
a batch of training images (:mod:`mtj_hil.training.recalibration`: no weight is retrained,
no device rewritten; optional, ``recalibrate``); ``statistics_compensated`` and
``lea_statistics_compensated`` a statistics-aware network alone and with LEA with the
data-free digital compensation of :mod:`mtj_hil.training.compensation` (per-neuron scale
and shift and the costliest weights' errors corrected digitally, from the die's measured
conductances: no reads, no per-die retraining; optional, ``compensation_budget``), the
network trained once for the lot against what the compensation leaves
(``compensation_training``); ``defect_aware_compensated`` the per-die defect-aware
fine-tuning with the same budget of the die's costliest weight errors corrected digitally,
trained through what that correction leaves of the die
(:func:`~mtj_hil.experiments.borders_loop.defect_aware_compensated`; not with
``shared_rows``)."""

PLACEMENTS = ("defect-aware", "plain")

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``."""


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
    lea_copies: list[int] = field(default_factory=list)
    lea_device_cost: float = float("nan")

    def methods(self) -> list[str]:
        """Methods this run evaluated, in :data:`METHODS` order."""
        return [m for m in METHODS if m == "software" or (self.dies and m in self.dies[0].wrong)]

    def errors(self, method: str, on_chip: bool = False) -> np.ndarray:
        """Per-die error fractions of ``method`` (``software`` repeats the baseline)."""
        if method == "software":
            return np.full(len(self.dies), self.software_wrong / self.n_test)
        src = [(d.wrong_on_chip if on_chip else d.wrong).get(method, -1) for d in self.dies]
        return np.array([np.nan if w < 0 else w / self.n_test for w in src])

    def paired(self, method: str) -> np.ndarray:
        """Per-die ``(difference, low, high)`` against the software baseline, shape
        ``(dies, 3)`` (fractions; NaN where not evaluated)."""
        return np.array([d.paired.get(method, [np.nan] * 3) for d in self.dies], dtype=float)


def _errors(acc: float, n: int) -> int:
    return int(round((1.0 - acc) * n))


def run_borders(
    config: BordersConfig,
    progress: Progress | None = None,
    characterised: tuple[list[DieModel], list[float]] | None = None,
) -> BordersResult:
    """Run the experiment (see the module docstring).

    Args:
        config: what to run.
        progress: ``progress(stage, done, total)`` callback.
        characterised: measured die models and their agreement with the truth from an
            earlier run on the same lot (skips the characterisation; see
            :func:`run_borders_seeds`).

    Raises:
        ConfigError: bad configuration or profile.
        DatasetError: the data set is missing or malformed.
        TrainingError: the network does not fit the die (raised before any die is touched).
    """
    t0 = time.perf_counter()
    report = progress or (lambda stage, done, total: None)
    seeds = np.random.SeedSequence(config.seed).spawn(6)
    data, profile, sizes = checked_setup(config, seeds[0])
    layout = profile.layout
    copies = list(config.lea_copies) or auto_copies(sizes, layout)
    plain = place(sizes, layout)
    importance = (data.X_train**2).mean(axis=0)

    def placer(codes: np.ndarray) -> Placement:
        return place_defect_aware(sizes, layout, codes, importance)

    if characterised is None:
        characterised = characterise_lot(
            profile, config.lot_seed, config.dies, report, config.workers
        )
    models, agreement = characterised
    if len(models) != config.dies:
        raise ConfigError(f"{len(models)} characterised dies given for --dies {config.dies}")
    # refused before any training: a die that cannot hold the network or its LEA copies
    copies = lot_copies(sizes, layout, models, config.lea_copies, config.lot_seed)
    report("train unaware", 0, 1)
    cfg = TrainConfig(epochs=config.epochs, lr_final=config.lr_final)
    base = train_unaware(data, config.hidden, np.random.default_rng(seeds[1]), cfg).net
    ft = TrainConfig(epochs=config.finetune_epochs, lr=config.finetune_lr, lr_final=config.lr_final)
    # the software baseline gets the same fine-tuning as the defect-aware and
    # statistics-aware networks, through ideal devices, so no method gains extra training
    unaware = train_defect_aware(
        data,
        config.hidden,
        DieModel.ideal(layout),
        plain,
        np.random.default_rng(seeds[4]),
        ft,
        init=base,
        select=config.select,
    ).net
    sw_wrong = unaware.predict(data.X_test) != data.y_test
    report("train unaware", 1, 1)

    population = fit_population(models)
    stats_runs = {"statistics_aware": placer}
    if config.compare_plain:
        stats_runs["statistics_aware_plain"] = None
    residual = config.compensation_budget is not None and config.compensation_training
    stats_cfg = TrainConfig(
        epochs=config.stats_epochs, lr=config.stats_lr, lr_final=config.lr_final
    )
    stats_start = unaware if config.stats_from == "software" else base
    groups = stats_groups(models, config, population)
    group_of = {k: g for g, (_, members) in enumerate(groups) for k in members}
    keys, runs = [], []
    for i, (name, how) in enumerate(stats_runs.items()):
        for g, (pop, _) in enumerate(groups):
            keys.append(name if g == 0 else f"{name}_{g}")
            state = np.random.default_rng([*seeds[2 + 3 * i].generate_state(2), g])
            twin = residual and name == "statistics_aware"
            if twin:  # the same pool draws, trained against what the compensation leaves
                keys.append("statistics_residual" if g == 0 else f"statistics_residual_{g}")
            runs.append((data, config, pop, plain, state, stats_cfg, stats_start, how, twin))
    done = parallel_map(train_stats, runs, config.workers, report, "train statistics-aware")
    nets = [net for pair in done for net in pair]
    stats_nets: dict[str, BNN] = dict(zip(keys, nets, strict=True))

    ctx = DieContext(
        config,
        profile,
        data,
        sizes,
        copies,
        importance,
        plain,
        base,
        unaware,
        ft,
        stats_nets,
        group_of,
        sw_wrong,
        agreement,
    )
    results = die_results(ctx, models, seeds[3].spawn(config.dies), config.workers, report)
    return BordersResult(
        config,
        data.name,
        data.preprocessing,
        sizes,
        int(data.y_test.size),
        int(sw_wrong.sum()),
        results,
        population,
        {"unaware": unaware, **stats_nets},
        plain,
        time.perf_counter() - t0,
        copies,
        place_ensemble(sizes, layout, copies).device_cost(),
    )


def checked_setup(
    config: BordersConfig,
    data_seeds: np.random.SeedSequence | None = None,
    memory: bool = True,
) -> tuple[Dataset, Any, list[int]]:
    """The data set, the die profile and the network's layer sizes of ``config``, checked
    before any die is characterised or any network trained: the network and its LEA
    copies fit the die's arrays, shared rows leave half the inputs, the recalibration's
    rank fits its batch and (``memory``) the statistics-aware pool fits in this machine's
    free memory (``data_seeds``: the run's data seeds; the sizes do not depend on them).

    A campaign makes the same checks when it loads (without ``memory``: its tasks may run
    on other machines, hours later), so a refused error carries the :class:`BordersConfig`
    setting at fault as ``exc.setting``.

    Raises:
        ConfigError, DatasetError, TrainingError: as :func:`run_borders`.
    """
    data_seeds = data_seeds or np.random.SeedSequence(config.seed).spawn(6)[0]
    fold = config.seed % 5 if config.folds and config.dataset == "mnist5k" else None
    try:
        data = load_dataset(
            config.dataset,
            int(data_seeds.generate_state(1)[0]),
            data_dir=config.data_dir,
            image_size=config.image_size,
            fold=fold,
        )
    except (ConfigError, TrainingError) as exc:  # DatasetError is a TrainingError
        _about("data_dir" if config.dataset == "idx" else "dataset", exc)
        raise
    if config.validation > 0:
        data = hold_out(data, config.validation, int(data_seeds.spawn(1)[0].generate_state(1)[0]))
    profile = load_profile(config.profile)
    sizes = [data.n_features, *config.hidden, data.n_classes]
    try:
        check_fits(sizes, profile.layout)
    except TrainingError as exc:
        raise _about(
            "hidden",
            TrainingError(
                f"the network {'-'.join(map(str, sizes))} does not fit a die of profile "
                f"{config.profile}: {exc} (fewer --hidden units, a smaller --image-size, or a "
                "larger die)"
            ),
        ) from None
    if memory:
        check_pool_memory(sizes, config.pool_size + 8)  # with the 8 that select epochs
    rows = min(config.calibration_batch, data.X_train.shape[0])
    if config.recalibrate and config.recal_components > rows - 2:
        raise _about(
            "recal_components",
            ConfigError(
                f"recal_components {config.recal_components} cannot be fitted from a "
                f"calibration batch of {rows} rows (at most {rows - 2})"
            ),
        )
    if config.shared_rows > data.n_features // 2:
        raise _about(
            "shared_rows",
            ConfigError(
                f"shared_rows {config.shared_rows} is more than half of {data.name}'s "
                f"{data.n_features} inputs (at most {data.n_features // 2})"
            ),
        )
    copies = list(config.lea_copies) or auto_copies(sizes, profile.layout)
    if len(copies) != len(sizes) - 1:
        raise _about(
            "lea_copies",
            ConfigError(
                f"LEA copies {copies} for a network of {counted(len(sizes) - 1, 'layer')} "
                "(give one count per layer)"
            ),
        )
    try:
        check_ensemble_fits(sizes, profile.layout, copies)
    except TrainingError as exc:
        _about("lea_copies", exc)
        raise
    return data, profile, sizes


def _about(setting: str, exc: Exception) -> Exception:
    """``exc`` marked with the :class:`BordersConfig` setting it refuses (``exc.setting``),
    so a campaign can name its key."""
    exc.setting = setting  # type: ignore[attr-defined]
    return exc


def run_borders_seeds(
    config: BordersConfig, seeds: Sequence[int], progress: Progress | None = None
) -> list[BordersResult]:
    """:func:`run_borders` once per master seed (``config.seed`` is replaced), characterising
    the lot only once.

    Raises:
        ConfigError: no seeds, or see :func:`run_borders`.
    """
    if not seeds:
        raise ConfigError("give at least one seed")
    report = progress or (lambda stage, done, total: None)
    checked_setup(replace(config, seed=int(seeds[0])))  # refused before the lot is measured
    characterised = characterise_lot(
        load_profile(config.profile), config.lot_seed, config.dies, report, config.workers
    )
    return [run_borders(replace(config, seed=int(s)), progress, characterised) for s in seeds]


def _group_net(nets: dict[str, BNN], name: str, group: int) -> BNN:
    return nets[name if group == 0 else f"{name}_{group}"]
