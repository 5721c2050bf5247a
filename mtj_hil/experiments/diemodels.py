"""Die models for the experiments: from a characterisation (measured) or from the simulator's
truth (for comparisons), and a population model fitted from measured dies.

Conductances in siemens; read noise is relative (0.005 = 0.5 % of the current, 1 sigma).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mtj_hil.errors import StoreError, counted
from mtj_hil.protocols.characterize.procedure import MemorySink
from mtj_hil.protocols.chip import CellState, Layout
from mtj_hil.protocols.defects.detect import DefectCode, DefectMap, SwitchingData
from mtj_hil.runs.store.characterization import KIND, Characterization, load_characterization
from mtj_hil.runs.store.identity import simulated_profile_changes
from mtj_hil.runs.store.resume import finish_hint
from mtj_hil.runs.store.runfile import RunFile
from mtj_hil.sim.die import SimulatedDie
from mtj_hil.training.die_model import DieModel, PopulationModel
from mtj_hil.training.errors import TrainingError

DEFAULT_READ_NOISE = 0.005
"""Relative read noise assumed when a characterisation cannot tell (one read per state)."""


def read_noise_from_switching(
    data: Sequence[SwitchingData], codes: np.ndarray | None = None
) -> float | None:
    """Relative read noise estimated from repeated reads of good devices in the P state.

    Every cycle re-reads each device after a verified P write, so the spread of one device's
    reads over cycles and repeats is read noise (its state does not change). The estimate is
    ``sqrt(mean variance) / mean conductance`` pooled over devices (dimensionless).

    Args:
        data: switching data of the arrays, in the order of ``codes``' first axis.
        codes: defect codes ``(n_arrays, rows, cols)``; only GOOD devices are used if given.

    Returns:
        The estimate, or None when fewer than two reads per device exist.
    """
    if not data:
        return None
    reads = [d.g_after_p.reshape(-1, *d.g_after_p.shape[2:]) for d in data]
    if reads[0].shape[0] < 2:
        return None
    g = np.stack(reads, axis=1)  # (reads, arrays, rows, cols)
    good = np.ones(g.shape[1:], dtype=bool) if codes is None else codes == DefectCode.GOOD
    if not good.any():
        return None
    var = g.var(axis=0, ddof=1)[good]
    mean = g.mean(axis=0)[good]
    return float(np.sqrt(var.mean()) / mean.mean())


def model_from_defect_map(
    layout: Layout, result: DefectMap, read_noise: float = DEFAULT_READ_NOISE
) -> DieModel:
    """A :class:`DieModel` from a whole-die :class:`DefectMap` (e.g. ``characterize_die``'s
    return value). Negative conductances (an open device read with offset noise) and devices
    with no valid reading (NaN) become 0 S.

    Raises:
        TrainingError: the map does not cover the whole die in array order.
    """
    return DieModel(
        layout,
        np.maximum(np.nan_to_num(np.asarray(result.g_p, dtype=np.float64)), 0.0),
        np.maximum(np.nan_to_num(np.asarray(result.g_ap, dtype=np.float64)), 0.0),
        np.asarray(result.codes),
        read_noise,
    )


def model_from_memory(layout: Layout, sink: MemorySink) -> DieModel:
    """A :class:`DieModel` from a finished in-memory characterisation, read noise estimated
    from its repeated reads (falls back to :data:`DEFAULT_READ_NOISE`).

    Raises:
        TrainingError: the sink holds no classification or does not cover the die in order.
    """
    if sink.result is None:
        raise TrainingError("the characterisation has not classified the die yet")
    arrays, result = sink.result
    check_model_arrays(list(arrays), layout, "in-memory characterisation")
    noise = read_noise_from_switching([sink.arrays[a] for a in arrays], result.codes)
    return model_from_defect_map(layout, result, DEFAULT_READ_NOISE if noise is None else noise)


def check_model_arrays(arrays: list[int], layout: Layout, source: str) -> None:
    """Refuse a characterisation of ``arrays`` as the source of a die model: a model needs
    every array of the die, in order (a campaign checks a characterize group's plan with it).

    Raises:
        TrainingError: naming ``source``, the arrays it covers and the arrays needed.
    """
    if arrays != list(range(layout.n_arrays)):
        raise TrainingError(
            f"{source} covers arrays {arrays[:8]}{'...' if len(arrays) > 8 else ''}; a die model "
            f"needs all {layout.n_arrays} arrays in order (characterise the whole die)"
        )


def _check_layout(char: Characterization, layout: Layout) -> None:
    rec = char.layout
    want = {"n_arrays": layout.n_arrays, "rows": layout.rows, "cols": layout.cols}
    want["cell"] = layout.cell
    found = {k: rec.get(k) for k in want}
    if found != want:
        raise StoreError(f"{char.path} was measured on a die of layout {found}, not {want}")
    # same geometry, another profile: the nominal conductances (what the weights are
    # normalised by) tell the profiles apart
    for key in ("nominal_g_p", "nominal_g_ap"):
        got, expected = rec.get(key), getattr(layout, key)
        if got is not None and not np.isclose(float(got), expected, rtol=1e-6, atol=0.0):
            station = char.attrs.get("station") or {}
            profile = station.get("profile", {}) if isinstance(station, dict) else {}
            name = profile.get("name", "?") if isinstance(profile, dict) else "?"
            raise StoreError(
                f"{char.path} was measured on a die of another profile ({name}: {key} "
                f"{1e6 * float(got):.1f} uS, the network's die has {1e6 * expected:.1f} uS)"
            )


DAMAGED = "the file is damaged; characterise the die again"
"""What a refusal of a damaged characterisation tells the user to do."""


def _check_classification(char: Characterization, layout: Layout) -> None:
    """Refuse a classification that no characterisation writes: maps of another shape than
    the die, codes that are not defect codes, conductances that are not real numbers, or
    GOOD devices without a positive finite conductance (a model built from them would be
    silently wrong)."""
    shape = (layout.n_arrays, layout.rows, layout.cols)
    maps = {"codes": char.codes, "g_p": char.g_p, "g_ap": char.g_ap}
    for name, values in maps.items():
        got = np.shape(values)
        if got != shape:
            raise StoreError(f"{char.path}: defects/{name} has shape {got}, not {shape}; {DAMAGED}")
    codes = np.asarray(char.codes)
    known = [int(c) for c in DefectCode]
    if codes.dtype.kind not in "iu" or not np.isin(codes, known).all():
        raise StoreError(
            f"{char.path}: defects/codes holds values other than the defect codes {known}; "
            + DAMAGED
        )
    good = codes == DefectCode.GOOD
    for name in ("g_p", "g_ap"):
        g = np.asarray(maps[name])
        if g.dtype.kind not in "iuf":
            raise StoreError(f"{char.path}: defects/{name} is not real numbers; {DAMAGED}")
        with np.errstate(invalid="ignore"):
            bad = np.isinf(g) | (good & ~(g > 0)) | (good & ~np.isfinite(g))
        if bad.any():
            raise StoreError(
                f"{char.path}: defects/{name} holds {counted(int(bad.sum()), 'infinite value')} or "
                f"GOOD devices without a positive finite conductance; {DAMAGED}"
            )


def load_die_model(
    path: str | Path,
    layout: Layout,
    *,
    die_id: str | None = None,
    read_noise: float | None = None,
    description: Mapping[str, Any] | None = None,
) -> DieModel:
    """The measured model of a die from its characterisation run file.

    Args:
        path: an ``mtj-hil characterize`` run file.
        layout: the layout of the die the model is for.
        die_id: if given, the file's ``die_id`` attribute must equal it.
        read_noise: relative read noise; default: estimated from the file's repeated reads
            (or :data:`DEFAULT_READ_NOISE` if it has only one read per device and state).
        description: the die's ``describe()``; a simulated die is then checked to have the
            profile values the file was measured with (the die id names only the profile).

    Raises:
        StoreError: missing or foreign file, another kind of run, another die, another layout,
            an unfinished run (resume it first) or a classification of only some arrays.
    """
    char = load_characterization(path)
    found = str(char.attrs.get("die_id", ""))
    if die_id is not None and found != die_id:
        raise StoreError(f"{path} characterises die {found!r}, not {die_id!r}")
    changed = simulated_profile_changes(char.attrs.get("station"), description)
    if changed:
        raise StoreError(
            f"{path} was measured on a simulated die of the same name with other profile "
            f"values ({', '.join(changed[:4])}{', ...' if len(changed) > 4 else ''} differ): "
            "that is another die; characterise this die again, or give the profile file it "
            "was measured with"
        )
    if char.attrs.get("status") != "completed" or not char.complete:
        raise StoreError(
            f"{path} is not a completed characterisation (status {char.attrs.get('status')!r}); "
            f"{finish_hint(char.attrs, path)}"
        )
    _check_layout(char, layout)
    assert char.arrays is not None and char.codes is not None
    try:
        check_model_arrays([int(a) for a in char.arrays], layout, str(path))
    except TrainingError as exc:
        raise StoreError(str(exc)) from exc
    _check_classification(char, layout)
    g_p, g_ap = _in_siemens(path, char, layout)
    if read_noise is None:
        read_noise = _noise_from_file(path, char) or DEFAULT_READ_NOISE
    result = DefectMap(g_p, g_ap, char.codes, char.thresholds)  # type: ignore[arg-type]
    return model_from_defect_map(layout, result, read_noise)


PLAUSIBLE = 30.0
"""How far (factor) the GOOD devices' median conductance may lie from the die's nominal one
before the maps are taken to be in another unit than they state."""


def _in_siemens(
    path: str | Path, char: Characterization, layout: Layout
) -> tuple[np.ndarray, np.ndarray]:
    """The maps ``g_p``, ``g_ap`` in siemens (their ``unit`` attribute S, or none stated),
    checked against the die's nominal levels. Never converted from another unit: the run
    store refuses any but S when the file opens (:mod:`mtj_hil.runs.store.structure`), so
    this reader and ``show`` and the exports take the same values alike.

    Raises:
        StoreError: a unit that is not a conductance, or values whose GOOD devices' median
            is more than :data:`PLAUSIBLE` times off the nominal level (naming the dataset,
            the unit found and the median).
    """
    with RunFile.open(path, "r", kind=KIND) as run:
        attrs = {n: run.h5[f"defects/{n}"].attrs for n in ("g_p", "g_ap")}
        units = {n: str(a.get("unit", a.get("units", "")) or "").strip() for n, a in attrs.items()}
    good = np.asarray(char.codes) == DefectCode.GOOD
    out = []
    for name, nominal in (("g_p", layout.nominal_g_p), ("g_ap", layout.nominal_g_ap)):
        unit = units[name] or "S"
        if unit != "S":  # (only a NeXus 'units' can still say so: 'unit' is checked at open)
            raise StoreError(
                f"{path}: defects/{name} is stored in {unit!r}; a die model takes "
                "conductances in S, as every reader does"
            )
        g = np.asarray(getattr(char, name), dtype=np.float64)
        median = float(np.median(g[good])) if good.any() else nominal
        if not nominal / PLAUSIBLE <= median <= nominal * PLAUSIBLE:
            stated = f"states {unit!r}" if units[name] else "states no unit (S assumed)"
            raise StoreError(
                f"{path}: defects/{name} {stated}, but its GOOD devices' median is "
                f"{median:.3g} S, {median / nominal:.3g} times the die's nominal "
                f"{nominal:.3g} S: the values are in another unit than stated (microsiemens "
                "stored as S?); a run file holds conductances in S: convert the values, or "
                "measure the die again"
            )
        out.append(g)
    return out[0], out[1]


def _noise_from_file(path: str | Path, char: Characterization) -> float | None:
    with RunFile.open(path, "r", kind=KIND) as run:
        h5 = run.h5
        if "characterization/g_after_p" not in h5:
            return None
        order = {int(a): i for i, a in enumerate(h5["characterization/array_index"][()])}
        stream = h5["characterization/g_after_p"]
        data = []
        for a in char.arrays if char.arrays is not None else []:
            g = stream[order[int(a)]]
            data.append(SwitchingData(g, g, np.zeros(0), np.zeros(0)))
    return read_noise_from_switching(data, char.codes)


def model_from_simulation(die: SimulatedDie, read_noise: float | None = None) -> DieModel:
    """The simulator's truth about ``die`` as a :class:`DieModel` (for comparisons only: a
    lab never knows this). ``read_noise`` defaults to the profile's relative read noise."""
    p = die.profile
    return DieModel(
        p.layout,
        die.conductance_in(CellState.P),
        die.conductance_in(CellState.AP),
        die.defect.copy(),
        p.read.noise_rel if read_noise is None else read_noise,
    )


