"""Switching evidence of a device whose cycles may jump: telegraph noise, a loose contact.

Each device's per-cycle log ratios ``d`` (ln G after P less after AP) are scored under
"stuck" (every cycle ``N(0, sd)``) and "good" (switched cycles ``N(delta, sd)``, the
device's contrast integrated out, failed ones ``N(0, sd)``:
:func:`~mtj_hil.protocols.defects.contrast.good_loglik`), each a mixture over how jumpy the
device reads: the read noise ``sd``; a rare jumpy device, :data:`JUMP_WIDTH` times wider;
and a rarer telegraph device whose trap changes state between the reads of a cycle,
:data:`TELEGRAPH_WIDTH` wide in ln G. The same mixture under both hypotheses, so a jump
makes a device neither good nor stuck: a stuck device whose trap emptied between its P and
AP reads in one cycle (a 20 % telegraph step, ln 1.25 = 0.22) no longer passes for a good
device that switched once with a small contrast and failed twice.
"""

from __future__ import annotations

import numpy as np

from mtj_hil.protocols.defects.contrast import good_loglik, lognorm, sort_cycles
from mtj_hil.protocols.defects.failures import agreeing

JUMP_SHARE = 0.01
JUMP_WIDTH = 4.0
"""Share of devices whose cycles scatter, and by how many read-noise sigmas."""
TELEGRAPH_SHARE = 1e-3
TELEGRAPH_WIDTH = 0.3
"""Share of devices read across a telegraph step, and the spread (ln G) of their cycles:
steps of 10-50 % of the conductance (ln 1.1-2) are the large-amplitude fluctuators of small
MgO junctions; the common ones, a few %, stay within :data:`JUMP_WIDTH`."""


def switching_logliks(
    d: np.ndarray, sd: float, m_d: float, s_d: float, wf, tail: float, tail_low: float
) -> tuple[np.ndarray, np.ndarray]:
    """Log likelihoods ``(good, stuck)`` of each device's cycles ``d`` ``(cycles, ...)``
    (NaN cycles left out) over the three read behaviours: ``sd`` the die's per-cycle noise
    (ln G), ``(m_d, s_d)`` its contrast law, ``wf`` its write failures, ``tail`` and
    ``tail_low`` the small-contrast tail of :func:`good_loglik`.

    The telegraph behaviour is scored only for devices with a cycle the other two leave
    over ``AGREE_SIGMAS`` out (:func:`~mtj_hil.protocols.defects.failures.agreeing`);
    elsewhere it would add under 1e-6 of the likelihood, at the cost of a third pass."""
    have = np.isfinite(d)
    dz = np.where(have, d, 0.0)
    srt = sort_cycles(d)
    logs = np.log([1.0 - JUMP_SHARE - TELEGRAPH_SHARE, JUMP_SHARE])
    stuck = [np.where(have, lognorm(dz, 0.0, w), 0.0).sum(axis=0) for w in (sd, JUMP_WIDTH * sd)]
    good = [good_loglik(d, m_d, s_d, w, wf, tail, tail_low, srt) for w in (sd, JUMP_WIDTH * sd)]
    ll_good, ll_stuck = _mix(logs, good), _mix(logs, stuck)
    odd = ~agreeing(d, sd, m_d, float(np.hypot(s_d, sd)))
    if TELEGRAPH_SHARE > 0 and odd.any():
        w = max(TELEGRAPH_WIDTH, 2 * JUMP_WIDTH * sd)
        sub, log_t = d[:, odd], np.log(TELEGRAPH_SHARE)
        tel_stuck = np.where(have[:, odd], lognorm(dz[:, odd], 0.0, w), 0.0).sum(axis=0)
        tel_good = good_loglik(sub, m_d, s_d, w, wf, tail, tail_low)
        ll_stuck[odd] = np.logaddexp(ll_stuck[odd], log_t + tel_stuck)
        ll_good[odd] = np.logaddexp(ll_good[odd], log_t + tel_good)
    return ll_good, ll_stuck


def _mix(log_shares: np.ndarray, parts: list[np.ndarray]) -> np.ndarray:
    """``log sum_k share_k exp(part_k)``, in the order the parts are given."""
    out = log_shares[0] + parts[0]
    for w, part in zip(log_shares[1:], parts[1:], strict=True):
        out = np.logaddexp(out, w + part)
    return out
