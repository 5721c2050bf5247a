"""The statistics-aware trainings of the Borders experiment
(:mod:`mtj_hil.experiments.borders`): the populations each half of the lot is trained on,
and one network per population, routed (and, for the compensation, adjusted) the way its
dies will be deployed."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from mtj_hil.training.bnn import BNN, Realisation
from mtj_hil.training.compensation import network_statistics, residual_realisation
from mtj_hil.training.die_model import DieModel, PopulationModel
from mtj_hil.training.empirical import MeasuredArrays
from mtj_hil.training.mapping import Placement
from mtj_hil.training.matching import input_importance, match_weights
from mtj_hil.training.methods import adjust_pool, realisation_pool, train_statistics_aware


def train_stats(data, config, pop, plain, rng, cfg, start, placer, residual=False) -> list[BNN]:
    """One statistics-aware network (its own ``rng``: the same net in any worker), trained
    from ``start`` (``config.stats_from``). With
    ``weight_routing`` its training dies are routed for ``start``'s weights the way each real die is routed at deployment. With ``residual`` a
    second network is trained from the same pool draws against what the compensation
    (``config.compensation_budget``) leaves of each sampled die, the weights to compensate
    chosen for ``start`` (:func:`~mtj_hil.training.compensation.residual_realisation`); the
    pool is placed and routed once for both. Returns the network(s)."""
    router = None
    if config.weight_routing and placer is not None:
        moments = input_importance(start, data.X_train)
        weights = start.binary_weights()

        def router(placed: Placement, die: DieModel) -> Placement:
            return match_weights(placed, weights, die, moments)

    select = 8 if config.select else 0
    pool = realisation_pool(pop, plain, rng, config.pool_size + select, placer, router)
    twin = copy.deepcopy(rng)  # the second training draws what the first draws

    def train(state: np.random.Generator, drawn: list[tuple[np.ndarray, np.ndarray]]) -> BNN:
        return train_statistics_aware(
            data,
            config.hidden,
            pop,
            plain,
            state,
            cfg,
            pool_size=config.pool_size,
            init=start,
            placer=placer,
            select=select,
            init_shrink=config.stats_shrink,
            router=router,
            pool=drawn,
        ).net

    nets = [train(rng, pool)]
    if residual:
        stats = network_statistics(start, data.X_train, data.y_train)
        budget = config.compensation_budget

        def adjust(real: list[Realisation]) -> list[Realisation]:
            return residual_realisation(start, real, stats, budget)

        nets.append(train(twin, adjust_pool(pool, adjust)))
    return nets


def stats_groups(
    models: Sequence[DieModel], config: Any, population: PopulationModel
) -> list[tuple[PopulationModel | MeasuredArrays, list[int]]]:
    """Populations for statistics-aware training and the dies each network is evaluated on.

    ``measured`` with two dies or more: the lot is split in halves; each half is evaluated
    with the network trained on the other half's measured arrays (no die's own arrays are in
    its network's pool). Otherwise one network from the fitted parametric ``population``.
    """
    n = len(models)
    if config.stats_model != "measured" or n < 2:
        return [(population, list(range(n)))]
    halves = [list(range(0, n // 2)), list(range(n // 2, n))]
    return [
        (MeasuredArrays.from_dies([models[i] for i in halves[1 - h]]), halves[h]) for h in (0, 1)
    ]