def fit_population(models: Sequence[DieModel], min_rate_spread: float = 0.0) -> PopulationModel:
    """Population statistics fitted from measured dies (see :meth:`PopulationModel.fit`).

    Raises:
        TrainingError: no dies, or dies of different layouts.
    """
    return PopulationModel.fit(list(models), min_rate_spread)


def _profile_name(attrs: dict[str, Any]) -> str | None:
    """The profile a run's simulated die was drawn from, as its ``station`` record states it
    (None for a die of a station, whose runs record no profile)."""
    station = attrs.get("station")
    profile = station.get("profile") if isinstance(station, dict) else None
    name = profile.get("name") if isinstance(profile, dict) else None
    return str(name) if name else None


def load_population_models(
    paths: Sequence[str | Path], layout: Layout, profile: str | None = None
) -> list[DieModel]:
    """Measured models of a population's dies, one per characterisation run file, each
    checked as :func:`load_die_model` checks it.

    Args:
        paths: one ``mtj-hil characterize`` run file per die.
        layout: the layout of the dies.
        profile: the name of the profile the population should be of; runs of simulated dies
            of another profile are refused (runs of a station's die record none).

    Raises:
        StoreError: as :func:`load_die_model`; a die that appears in more than one run (it
            would count twice in the population's die-to-die statistics); runs of simulated
            dies of different profiles, or of another profile than ``profile``.
    """
    models, seen, names = [], {}, {}
    for path in paths:
        models.append(load_die_model(path, layout))
        with RunFile.open(path, "r", kind=KIND) as run:
            attrs = run.attrs
        die = str(attrs.get("die_id", ""))
        if die in seen:
            raise StoreError(
                f"die {die!r} appears in more than one --characterization ({seen[die]} and "
                f"{path}); give one run per die (a repeat would count the die twice in the "
                "population)"
            )
        seen[die] = path
        name = _profile_name(attrs)
        if name is not None:
            names.setdefault(name, path)
    if len(names) > 1:
        (a, pa), (b, pb) = list(names.items())[:2]
        raise StoreError(
            f"{pa} and {pb} were measured on dies of different profiles ({a!r}, {b!r}); a "
            "population is fitted from dies of one profile"
        )
    if profile is not None and any(name != profile for name in names):
        other = next(name for name in names if name != profile)
        raise StoreError(
            f"{names[other]} was measured on a simulated die of profile {other!r}, not "
            f"{profile!r} (the die the network is for): give runs of {profile} dies, or "
            f"--profile {other}"
        )
    return models
