"""Input sharing: the first layer's rows of inputs that carry almost nothing (MNIST's border
pixels) drive extra copies of the inputs that carry most, so the die's device-to-device
spread averages out where it costs most.

An input on ``k`` rows is driven at ``1/k`` of its voltage on each, and its binary weights
are the same on every copy (tied), so the network is the same binary network; its realised
weight is the mean of its ``k`` pairs', whose random offset (the two devices' unequal
mid-conductances, the largest error on a die of wide spread and low TMR) has ``1/k`` the
variance. Inputs with no row are dropped (their weights realise as 0). The rows stay as
many as the network's inputs, so the placement and the die's footprint do not change; the
controller only routes the voltages (``expand``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mtj_hil.training.bnn import BNN, Realisation
from mtj_hil.training.errors import TrainingError


@dataclass(frozen=True)
class InputSharing:
    """Which logical input each physical first-layer input (row) carries.

    Attributes:
        source: logical input of each physical input, shape ``(n_inputs,)``, sorted.
        n_inputs: logical inputs (= physical inputs).
    """

    source: np.ndarray
    n_inputs: int

    def __post_init__(self) -> None:
        src = np.asarray(self.source, dtype=np.int64)
        if src.shape != (self.n_inputs,) or (
            src.size and (src.min() < 0 or src.max() >= self.n_inputs)
        ):
            raise TrainingError(
                f"sharing source must give one of {self.n_inputs} inputs per row, got {src}"
            )
        object.__setattr__(self, "source", src)

    @property
    def copies(self) -> np.ndarray:
        """Rows of each logical input (0: dropped), shape ``(n_inputs,)``."""
        return np.bincount(self.source, minlength=self.n_inputs)

    def expansion(self) -> np.ndarray:
        """``E``, shape ``(n_inputs, n_inputs)``: physical inputs are ``X @ E`` (an input on
        ``k`` rows is ``1/k`` of itself on each)."""
        E = np.zeros((self.n_inputs, self.n_inputs))
        E[self.source, np.arange(self.n_inputs)] = 1.0 / self.copies[self.source]
        return E

    def expand(self, X: np.ndarray) -> np.ndarray:
        """Physical first-layer inputs (dimensionless, like ``X``) of logical inputs ``X``."""
        return np.asarray(X, dtype=np.float64)[:, self.source] / self.copies[self.source]

    def physical(self, net: BNN) -> BNN:
        """``net`` as deployed: its first-layer latent weights copied onto every row of their
        input (the same binary weights; ``physical(net)`` on ``expand(X)`` computes
        ``net`` on ``X`` but for the dropped inputs)."""
        if net.sizes[0] != self.n_inputs:
            raise TrainingError(f"network has {net.sizes[0]} inputs, sharing {self.n_inputs}")
        out = net.copy()
        out.latent[0] = net.latent[0][self.source].copy()
        return out

    def logical(self, realisation: Sequence[Realisation]) -> list[Realisation]:
        """The first layer's physical ``(offset, slope)`` per row reduced to the logical
        inputs (each the mean over its rows; 0 for a dropped input), later layers as they
        are: exact, since the copies share their binary weight."""
        E = self.expansion()
        offset, slope = realisation[0]
        return [(E @ offset, E @ slope), *realisation[1:]]


def share_inputs(importance: np.ndarray, rows: int) -> InputSharing:
    """Take the rows of the ``rows`` least important inputs and give each, one at a time, to
    the input whose offset error it lowers most (input ``i`` on ``k`` rows costs
    ``importance[i] / k``).

    Args:
        importance: per logical input, its mean square over the training data (e.g. the
            pixels' mean ``x**2``); shape ``(n_inputs,)``.
        rows: rows to reuse (0: every input on its own row).

    Raises:
        TrainingError: ``rows`` outside ``0 .. n_inputs / 2``.
    """
    imp = np.asarray(importance, dtype=np.float64)
    n = imp.size
    if not 0 <= rows <= n // 2:
        raise TrainingError(f"shared rows must lie in 0 .. {n // 2}, got {rows}")
    k = np.ones(n, dtype=np.int64)
    k[np.argsort(imp, kind="stable")[:rows]] = 0
    for _ in range(rows):
        gain = np.where(k > 0, imp / np.maximum(k * (k + 1), 1), -np.inf)
        k[int(np.argmax(gain))] += 1
    return InputSharing(np.repeat(np.arange(n), k), n)
