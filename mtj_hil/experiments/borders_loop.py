"""The per-die loop of the Borders experiment (:mod:`mtj_hil.experiments.borders`): for each
measured die, the defect-aware fine-tuning and every method's test errors, one die at a
time or spread over worker processes.

Each die draws from its own seed, so the results do not depend on how many workers ran them
(a test compares 1 and 2 workers). Workers are local processes
(:func:`~mtj_hil.experiments.parallel.parallel_map`); errors are counts of wrong test
samples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mtj_hil.experiments.borders_die import (
    LeaDeployment,
    compensated_wrong,
    emulated_wrong,
    fitted_compensation,
    measure_on_chip,
    recalibrated_wrong,
)
from mtj_hil.experiments.parallel import parallel_map
from mtj_hil.experiments.stats import discordant, paired_difference
from mtj_hil.sim.profile import DeviceProfile
from mtj_hil.training.bias_correction import correct_biases, input_means
from mtj_hil.training.bnn import BNN, TrainConfig
from mtj_hil.training.compensation import Compensation, NetworkStatistics, network_statistics
from mtj_hil.training.datasets import Dataset
from mtj_hil.training.die_model import DieModel
from mtj_hil.training.ensemble import (
    EnsemblePlacement,
    lea_weights,
    place_ensemble,
    predict_lea,
)
from mtj_hil.training.mapping import Placement, place_defect_aware
from mtj_hil.training.matching import input_importance, match_ensemble, match_weights
from mtj_hil.training.methods import train_defect_aware, train_defect_aware_compensated
from mtj_hil.training.recalibration import calibration_batch
from mtj_hil.training.sharing import InputSharing, share_inputs

Progress = Callable[[str, int, int], None]


@dataclass
class DieResult:
    """One die: test errors (counts of wrong test samples) per method and what it held.

    ``paired`` holds, per method, ``[difference, low, high]``: the method's error minus the
    software baseline's on the same test samples (fractions) with its 95 % interval.
    """

    index: int
    wrong: dict[str, int]
    wrong_on_chip: dict[str, int]
    defects: dict[str, int]
    read_noise: float
    truth_agreement: float
    placement: dict[str, Any]
    bit_error_rate: dict[str, float] = field(default_factory=dict)
    paired: dict[str, list[float]] = field(default_factory=dict)
    discordant: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class DieContext:
    """What every die's step shares: the data, the trained networks and the settings (a
    :class:`~mtj_hil.experiments.borders.BordersConfig` as ``config``)."""

    config: Any
    profile: DeviceProfile
    data: Dataset
    sizes: list[int]
    copies: list[int]
    importance: np.ndarray
    plain: Placement
    base: BNN
    unaware: BNN
    finetune: TrainConfig
    stats_nets: dict[str, BNN]
    group_of: dict[int, int]
    software_wrong: np.ndarray
    agreement: list[float]
    moments: dict[int, list[np.ndarray]] = field(default_factory=dict, repr=False)
    """Per network (by ``id``, the networks live as long as the context) its layers' input
    mean squares: the same on every die, so computed once per process."""
    means: dict[int, list[np.ndarray]] = field(default_factory=dict, repr=False)
    """Per network (by ``id``) its layers' input means for the bias correction, likewise."""
    statistics: dict[int, NetworkStatistics] = field(default_factory=dict, repr=False)
    """Per network (by ``id``) its input statistics and saliency for the compensation."""

    def statistics_of(self, net: BNN) -> NetworkStatistics:
        """``net``'s :func:`network_statistics` over the training data, cached."""
        if id(net) not in self.statistics:
            self.statistics[id(net)] = network_statistics(net, self.data.X_train, self.data.y_train)
        return self.statistics[id(net)]

    def importance_of(self, net: BNN) -> list[np.ndarray]:
        """``net``'s input importance for routing (:func:`input_importance`), cached."""
        if id(net) not in self.moments:
            self.moments[id(net)] = input_importance(net, self.data.X_train)
        return self.moments[id(net)]

    def corrected(self, net: BNN, placed: Placement, model: DieModel) -> BNN:
        """``net`` with its biases corrected for the die's measured devices where it is
        placed (:func:`correct_biases`, no retraining, no reads), or ``net`` itself when
        ``config.bias_correction`` is off."""
        if not self.config.bias_correction:
            return net
        if id(net) not in self.means:
            self.means[id(net)] = input_means(net, self.data.X_train)
        return correct_biases(net, model, placed, self.means[id(net)])

    def placer(self, codes: np.ndarray) -> Placement:
        """The defect-aware placement of the network on a die with ``codes``."""
        return place_defect_aware(self.sizes, self.profile.layout, codes, self.importance)

    def routed(self, net: BNN, placed: Placement, model: DieModel) -> Placement:
        """``placed`` re-routed for ``net``'s weights on the die (:func:`match_weights`),
        or ``placed`` itself when ``config.weight_routing`` is off."""
        if not self.config.weight_routing:
            return placed
        return match_weights(placed, net.binary_weights(), model, self.importance_of(net))

    def routed_copies(
        self, net: BNN, ensemble: EnsemblePlacement, model: DieModel
    ) -> EnsemblePlacement:
        """As :meth:`routed`, for every copy of an LEA placement."""
        if not self.config.weight_routing:
            return ensemble
        return match_ensemble(ensemble, net.binary_weights(), model, self.importance_of(net))

    def stats_net(self, name: str, k: int) -> BNN:
        """The statistics-aware network ``name`` that die ``k`` is evaluated with."""
        group = self.group_of[k]
        return self.stats_nets[name if group == 0 else f"{name}_{group}"]


