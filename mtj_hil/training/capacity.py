"""Does a die hold enough usable devices for a network, and the machine enough memory for
its training? Checked before any training."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from mtj_hil.protocols.defects.detect import DefectCode
from mtj_hil.training.errors import TrainingError


def devices_needed(sizes: Sequence[int], copies: Sequence[int] | None = None) -> int:
    """Devices a network occupies: two per weight (a differential pair), per copy."""
    ks = [1] * (len(sizes) - 1) if copies is None else list(copies)
    return int(sum(2 * a * b * k for a, b, k in zip(sizes[:-1], sizes[1:], ks, strict=True)))


def usable_per_array(defects: np.ndarray) -> np.ndarray:
    """Usable (GOOD) devices of each array of a ``(n_arrays, rows, cols)`` defect map."""
    codes = np.asarray(defects)
    return np.count_nonzero(codes.reshape(codes.shape[0], -1) == DefectCode.GOOD, axis=1)


def tile_count(
    sizes: Sequence[int], rows: int, cols: int, copies: Sequence[int] | None = None
) -> int:
    """Arrays a network occupies on arrays of ``rows`` x ``cols``: one per tile of at most
    ``rows`` inputs by ``cols // 2`` pairs (as :func:`mapping.tile_grid` cuts a layer), per
    copy."""
    ks = [1] * (len(sizes) - 1) if copies is None else list(copies)
    pairs = max(cols // 2, 1)
    return int(
        sum(
            -(-a // rows) * -(-b // pairs) * k
            for a, b, k in zip(sizes[:-1], sizes[1:], ks, strict=True)
        )
    )


def check_usable(
    sizes: Sequence[int],
    defects: np.ndarray,
    copies: Sequence[int] | None = None,
    die: str = "the die",
) -> int:
    """Refuse a die whose measured GOOD devices are fewer than the network occupies, or whose
    arrays holding any GOOD device are fewer than the network's tiles (each tile takes an
    array of its own: a tile on an array with none holds no working weight, whatever the
    die's other arrays hold).

    UNCERTAIN devices do not count as usable (they are suspect). Returns the usable count.

    Raises:
        TrainingError: saying how many devices (or arrays) the network needs and how many
            the die has, and which of its arrays hold no usable device.
    """
    per_array = usable_per_array(defects)
    usable = int(per_array.sum())
    need = devices_needed(sizes, copies)
    network = (
        f"{'-'.join(map(str, sizes))}{'' if copies is None else f' with copies {list(copies)}'}"
    )
    if usable < need:
        raise TrainingError(
            f"{die} has {usable} usable (GOOD) devices of {np.size(defects)}; the network "
            f"{network} needs {need} (two per weight)"
        )
    rows, cols = np.shape(defects)[1:]
    tiles = tile_count(sizes, rows, cols, copies)
    live = int(np.count_nonzero(per_array))
    if live < tiles:
        dead = _spans(np.flatnonzero(per_array == 0))
        raise TrainingError(
            f"{die} holds usable (GOOD) devices on only {live} of its {per_array.size} arrays "
            f"(arrays {dead} hold none); the network {network} needs {tiles} arrays, one per "
            f"tile of up to {rows} inputs x {cols // 2} pairs"
        )
    return usable


def _spans(indices: np.ndarray) -> str:
    """``0-7, 12`` for the sorted indices ``0 .. 7, 12``."""
    out, start = [], None
    for i, k in enumerate(indices):
        if start is None:
            start = k
        if i + 1 == len(indices) or indices[i + 1] != k + 1:
            out.append(f"{start}" if start == k else f"{start}-{k}")
            start = None
    return ", ".join(out)


def available_memory() -> int | None:
    """Bytes of memory the machine can still give a process (Linux ``MemAvailable``; else
    free physical pages), or None where neither can be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def check_pool_memory(sizes: Sequence[int], realisations: int) -> int:
    """Refuse a pool of sampled die realisations (statistics-aware training keeps an offset
    and a slope, float64, per weight of each) that the machine's free memory cannot hold,
    counting its assembly twice. Returns the bytes it needs.

    Raises:
        TrainingError: saying how much memory the pool needs and how much is free.
    """
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    need = 2 * 16 * weights * max(int(realisations), 0)
    free = available_memory()
    if free is not None and need > free:
        raise TrainingError(
            f"a pool of {realisations:,} sampled dies of the network "
            f"{'-'.join(map(str, sizes))} needs {need / 1e9:,.1f} GB of memory, more than "
            f"the {free / 1e9:,.1f} GB free here: give a smaller pool size (--pool-size)"
        )
    return need
