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


def check_usable(
    sizes: Sequence[int],
    defects: np.ndarray,
    copies: Sequence[int] | None = None,
    die: str = "the die",
) -> int:
    """Refuse a die whose measured GOOD devices are fewer than the network occupies.

    UNCERTAIN devices do not count as usable (they are suspect). Returns the usable count.

    Raises:
        TrainingError: saying how many devices the network needs and how many the die has.
    """
    usable = int(np.count_nonzero(np.asarray(defects) == DefectCode.GOOD))
    need = devices_needed(sizes, copies)
    if usable < need:
        raise TrainingError(
            f"{die} has {usable} usable (GOOD) devices of {np.size(defects)}; the network "
            f"{'-'.join(map(str, sizes))}{'' if copies is None else f' with copies {list(copies)}'}"
            f" needs {need} (two per weight)"
        )
    return usable


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
