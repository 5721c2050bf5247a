"""The classification thresholds of a characterisation run file, read back from the
``defects`` group's ``threshold_*`` attributes (written by
:meth:`mtj_hil.runs.store.characterization.CharacterizationRun.save_classification`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mtj_hil.errors import StoreError
from mtj_hil.protocols.defects.detect import Thresholds

PREFIX = "threshold_"
UNITS = "threshold_units"
"""Attribute naming the thresholds' unit (S), not a threshold."""


def read_thresholds(path: str | Path, attrs: Mapping[str, Any]) -> Thresholds:
    """The :class:`Thresholds` (S) the ``defects`` group's attributes ``attrs`` hold.

    Raises:
        StoreError: naming ``path`` and the attribute, when one of those every
            classification records (state_g, short_g, open_g, method) is missing or one
            mtj-hil never writes is there (a file changed by another program, or damaged).
    """
    given = {
        k.removeprefix(PREFIX): (v.item() if isinstance(v, np.generic) else v)
        for k, v in attrs.items()
        if k.startswith(PREFIX) and k != UNITS
    }
    fields = dataclasses.fields(Thresholds)
    known = {f.name for f in fields}
    required = [f.name for f in fields if f.default is dataclasses.MISSING]
    unknown = sorted(set(given) - known)
    missing = [name for name in required if name not in given]
    if unknown or missing:
        name, problem = (unknown[0], "is not one") if unknown else (missing[0], "is missing")
        raise StoreError(
            f"{path}: its attributes are not as mtj-hil writes them: {PREFIX}{name} (of "
            f"defects) {problem}; a classification records "
            f"{', '.join(PREFIX + n for n in required)}; the file was changed by another "
            "program or is damaged; restore it from a copy"
        )
    return Thresholds(**given)
