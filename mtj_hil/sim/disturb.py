"""Read disturb at its true cost: draw the number of flips first, touch devices only then.

The law (thermal activation, as for write pulses): during one read vector ``k`` every device
``(r, c)`` of input line ``r`` sees the line's voltage ``v_kr`` for ``read_width`` seconds.
A positive voltage has the polarity of a write towards AP and can flip a device in P (its
critical voltage ``vc_to_ap``), a negative one that of a write towards P (AP devices,
``vc_to_p``). Each such term adds the integrated rate

    lambda_krc = (read_width / tau0) * exp(-delta * (1 - |v_kr| / vc_rc))

and a device exposed in its state at the start of the batch flips with probability
``1 - exp(-sum_k lambda_krc)``; only GOOD devices can flip; a flip toggles the state once
per batch. (``delta`` is the profile's ``switching.delta``, as it always was for reads.)

Two exact ways to draw the same law:

* **sparse** (the usual case, where the probability is astronomically small): each device's
  flips are the first event of a Poisson process of mean ``sum_k lambda_krc``. Every term is
  bounded by ``rho = (read_width / tau0) exp(-delta (1 - v_peak / vc_min))`` with the batch's
  peak voltage and the array's smallest critical voltage of that polarity. Draw the number of
  candidate events ``N ~ Poisson(n_terms * rho)``, place each uniformly on a term
  ``(k, r, c)`` and keep it with probability ``lambda_krc / rho`` (Poisson thinning, exact). A
  device flips if it kept at least one event. On most dies ``N`` is 0 and nothing else is
  computed.
* **dense** (when the bound promises many candidates): the integrated rate of every device,
  counting how often each line holds each distinct voltage level.
"""

from __future__ import annotations

import math

import numpy as np

from mtj_hil.protocols.defects.codes import DefectCode

SPARSE_EVENT_CAP = 200_000
"""Largest number of candidate events the sparse draw places; above it the dense one runs."""


EXPONENT_RANGE = (-50.0, 700.0)
"""Bounds on the law's exponent ``delta (1 - v / vc)``. Above 700 the rate is 0 to double
precision; below -50 (a read far above a device's critical voltage) it is ``rate0 * 5e21``
or more, a certain flip for any ``rate0`` above 1e-18, and ``exp`` no longer overflows
(a die whose critical voltages sit near its read voltage raised OverflowError)."""


def term_rate(delta: float, rate0: float, v: np.ndarray, vc: np.ndarray) -> np.ndarray:
    """Integrated flip rate of one read term: ``rate0 * exp(-delta (1 - v / vc))`` (v >= 0),
    its exponent held to :data:`EXPONENT_RANGE`."""
    return rate0 * np.exp(-np.clip(delta * (1.0 - v / vc), *EXPONENT_RANGE))


def integrated_rates(
    state: np.ndarray,
    exposed_good: np.ndarray,
    vc_to_ap: np.ndarray,
    vc_to_p: np.ndarray,
    voltages: np.ndarray,
    delta: float,
    rate0: float,
) -> np.ndarray:
    """Sum over the batch of each device's flip rate, ``(rows, cols)`` (dense form of the law).

    Args:
        state: True where a device is in P, ``(rows, cols)``.
        exposed_good: True for devices that can flip (GOOD), ``(rows, cols)``.
        vc_to_ap, vc_to_p: critical voltages (V), ``(rows, cols)``.
        voltages: read vectors (V), ``(batch, rows)``.
        delta: thermal stability factor; rate0: ``read_width / tau0``.
    """
    rows = voltages.shape[1]
    total = np.zeros(state.shape)
    for sign, vc, from_p in ((1.0, vc_to_ap, True), (-1.0, vc_to_p, False)):
        mag = np.maximum(sign * voltages, 0.0)
        if not mag.any():
            continue
        # Few distinct voltages in practice (one-hot maps, binary inputs): count how often
        # each line holds each level instead of one exp per read and device.
        levels, inverse = np.unique(mag, return_inverse=True)
        index = inverse.reshape(mag.shape) * rows + np.arange(rows)[None, :]
        counts = np.bincount(index.ravel(), minlength=levels.size * rows).reshape(-1, rows)
        keep = levels > 0
        levels, counts = levels[keep], counts[keep].astype(float)
        rate = term_rate(delta, rate0, levels[:, None, None], vc[None])  # (levels, rows, cols)
        exposed = (state == from_p) & exposed_good
        total += np.where(exposed, np.einsum("kr,krc->rc", counts, rate), 0.0)
    return total


