"""The run files a profile is fitted from: opened, checked against each other, and read.

Refused (``StoreError``, naming the file): a profile TOML, a run of another kind, an
unfinished run, dies of different layouts, one die in two runs, and characterisation runs
made at different read voltages unless every one of them also read at a second voltage
(then each run's resistances are brought to zero bias through its own bias fit, and the
runs can be pooled).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mtj_hil.errors import StoreError
from mtj_hil.runs.store.characterization import (
    Characterization,
    CharacterizationRun,
    load_characterization,
)
from mtj_hil.runs.store.resume import finish_hint
from mtj_hil.runs.store.runfile import RunFile
from mtj_hil.runs.store.sniff import holds_hdf5
from mtj_hil.runs.store.switching import Switching, load_switching


@dataclass
class CharRun:
    """One characterisation run as fit-profile uses it."""

    path: Path
    char: Characterization
    read_voltage: float
    bias_voltage: float | None
    reads: int

    @property
    def name(self) -> str:
        return self.path.name

    def raw_after_p(self) -> np.ndarray:
        """Reads after P writes ``(cycles, reads, arrays, rows, cols)`` (S)."""
        return self.raw("g_after_p")

    def raw(self, name: str) -> np.ndarray:
        """The reads ``name`` (``g_after_p`` or ``g_after_ap``) of every array, ``(cycles,
        reads, arrays, rows, cols)`` (S), in ``char.arrays`` order."""
        return self.raws(name)[0]

    def raws(self, *names: str) -> list[np.ndarray]:
        """:meth:`raw` of each of ``names``, from one reading of the file (each reading opens
        and verifies it and reads every array's data)."""
        with RunFile.open(self.path) as run:
            sink = CharacterizationRun(run)
            arrays = [int(a) for a in self.char.arrays]
            data = sink.load_arrays(arrays)
        return [np.stack([getattr(data[a], name) for a in arrays], axis=2) for name in names]


def open_runs(paths: list[Path]) -> tuple[list[CharRun], list[Switching]]:
    """The characterisation and switching runs among ``paths``, checked (module docstring).

    Raises:
        StoreError: naming the file and what is wrong with it.
    """
    chars: list[CharRun] = []
    sws: list[Switching] = []
    for p in paths:
        p = Path(p)
        if p.suffix.lower() == ".toml" and not holds_hdf5(p):
            raise StoreError(
                f"{p} is a TOML file (a profile or station?), not a run file; fit-profile "
                f"reads characterization and switching run files (.h5)"
            )
        with RunFile.open(p) as run:
            kind, status, attrs = run.kind, run.status, run.attrs
        if kind == "characterization":
            char = load_characterization(p)
            if not char.complete:
                raise StoreError(
                    f"{p} is an unfinished characterization run ({status}); {finish_hint(attrs, p)}"
                )
            plan = char.plan
            bias = plan.get("bias_read_voltage")
            chars.append(
                CharRun(
                    p,
                    char,
                    float(plan["read_voltage"]),
                    None if not bias else float(bias),
                    int(plan.get("reads", 1)),
                )
            )
        elif kind == "switching":
            sw = load_switching(p)
            if not sw.complete:
                raise StoreError(
                    f"{p} is an unfinished switching run ({status}); {finish_hint(attrs, p)}"
                )
            sws.append(sw)
        else:
            raise StoreError(
                f"{p} is a {kind!r} run; fit-profile reads characterization and switching runs"
            )
    if not chars:
        raise StoreError("fit-profile needs at least one characterization run among its inputs")
    ref = layout_key(chars[0].char.layout)
    for layout, path in [(c.char.layout, c.path) for c in chars] + [
        (s.layout, s.path) for s in sws
    ]:
        if layout_key(layout) != ref:
            raise StoreError(
                f"{path} was measured on a die of layout {layout_key(layout)}, the "
                f"others on {ref}; fit one kind of die at a time"
            )
    ids = [c.char.attrs.get("die_id") for c in chars]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        die = sorted(dup)[0]
        runs = " and ".join(str(c.path) for c in chars if c.char.attrs.get("die_id") == die)
        raise StoreError(
            f"die {die!r} appears in more than one characterization run ({runs}); give one "
            f"run per die (repeats would fake the die-to-die spread)"
        )
    check_read_voltages(chars)
    return chars, sws


def check_read_voltages(chars: list[CharRun]) -> None:
    """Runs at different read voltages are pooled only if each can be brought to zero bias
    (each has its own second read voltage); else refused, naming the voltages and runs.

    Raises:
        StoreError: the read voltages differ and some run has no second read voltage.
    """
    volts: dict[float, list[str]] = {}
    for c in chars:
        volts.setdefault(round(c.read_voltage, 9), []).append(c.name)
    if len(volts) <= 1 or all(c.bias_voltage for c in chars):
        return
    listing = "; ".join(f"{v:g} V: {', '.join(names)}" for v, names in sorted(volts.items()))
    lacking = [c.name for c in chars if not c.bias_voltage]
    raise StoreError(
        f"the characterization runs were read at different voltages ({listing}) and "
        f"{', '.join(lacking)} read at one voltage only, so its resistances cannot be brought "
        "to zero bias; fit runs of one read voltage at a time (or measure with a second "
        "read voltage, --bias-voltage)"
    )


def layout_key(layout: dict[str, Any]) -> dict[str, Any]:
    return {k: layout.get(k) for k in ("n_arrays", "rows", "cols", "cell")}