def die_result(ctx: DieContext, k: int, model: DieModel, die_seed: Any) -> DieResult:
    """Fine-tune on die ``k`` and evaluate every method on it (errors over the test set)."""
    config, data = ctx.config, ctx.data
    rng = np.random.default_rng(die_seed)
    placed = ctx.placer(model.defects)
    stats_net = ctx.stats_net("statistics_aware", k)
    start = stats_net if config.finetune_from == "statistics" else ctx.base
    sharing = share_inputs(ctx.importance, config.shared_rows) if config.shared_rows else None
    tuned_at, tuned = defect_aware(ctx, start, model, rng, sharing)
    stats_at = ctx.routed(stats_net, placed, model)
    nets = {
        "unaware": (ctx.unaware, ctx.plain),
        "unaware_placed": (ctx.unaware, ctx.routed(ctx.unaware, placed, model)),
        "defect_aware": (tuned, tuned_at),
        "statistics_aware": (ctx.corrected(stats_net, stats_at, model), stats_at),
    }
    if "statistics_aware_plain" in ctx.stats_nets:
        nets["statistics_aware_plain"] = (ctx.stats_net("statistics_aware_plain", k), ctx.plain)
    # the deployed defect-aware network reads its inputs on the rows sharing gives them
    inputs = {} if sharing is None else {"defect_aware": sharing.expand(data.X_test)}
    misses = {
        n: emulated_wrong(net, pl, model, replace(data, X_test=inputs.get(n, data.X_test)), rng)
        for n, (net, pl) in nets.items()
    }
    layout = ctx.profile.layout
    blind = place_ensemble(ctx.sizes, layout, ctx.copies, model.defects, ctx.importance)
    ens = ctx.routed_copies(ctx.unaware, blind, model)
    lea = (ctx.unaware, ens, lea_weights(ens, model.defects, config.lea_beta))
    ens_s = ctx.routed_copies(stats_net, blind, model)
    lea_s = (stats_net, ens_s, lea_weights(ens_s, model.defects, config.lea_beta))
    misses["lea"] = (
        predict_lea(ctx.unaware, data.X_test, model, ens, lea[2], True, rng) != data.y_test
    )
    misses["lea_statistics"] = (
        predict_lea(stats_net, data.X_test, model, ens_s, lea_s[2], True, rng) != data.y_test
    )
    recal: dict[str, tuple[BNN, Placement | LeaDeployment]] = {}
    X_cal = calibration_batch(data.X_train, rng, config.calibration_batch)
    if config.recalibrate:
        recal["lea_recalibrated"] = (ctx.unaware, lea)
        recal["statistics_recalibrated"] = (stats_net, stats_at)
        recal["lea_statistics_recalibrated"] = (stats_net, lea_s)
    for name, (net, where) in recal.items():
        misses[name] = recalibrated_wrong(
            net, where, model, data, X_cal, rng, config.recal_components
        )
    compensated: dict[str, tuple[BNN, Placement | LeaDeployment, Compensation]] = {}
    budget = config.compensation_budget
    if budget is not None:
        comp_net, comp_at, lea_c = stats_net, stats_at, lea_s
        if "statistics_residual" in ctx.stats_nets:
            comp_net = ctx.stats_net("statistics_residual", k)
            comp_at = ctx.routed(comp_net, placed, model)
            ens_c = ctx.routed_copies(comp_net, blind, model)
            lea_c = (comp_net, ens_c, lea_weights(ens_c, model.defects, config.lea_beta))
        stats = ctx.statistics_of(comp_net)
        for name, where in (
            ("statistics_compensated", comp_at),
            ("lea_statistics_compensated", lea_c),
        ):
            comp = fitted_compensation(comp_net, where, model, stats, budget)
            compensated[name] = (comp_net, where, comp)
            misses[name] = compensated_wrong(comp_net, where, model, data, comp, rng)
        if sharing is None:  # last: the other methods' noise draws stay as they were
            tuned_c, comp = defect_aware_compensated(ctx, tuned, tuned_at, model, rng, budget)
            compensated["defect_aware_compensated"] = (tuned_c, tuned_at, comp)
            misses["defect_aware_compensated"] = compensated_wrong(
                tuned_c, tuned_at, model, data, comp, rng
            )
    wrong, paired, disc = {}, {}, {}
    for name, miss in misses.items():
        wrong[name] = int(miss.sum())
        ci = paired_difference(miss, ctx.software_wrong)
        paired[name] = [ci.value, ci.low, ci.high]
        disc[name] = list(discordant(miss, ctx.software_wrong))
    on_chip, ber = {}, {}
    if config.on_chip:
        chip_nets = {m: nets[m] for m in ("unaware", "defect_aware", "statistics_aware")}
        on_chip, ber = measure_on_chip(
            ctx.profile,
            config.lot_seed,
            k,
            chip_nets,
            data,
            lea,
            recal,
            X_cal,
            config.recal_components,
            compensated,
            inputs,
            model.state_thresholds(),
        )
    return DieResult(
        k,
        wrong,
        on_chip,
        model.counts(),
        model.read_noise,
        ctx.agreement[k],
        placed.as_dict(),
        ber,
        paired,
        disc,
    )