def draw_flips(
    rng: np.random.Generator,
    state: np.ndarray,
    defect: np.ndarray,
    vc_to_ap: np.ndarray,
    vc_to_p: np.ndarray,
    voltages: np.ndarray,
    v_range: tuple[float, float],
    delta: float,
    rate0: float,
    vc_min: tuple[float, float] | None = None,
) -> np.ndarray | None:
    """Devices a batch of reads flips (bool ``(rows, cols)``), or ``None`` if none did.

    ``state`` is True where a device is in P, ``defect`` holds the devices' defect codes
    (only GOOD ones flip), ``v_range`` is ``(min, max)`` of ``voltages`` (V); ``vc_min``, if
    given, the smallest ``vc_to_ap`` and ``vc_to_p`` (V; the caller's cached minima). See the
    module docstring for the law and the two exact ways of drawing it.
    """
    lo, hi = v_range
    batch, rows = voltages.shape
    n_terms = batch * rows * state.shape[1]
    bounds = []
    for i, (sign, peak, vc) in enumerate(((1.0, hi, vc_to_ap), (-1.0, -lo, vc_to_p))):
        if peak > 0:
            smallest = float(vc.min()) if vc_min is None else vc_min[i]
            low, high = EXPONENT_RANGE
            exponent = min(max(delta * (1.0 - peak / smallest), low), high)
            bounds.append((sign, rate0 * math.exp(-exponent), vc))
    if not bounds:
        return None
    if n_terms * sum(rho for _, rho, _ in bounds) > SPARSE_EVENT_CAP:
        good = good_mask(defect)
        total = integrated_rates(state, good, vc_to_ap, vc_to_p, voltages, delta, rate0)
        flips = rng.random(state.shape) < -np.expm1(-total)
        return flips if flips.any() else None
    flips = None
    for sign, rho, vc in bounds:
        n = int(rng.poisson(n_terms * rho))
        while n > 0:  # a freak draw above the cap is placed in chunks
            size = min(n, SPARSE_EVENT_CAP)
            n -= size
            kept = _thin(rng, size, rho, sign, state, defect, vc, voltages, delta, rate0)
            if kept is not None:
                if flips is None:
                    flips = np.zeros(state.shape, bool)
                flips[kept] = True
    return flips


def _thin(
    rng: np.random.Generator,
    size: int,
    rho: float,
    sign: float,
    state: np.ndarray,
    defect: np.ndarray,
    vc: np.ndarray,
    voltages: np.ndarray,
    delta: float,
    rate0: float,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Place ``size`` candidate events uniformly on the terms ``(read, row, col)`` and keep
    each with probability ``lambda / rho``; return (rows, cols) of the kept ones."""
    batch, rows = voltages.shape
    k = rng.integers(0, batch, size)
    r = rng.integers(0, rows, size)
    c = rng.integers(0, state.shape[1], size)
    u = rng.random(size)
    v = np.maximum(sign * voltages[k, r], 0.0)
    rate = np.where(v > 0, term_rate(delta, rate0, v, vc[r, c]), 0.0)
    ok = (u * rho < rate) & (state[r, c] == (sign > 0)) & (defect[r, c] == DefectCode.GOOD)
    return (r[ok], c[ok]) if ok.any() else None


def good_mask(defect: np.ndarray) -> np.ndarray:
    """Devices read disturb can flip (GOOD ones)."""
    return defect == DefectCode.GOOD
