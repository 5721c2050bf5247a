"""The bias signature of a device that reads one code of a coarse converter at the low voltage.

The signature ``b = ln(G(V2) / G(V1))`` divides the high-voltage reading by the low one. Where
the low-voltage converter is coarse and a device reads one code ``k`` in every reading (no
read noise dithers it across codes), its low reading is ``k q``, not its conductance ``G``:
the signature it shows is ``b = t + u``, its true signature ``t`` plus the quantisation
error ``u = ln(G / (k q))`` of its low reading, one value for all its cycles (it does not
average out), anywhere in ``[ln((k - 1/2) / k), ln((k + 1/2) / k)]`` (a quarter in ``ln G``
at code 4). ``u`` is not noise about the class's signature: it follows from where the device
sits within its code, and so from its class. With a quantised high-voltage reading too,
``b`` takes a few values only (one per high-voltage code), and a class's law of ``b`` is a
set of masses, not a Gaussian:

- a device stuck in state X reading code ``k`` sits where the X level law meets code ``k``:
  its signature follows that of the devices that switched and read code ``k`` exactly in
  state X (their ``b`` already holds that ``u``): their values, each a kernel as wide as the
  device's own read noise of ``b`` (:func:`kernel_ll`), with a share :data:`REF_OUTLIERS` of
  the state's pooled law beside them;
- an ohmic device (resistive open, short) has a level spread over decades, evenly in ``ln G``
  within one code: ``u`` is uniform over the code's bin, read through the high-voltage
  converter as the masses of its codes that overlap the bin (:func:`ohmic_masses`). A short
  law fitted to the die's shorts holds their own codes' errors, narrower at their higher
  codes than at a stuck device's: binned at the device's code all the same (left pooled, 5
  stuck-P devices of an 8-bit die were UNCERTAIN against it).

Pooled over all codes, the switchers' AP signature is centred where ``u`` averages out: at
9 bits an AP device reading the upper of its two codes shows ``b ~ 0`` (that code's ``u``
cancels its bias rise), the ohmic value, and was called a resistive open with confidence
0.93 (stuck-AP recall 0.61). Used by :mod:`mtj_hil.protocols.defects.classifier` through
:func:`condition_on_codes`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.special import ndtr

from mtj_hil.protocols.defects.bias_signature import BiasEvidence, PreparedBias
from mtj_hil.protocols.defects.contrast import lognorm
from mtj_hil.protocols.defects.hidden import device_codes

MIN_PER_CODE = 20
"""Fewer switchers reading a code exactly in a state than this and a stuck device on that
code keeps the state's pooled signature law."""
REF_OUTLIERS = 0.01
"""Share of the state's pooled (Gaussian) signature law beside the switchers' values in a
stuck device's law on one code: a few thousand switchers do not rule out a value none of
them showed more surely than that."""
MIN_SWITCH_CODES = 2.0
"""Conditioning needs the die's switch (median P minus median AP conductance of the
switchers) to span at least this many low-voltage codes. Where P and AP are about one code
apart (7 bits on the stress die), a code holds the edge of both states and of the ohmic
classes at once: conditioned there, 21 stuck-P devices of 12 dies were called OPEN at
confidence >= 0.95 (none unconditioned)."""
_CHUNK = 1 << 20
"""Devices x values evaluated at once in :func:`kernel_ll`."""


