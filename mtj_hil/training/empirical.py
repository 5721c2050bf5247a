"""A population of dies built from what the characterisation measured, array by array.

:class:`~mtj_hil.training.die_model.PopulationModel` draws every device independently from
fitted lognormals and spreads defects uniformly; an early-process die is not like that: its
defects come as whole open output lines and shorted input lines, its arrays differ, a
device's P and AP conductances are correlated, and some devices are UNCERTAIN.
:class:`MeasuredArrays` keeps all of that by resampling measured arrays: a sampled die is
``n_arrays`` arrays drawn with replacement from the measured dies, each with its rows and
its columns randomly permuted (a whole defective line stays a whole line, at a new place)
and its devices' measured conductances and defect codes. Statistics-aware training on
these realisations sees the die's structure; evaluate it only on dies whose arrays were not
in the pool (see ``experiments.borders``: the lot is split in two halves).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mtj_hil.protocols.chip import Layout
from mtj_hil.training.die_model import DieModel, conductance_for
from mtj_hil.training.errors import TrainingError


@dataclass
class MeasuredArrays:
    """Measured arrays to resample (conductances in S).

    Attributes:
        layout: die geometry.
        g_p, g_ap: measured conductances, shape ``(m, rows, cols)`` (defective devices carry
            their fixed conductance, as in :class:`DieModel`).
        defects: defect codes, same shape.
        read_noise: mean relative read noise of the measured dies.
        permute: shuffle rows and columns of every drawn array.
    """

    layout: Layout
    g_p: np.ndarray
    g_ap: np.ndarray
    defects: np.ndarray
    read_noise: float = 0.0
    permute: bool = True

    @classmethod
    def from_dies(cls, dies: Sequence[DieModel], permute: bool = True) -> MeasuredArrays:
        """Pool every array of ``dies``.

        Raises:
            TrainingError: no dies, or dies of different layouts.
        """
        if not dies:
            raise TrainingError("a measured population needs at least one die")
        layout = dies[0].layout
        if any(d.layout != layout for d in dies):
            raise TrainingError("all dies must share one layout")
        shape = (-1, layout.rows, layout.cols)
        return cls(
            layout,
            np.concatenate([d.g_p.reshape(shape) for d in dies]),
            np.concatenate([d.g_ap.reshape(shape) for d in dies]),
            np.concatenate([d.defects.reshape(shape) for d in dies]),
            float(np.mean([d.read_noise for d in dies])),
            permute,
        )

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``n`` sampled dies: ``(g_p, g_ap, defects)``, each ``(n, n_arrays, rows, cols)``."""
        L = self.layout
        pick = rng.integers(0, self.g_p.shape[0], size=(n, L.n_arrays))
        if self.permute:
            rows = np.argsort(rng.random((n, L.n_arrays, L.rows)), axis=-1)[..., :, None]
            cols = np.argsort(rng.random((n, L.n_arrays, L.cols)), axis=-1)[..., None, :]
            idx = (pick[..., None, None], rows, cols)
        else:
            idx = (pick[..., None, None], np.arange(L.rows)[:, None], np.arange(L.cols)[None, :])
        return self.g_p[idx], self.g_ap[idx], self.defects[idx]

    def pool(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
        """``size`` sampled dies as (conductance if bit 1, conductance if bit 0)."""
        g_p, g_ap, codes = self.sample(rng, size)
        ones = np.ones(codes.shape, dtype=bool)
        return conductance_for(g_p, g_ap, codes, ones), conductance_for(g_p, g_ap, codes, ~ones)