def defect_aware(
    ctx: DieContext,
    start: BNN,
    model: DieModel,
    rng: np.random.Generator,
    sharing: InputSharing | None = None,
) -> tuple[Placement, BNN]:
    """The defect-aware network on die ``model``: ``start`` placed (with ``sharing``, its
    first layer's rows reassigned, :mod:`~mtj_hil.training.sharing`), routed for its
    weights and fine-tuned through the die. Returns the placement and the network as
    deployed (with ``sharing``, the physical network: evaluate it on
    ``sharing.expand``-ed inputs)."""
    config, data = ctx.config, ctx.data
    if sharing is None:
        placed = ctx.placer(model.defects)
        at = ctx.routed(start, placed, model)
    else:
        X = sharing.expand(data.X_train)
        physical = sharing.physical(start)
        placed = place_defect_aware(ctx.sizes, ctx.profile.layout, model.defects, (X**2).mean(0))
        at = placed
        if config.weight_routing:
            at = match_weights(
                placed, physical.binary_weights(), model, input_importance(physical, X)
            )
    tuned = _fine_tune(
        ctx, start, at, model, rng, freeze_defective=config.freeze_defective, sharing=sharing
    )
    return at, tuned if sharing is None else sharing.physical(tuned)


def _fine_tune(
    ctx: DieContext, start: BNN, at: Placement, model: DieModel, rng: np.random.Generator, **kw
) -> BNN:
    """``start`` fine-tuned defect-aware on die ``model`` placed ``at``, with the
    experiment's fine-tuning settings (``kw``: further :func:`train_defect_aware` options)."""
    config = ctx.config
    return train_defect_aware(
        ctx.data,
        config.hidden,
        model,
        at,
        rng,
        ctx.finetune,
        init=start,
        select=config.select,
        init_shrink=config.finetune_shrink,
        **kw,
    ).net


def defect_aware_compensated(
    ctx: DieContext,
    tuned: BNN,
    at: Placement,
    model: DieModel,
    rng: np.random.Generator,
    budget: float,
) -> tuple[BNN, Compensation]:
    """The defect-aware network ``tuned`` (placed ``at`` on die ``model``) fine-tuned further
    for a digital compensation
    (:func:`~mtj_hil.training.methods.train_defect_aware_compensated`, the one ``mtj-hil
    train --method defect-aware-compensated`` runs): the ``budget`` fraction of its weights
    whose measured error costs it most on this die is corrected digitally and the network
    trained for ``config.compensation_epochs`` through what that leaves, with the
    experiment's fine-tuning settings. Returns the network and its compensation (those
    weights' errors corrected; scale 1, shift 0: the fine-tuning fitted the rest). Cost: one
    digital multiply-add per corrected weight per input."""
    config = ctx.config
    result, comp = train_defect_aware_compensated(
        ctx.data,
        config.hidden,
        model,
        at,
        rng,
        replace(ctx.finetune, epochs=config.compensation_epochs),
        tuned,
        budget,
        select=config.select,
        init_shrink=config.finetune_shrink,
    )
    return result.net, comp


def die_results(
    ctx: DieContext,
    models: Sequence[DieModel],
    die_seeds: Sequence[Any],
    workers: int = 1,
    report: Progress | None = None,
) -> list[DieResult]:
    """:func:`die_result` for every die, in order; with ``workers`` > 1 spread over that many
    local processes. ``report("dies", done, total)`` is called as dies finish."""
    args = [(ctx, k, m, die_seeds[k]) for k, m in enumerate(models)]
    return parallel_map(die_result, args, workers, report, "dies")
