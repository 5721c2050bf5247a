"""Sampled dies kept for statistics-aware training whose placements follow the network.

A real die is placed (:func:`~mtj_hil.training.mapping.place_defect_aware`) and then routed
for the weights it will hold (:func:`~mtj_hil.training.matching.match_weights`). During
training the weights change, so the routing that a die would get changes too. :class:`DiePool`
keeps each sampled die and its weight-blind placement, so its realisations can be re-routed
for the current network (``realise(router)``) as often as training asks. Conductances in S.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mtj_hil.training.die_model import DieModel, PopulationModel, conductance_for
from mtj_hil.training.empirical import MeasuredArrays
from mtj_hil.training.errors import TrainingError
from mtj_hil.training.mapping import Placement, weight_response

Router = Callable[[Placement, DieModel], Placement]
"""``(placement, die) -> Placement``: the placement re-routed on that die (e.g. for a
network's weights, :func:`~mtj_hil.training.matching.match_weights`)."""
Stacked = list[tuple[np.ndarray, np.ndarray]]
"""Per layer, ``(offset, slope)`` stacked over dies, each ``(dies, n_in, n_out)``."""


class DiePool:
    """``size`` dies sampled from ``population``, each placed by ``placer(codes)``.

    Raises:
        TrainingError: the placer places another network or layout than ``placement``.
    """

    def __init__(
        self,
        population: PopulationModel | MeasuredArrays,
        placement: Placement,
        rng: np.random.Generator,
        size: int,
        placer: Callable[[np.ndarray], Placement],
    ) -> None:
        self.layout = population.layout
        self.g_p, self.g_ap, self.codes = population.sample(rng, size)
        self.placed = [placer(self.codes[k]) for k in range(size)]
        for p in self.placed:
            if p.sizes != placement.sizes or p.layout != placement.layout:
                raise TrainingError("the placer places another network or layout")

    def __len__(self) -> int:
        return len(self.placed)

    def die(self, k: int) -> DieModel:
        """Sampled die ``k`` as a :class:`DieModel` (no read noise)."""
        return DieModel(self.layout, self.g_p[k], self.g_ap[k], self.codes[k])

    def realise(self, router: Router | None = None, which: Sequence[int] | None = None) -> Stacked:
        """Realisations of the dies ``which`` (default all), each placed, then routed by
        ``router`` if given."""
        ks = range(len(self)) if which is None else which
        ones = np.ones(self.codes.shape[1:], dtype=bool)
        per_die = []
        for k in ks:
            g1 = conductance_for(self.g_p[k], self.g_ap[k], self.codes[k], ones)
            g0 = conductance_for(self.g_p[k], self.g_ap[k], self.codes[k], ~ones)
            placed = self.placed[k] if router is None else router(self.placed[k], self.die(k))
            per_die.append(weight_response(placed, g1, g0))
        layers = len(self.placed[0].layers)
        return [
            (np.stack([r[li][0] for r in per_die]), np.stack([r[li][1] for r in per_die]))
            for li in range(layers)
        ]