def kernel_ll(m: np.ndarray, h: np.ndarray, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Log density at each ``m`` of the masses ``weights`` (summing to 1) at ``values``, each
    spread as ``N(0, h)`` (``h`` per ``m``)."""
    out = np.empty(m.shape)
    lw = np.log(np.maximum(weights, 1e-300))
    step = max(_CHUNK // max(values.size, 1), 1)
    for lo in range(0, m.size, step):
        sl = slice(lo, lo + step)
        ll = lw[None, :] + lognorm(m[sl, None], values[None, :], h[sl, None])
        top = ll.max(axis=1)
        out[sl] = top + np.log(np.exp(ll - top[:, None]).sum(axis=1))
    return out


def ohmic_masses(k: float, step: float, step_high: float) -> tuple[np.ndarray, np.ndarray]:
    """Values of ``u`` (the signature of an ohmic device read at low-voltage code ``k`` > 0,
    step ``step`` S, less its true signature) and their masses: its ``ln G`` uniform over the
    code's bin, read at the high voltage in codes of ``step_high`` S (each code's share of
    the bin; one value per code)."""
    lo, hi = np.log((k - 0.5) * step), np.log((k + 0.5) * step)
    j = np.arange(np.floor((k - 0.5) * step / step_high), np.ceil((k + 0.5) * step / step_high) + 1)
    j = j[j > 0]
    with np.errstate(divide="ignore"):
        a = np.maximum(np.log(np.maximum(j - 0.5, 0.0) * step_high), lo)
    b = np.minimum(np.log((j + 0.5) * step_high), hi)
    mass = np.maximum(b - a, 0.0) / (hi - lo)
    keep = mass > 0
    return np.log(j[keep] * step_high / (k * step)), mass[keep]


@dataclass(frozen=True)
class CodedBins:
    """The devices read on one low-voltage code ``k`` > 0 in every reading (``at``, flat
    ``(n_arr, n)``), their codes, and the two converters' steps (S; ``step_high`` 0: the
    high-voltage reads are not quantised)."""

    at: np.ndarray
    k: np.ndarray
    step: float
    step_high: float

    def ohmic(self, pb: PreparedBias, mu: float, s: float) -> np.ndarray:
        """Log likelihood of the signatures of the devices ``at`` under an ohmic class of
        signature law ``N(mu, s)`` (``pb.shared`` elsewhere)."""
        out = pb.shared(mu, s)
        sd = np.sqrt(s * s + pb.var_m)
        for code in np.unique(self.k[self.at]):
            here = self.at & (self.k == code)
            m, h = pb.m[here] - mu, sd[here]
            if self.step_high > 0:
                ll = kernel_ll(m, h, *ohmic_masses(code, self.step, self.step_high))
            else:
                lo, hi = np.log((code - 0.5) / code), np.log((code + 0.5) / code)
                mass = ndtr((m - lo) / h) - ndtr((m - hi) / h)
                ll = np.log(np.maximum(mass, 1e-300)) - np.log(hi - lo)
            out[here] = ll + pb.ll_diff[here]
        return out


def condition_on_codes(
    pb: PreparedBias,
    bias: BiasEvidence,
    x_p: np.ndarray,
    x_ap: np.ndarray,
    step: float,
    clean: np.ndarray,
) -> PreparedBias:
    """``pb`` with the signature laws of the devices that read one code ``k > 0`` in every
    low-voltage reading of both states conditioned on that code: stuck-P and stuck-AP by the
    switchers reading ``k`` exactly in that state (where at least :data:`MIN_PER_CODE` do),
    the ohmic classes through the code's bin (:class:`CodedBins`).

    ``x_p``, ``x_ap``: mean ln G (S) per device after P and AP writes at the low voltage,
    flat ``(n_arr, n)`` as ``clean`` (the switchers the laws are fitted to); ``step``: the
    low-voltage converter step (S), > 0. Unchanged where the die's switch spans fewer than
    :data:`MIN_SWITCH_CODES` codes."""
    switch = np.median(np.exp(x_p[clean])) - np.median(np.exp(x_ap[clean]))
    if not switch >= MIN_SWITCH_CODES * step:
        return pb
    k_p, exact_p = device_codes(x_p, step)
    k_ap, exact_ap = device_codes(x_ap, step)
    at = exact_p & exact_ap & (k_p == k_ap) & (k_p > 0) & pb.have_any
    if not at.any():
        return pb
    shape = clean.shape
    b_p, b_ap = np.asarray(bias.b_p).reshape(shape), np.asarray(bias.b_ap).reshape(shape)
    h = np.sqrt(pb.var_m)
    stuck = []
    for b, k, exact, pooled in (
        (b_p, k_p, exact_p, pb.stuck_p),
        (b_ap, k_ap, exact_ap, pb.stuck_ap),
    ):
        out = pooled.copy()
        ref = clean & exact & np.isfinite(b)
        for code in np.unique(k_p[at]):
            sel = ref & (k == code)
            if int(sel.sum()) < MIN_PER_CODE:
                continue
            values, counts = np.unique(np.round(b[sel], 9), return_counts=True)
            here = at & (k_p == code)
            own = kernel_ll(pb.m[here], h[here], values, counts / counts.sum())
            ll = np.logaddexp(
                np.log1p(-REF_OUTLIERS) + own + pb.ll_diff[here],
                np.log(REF_OUTLIERS) + pooled[here],
            )
            out[here] = ll
        stuck.append(out)
    coded = CodedBins(at, np.where(at, k_p, 0.0), step, float(bias.step))
    return replace(pb, stuck_p=stuck[0], stuck_ap=stuck[1], coded=coded)
