"""Whole lines and arrays that read OPEN: a fault of the die, or of the read path.

A line of the crossbar that reads OPEN along its whole length is an open line on the die
(or its contact), and its devices are OPEN as far as anyone can measure. But the read path
gives the same picture: a converter channel that stopped answering reads no current on its
output line, a dead driver none on its input line, in whichever array is selected. A die
does not break the same line in every array, so an output (input) line OPEN in every array
measured points at the read path. Nothing is reclassified here; the warnings say what the
codes show and how to tell the two apart.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mtj_hil.protocols.defects.codes import DefectCode

LISTED = 6
"""Most lines a warning names one by one."""


def whole_line_warnings(codes: np.ndarray, arrays: Sequence[int]) -> list[str]:
    """Warnings for the whole arrays, output lines (columns) and input lines (rows) of
    ``codes`` (``(len(arrays), rows, cols)``, defect codes) in which every device is OPEN;
    ``arrays`` are the die's array indices of ``codes``' first axis."""
    codes = np.asarray(codes)
    if codes.ndim != 3 or not codes.size:
        return []
    is_open = codes == DefectCode.OPEN
    dead = is_open.all(axis=(1, 2))
    live = ~dead
    out = []
    if dead.any():
        names = _listed([f"array {arrays[i]}" for i in np.flatnonzero(dead)])
        out.append(
            f"{names} read OPEN throughout: a dead array, or no contact with it (probe "
            "needles, the array select); check the contact before taking it for the die's"
        )
    for axis, kind, part in ((1, "output", "converter channel"), (2, "input", "driver")):
        whole = is_open.all(axis=axis) & live[:, None]  # (arrays, lines)
        common = whole[live].all(axis=0) if live.sum() >= 2 else np.zeros(whole.shape[1], bool)
        for line in np.flatnonzero(common):
            out.append(
                f"{kind} line {line} reads OPEN along its whole length in all {int(live.sum())} "
                f"arrays measured: a die does not break the same line in every array, so "
                f"suspect the read path (the {part} of {kind} line {line}, or its wiring); "
                "`mtj-hil calibrate` checks every channel. Its devices are recorded OPEN"
            )
        rest = whole & ~common[None, :]
        if rest.any():
            found = [f"array {arrays[a]} {kind} line {ln}" for a, ln in np.argwhere(rest)]
            hint = (
                f"; a dead {part} reads the same: measure a second array, or calibrate, "
                "to tell them apart"
                if live.sum() == 1
                else ""
            )
            out.append(
                f"whole {kind} lines read OPEN: {_listed(found)} (open lines on the die, or "
                f"their contacts){hint}"
            )
    return out


def _listed(names: list[str]) -> str:
    """``names`` joined, the first :data:`LISTED` of them and how many more."""
    shown = ", ".join(names[:LISTED])
    return shown if len(names) <= LISTED else f"{shown} and {len(names) - LISTED} more"
