"""Crossbar reads: batched output currents and per-device conductance maps."""

from __future__ import annotations

import numpy as np

from mtj_hil.protocols.chip import Chip
from mtj_hil.protocols.errors import InvalidRequest, SettingOutsideLimits, SettingRefused
from mtj_hil.protocols.plan_values import is_real, is_whole

DEFAULT_READ_VOLTAGE = 0.1
"""Read voltage (V) used when none is given: well below any write threshold."""
MIN_READ_VOLTAGE = 1e-6
"""Smallest read voltage (V) a plan takes: a die's currents below it (well under a pA per
microsiemens) are lost in any read path's noise, and a conductance from a subnormal voltage
overflows."""


def check_read_voltage(setting: str, volts: float, highest: float | None = None) -> None:
    """Refuse a plan's read voltage ``volts`` (V) below :data:`MIN_READ_VOLTAGE` or above
    ``highest`` (the die's largest read voltage, V; None: not checked here).

    Raises:
        SettingRefused: too small (or not above 0); SettingOutsideLimits: above ``highest``.
    """
    if not is_real(volts):
        raise SettingRefused(setting, f"read voltage must be a number (V), got {volts!r}")
    if highest is not None and volts > highest:
        raise SettingOutsideLimits(
            setting,
            f"read voltage {volts!r} V lies above the largest read voltage of the safety "
            f"envelope, {highest:g} V; nothing applied",
        )
    if not volts >= MIN_READ_VOLTAGE:
        raise SettingRefused(
            setting,
            f"read voltage {volts!r} V is below {MIN_READ_VOLTAGE:g} V: the currents it gives "
            "are lost in any read path's noise; nothing applied",
        )


def read_currents(
    chip: Chip,
    array: int,
    voltages: np.ndarray,
) -> np.ndarray:
    """Read a batch of input vectors: voltages (V, ``(batch, rows)``) -> currents (A, ``(batch, cols)``).

    The whole batch goes to the chip in one call. A backend that calibrates its read path
    (``InstrumentChip`` with a calibration record) returns corrected currents.
    """
    return chip.read(array, voltages)


_VECTORS: dict[tuple[int, float, int], np.ndarray] = {}
"""The read vectors of :func:`conductance_map` per (rows, voltage, repeats), read-only."""
_BY_ID: dict[int, tuple[np.ndarray, float, int]] = {}
"""The same stacks by ``id``: (stack, voltage, repeats), for :func:`one_hot_level`."""


def one_hot_level(vectors: np.ndarray) -> tuple[float, int] | None:
    """``(voltage, repeats)`` (V) if ``vectors`` is one of :func:`conductance_map`'s own
    read-only stacks (``repeats`` copies of ``voltage`` times the identity), else None.

    An identity test, not a look at the values: a backend may take a shortcut for these
    reads (each vector raises one line) at the cost of one dictionary look-up."""
    entry = _BY_ID.get(id(vectors))
    if entry is None or entry[0] is not vectors:
        return None
    return entry[1], entry[2]


def _one_hot_vectors(rows: int, voltage: float, repeats: int) -> np.ndarray:
    """``repeats`` copies of ``voltage`` times the identity, stacked ``(repeats * rows,
    rows)`` (V): built once per shape and voltage and shared read-only (a chip that wrote
    into the voltages it was given would raise, not corrupt the next map)."""
    key = (rows, voltage, repeats)
    vectors = _VECTORS.get(key)
    if vectors is None:
        vectors = np.tile(np.eye(rows) * voltage, (repeats, 1))
        vectors.flags.writeable = False
        if len(_VECTORS) >= 64:
            _VECTORS.clear()
            _BY_ID.clear()
        _VECTORS[key] = vectors
        _BY_ID[id(vectors)] = (vectors, voltage, repeats)
    return vectors


def conductance_map(
    chip: Chip,
    array: int,
    read_voltage: float = DEFAULT_READ_VOLTAGE,
    repeats: int = 1,
) -> np.ndarray:
    """Conductance (S) of every cell of ``array``, read ``repeats`` times.

    One input line at a time is raised to ``read_voltage`` with all others at 0 V, so each
    read vector yields one row of the map; all ``rows * repeats`` vectors go in one call.

    Returns:
        Array of shape ``(repeats, rows, cols)``.

    Raises:
        InvalidRequest: ``read_voltage`` not positive or below :data:`MIN_READ_VOLTAGE`, or
            ``repeats`` not a whole number >= 1 (nothing is read then).
    """
    if not is_real(read_voltage) or not 0 < read_voltage < float("inf"):
        raise InvalidRequest(f"read voltage must be a finite value > 0 V, got {read_voltage!r}")
    check_read_voltage("read_voltage", read_voltage)  # not lost in the noise, not overflowing
    if not is_whole(repeats) or repeats < 1:
        raise InvalidRequest(f"repeats must be a whole number >= 1, got {repeats!r}")
    repeats = int(repeats)
    rows = chip.layout.rows
    currents = read_currents(chip, array, _one_hot_vectors(rows, float(read_voltage), repeats))
    return currents.reshape(repeats, rows, -1) / read_voltage
