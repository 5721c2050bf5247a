"""Importer and software evaluation of the NIST daffodil-lib Wine solutions (13-6-3).

Each solution ``k`` in ``<reference>/solutions/`` is four text files: ``{k}_fc1_weight.txt``
(13 x 12 bits), ``{k}_fc1_bias.txt`` (6), ``{k}_fc2_weight.txt`` (6 x 6 bits),
``{k}_fc2_bias.txt`` (3). A bit is one device (1 = P = G_on, 0 = AP = G_off); columns 2j, 2j+1
form the differential pair of neuron j. Evaluation (ideal devices): inputs ``x * V_read``,
``h = tanh((I+ - I-) / (G_norm * V_read) + bias)`` for both layers, class = argmax.
Only the data is read from the reference folder; nothing is copied into the repository.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np

from mtj_hil.training.datasets import Dataset, load_wine_nist
from mtj_hil.training.errors import DatasetError
from mtj_hil.training.reference import daffodil_wine_dir

G_ON = 233e-6
"""Parallel-state conductance (S) used by the reference evaluation."""
G_OFF = 133e-6
"""Antiparallel-state conductance (S)."""
V_READ = 0.1
"""Read voltage (V) for an input of 1."""


@dataclass(frozen=True)
class DaffodilSolution:
    """One pre-trained 13-6-3 solution.

    Attributes:
        index: solution number ``k``.
        bits: per layer, device bits ``(n_in, 2 * n_out)`` (1 = G_on).
        biases: per layer, float biases ``(n_out,)``.
    """

    index: int
    bits: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]

    def signed_weights(self) -> list[np.ndarray]:
        """Pair weights ``bit[2j] - bit[2j+1]`` in {-1, 0, +1}, per layer."""
        return [b[:, 0::2].astype(np.int8) - b[:, 1::2].astype(np.int8) for b in self.bits]


def solution_indices(reference: str | os.PathLike[str] | None = None) -> list[int]:
    """Sorted indices ``k`` of the solutions present (those with ``{k}_fc1_weight.txt``).

    Raises:
        DatasetError: the solutions folder is missing.
    """
    folder = daffodil_wine_dir(reference) / "solutions"
    if not folder.is_dir():
        raise DatasetError(f"no daffodil solutions folder at {folder} (set MTJ_HIL_REFERENCE)")
    found = (re.fullmatch(r"(\d+)_fc1_weight\.txt", p.name) for p in folder.iterdir())
    return sorted(int(m.group(1)) for m in found if m)


def load_solution(index: int, reference: str | os.PathLike[str] | None = None) -> DaffodilSolution:
    """Read solution ``index``.

    Raises:
        DatasetError: a file is missing, a weight is not 0/1, or shapes are inconsistent.
    """
    folder = daffodil_wine_dir(reference) / "solutions"
    bits, biases = [], []
    for layer in ("fc1", "fc2"):
        wpath = folder / f"{index}_{layer}_weight.txt"
        bpath = folder / f"{index}_{layer}_bias.txt"
        for p in (wpath, bpath):
            if not p.is_file():
                raise DatasetError(f"daffodil solution {index}: missing {p}")
        w = np.loadtxt(wpath, ndmin=2)
        b = np.loadtxt(bpath, ndmin=1)
        if not np.all((w == 0) | (w == 1)):
            raise DatasetError(f"{wpath} holds values other than 0 and 1")
        if w.shape[1] != 2 * b.shape[0]:
            raise DatasetError(
                f"{wpath}: {w.shape[1]} columns for {b.shape[0]} biases "
                "(expected two columns per neuron)"
            )
        bits.append(w.astype(np.uint8))
        biases.append(b.astype(np.float64))
    if bits[0].shape[1] // 2 != bits[1].shape[0]:
        raise DatasetError(
            f"solution {index}: layer 1 gives {bits[0].shape[1] // 2} outputs, "
            f"layer 2 takes {bits[1].shape[0]} inputs"
        )
    return DaffodilSolution(index, tuple(bits), tuple(biases))


def forward(
    solution: DaffodilSolution,
    X: np.ndarray,
    g_on: float = G_ON,
    g_off: float = G_OFF,
    v_read: float = V_READ,
    g_norm: float | None = None,
) -> np.ndarray:
    """Output-layer activations ``(n, 3)`` with ideal devices, as the reference describes.

    ``g_norm`` defaults to ``g_on - g_off``.
    """
    norm = (g_on - g_off) if g_norm is None else g_norm
    a = np.asarray(X, dtype=np.float64)
    for bits, bias in zip(solution.bits, solution.biases, strict=True):
        G = np.where(bits == 1, g_on, g_off)
        current = (a * v_read) @ G
        a = np.tanh((current[:, 0::2] - current[:, 1::2]) / (norm * v_read) + bias)
    return a


@dataclass(frozen=True)
class DaffodilFigures:
    """Accuracies of all solutions (fractions), per solution and summarised."""

    indices: np.ndarray
    test: np.ndarray
    all_samples: np.ndarray

    def summary(self) -> dict[str, float]:
        """Mean and median of test and all-sample accuracy, in percent."""
        return {
            "n_solutions": float(self.indices.size),
            "test_mean": 100 * float(self.test.mean()),
            "test_median": 100 * float(np.median(self.test)),
            "all_mean": 100 * float(self.all_samples.mean()),
            "all_median": 100 * float(np.median(self.all_samples)),
        }


def evaluate_all(
    reference: str | os.PathLike[str] | None = None, data: Dataset | None = None
) -> DaffodilFigures:
    """Evaluate every solution on the NIST test split and on all 178 samples.

    Raises:
        DatasetError: reference folder or files missing or malformed.
    """
    data = data or load_wine_nist(reference)
    X_all = np.vstack([data.X_train, data.X_test])
    y_all = np.concatenate([data.y_train, data.y_test])
    idx = solution_indices(reference)
    test, both = [], []
    for k in idx:
        sol = load_solution(k, reference)
        test.append(np.mean(forward(sol, data.X_test).argmax(axis=1) == data.y_test))
        both.append(np.mean(forward(sol, X_all).argmax(axis=1) == y_all))
    return DaffodilFigures(np.asarray(idx), np.asarray(test), np.asarray(both))
