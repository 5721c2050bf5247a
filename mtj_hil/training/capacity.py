"""Does a die hold enough usable devices for a network? Checked before any training."""

from __future__ import annotations

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
