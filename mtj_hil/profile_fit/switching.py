"""Switching parameters fitted from switching runs: median Vc0 per direction, the device
spread of Vc0 with fit noise removed, median Delta and its device spread, the write-error
floor from its set-aside trials; ``tau0`` is the value the fits assumed."""

from __future__ import annotations

import numpy as np

from mtj_hil.errors import StoreError
from mtj_hil.profile_fit.resistance import robust_sd
from mtj_hil.protocols.switching.fit import (
    METHOD_SYSTEMATIC,
    SPREAD_FLOOR,
    STATUS_OK,
    device_spread,
    unshrunk_delta,
)
from mtj_hil.runs.store.switching import Switching

SPREAD_SYSTEMATIC = 0.01
"""Relative systematic of the Vc0 device spread. The spread is a maximum-likelihood fit
with each device's own fit variance (:func:`mtj_hil.protocols.switching.fit.device_spread`); on
single arrays of simulated dies it agrees with the sample spread of the true Vc0 to about
1 % (the earlier subtraction of the median fit variance from a MAD was about 0.7 % high and
noisier). Kept at 1 % until a lot-wide closure test shows it smaller."""
DELTA_SPREAD_SYSTEMATIC = 0.03
"""Relative systematic of the Delta device spread: after removing the prior's pull
(:func:`mtj_hil.protocols.switching.fit.unshrunk_delta`), closure tests with a 10 % Delta spread
(bench_switching.py --delta-sigma 0.1, 36 dies x 1 array x 2 directions) still find it
1.5 % below the truth's sample spread on average (it was about 5 % low from the MAP
estimates): what remains is of the order of the finite-trial bias of the estimates
(see :data:`mtj_hil.protocols.switching.fit.METHOD_SYSTEMATIC`)."""


def fit_switching(sws: list[Switching], fp, put) -> None:
    """Put the switching section of the fitted profile ``fp`` from switching runs
    (``put(section, key, value, sd, source)``; what cannot be fitted goes to ``fp.defaults``).

    Raises:
        StoreError: the switching runs assumed different ``tau0`` values.
    """
    src = f"{len(sws)} switching run{'s' if len(sws) > 1 else ''}"
    deltas, delta_sds, sigmas = [], [], []
    fails = trials = 0
    tau0s = set()
    for direction, key in (("P", "vc_to_p"), ("AP", "vc_to_ap")):
        vcs, vc_sds = [], []
        for sw in sws:
            fit = sw.analysis.directions[direction]
            ok = fit.status == STATUS_OK
            vcs.append(fit.vc[ok])
            vc_sds.append(fit.vc_sd[ok])
            deltas.append(fit.delta[ok])
            d_mle, d_mle_sd = unshrunk_delta(fit.vc, fit.delta, fit.cov, fit.status)
            delta_sds.append((d_mle[ok.ravel()], d_mle_sd[ok.ravel()]))
            fails += fit.floor.failures
            trials += fit.floor.trials
            tau0s.add(sw.analysis.tau0)
        vc, vc_sd = np.concatenate(vcs), np.concatenate(vc_sds)
        if vc.size == 0:
            fp.defaults.append(f"switching.{key}")
            continue
        med = float(np.median(vc))
        spread = robust_sd(vc)
        put(
            "switching",
            key,
            med,
            float(np.hypot(1.2533 * spread / np.sqrt(vc.size), METHOD_SYSTEMATIC * med)),
            f"{vc.size} fitted devices (with the method's systematic), {src}",
        )
        s_abs, s_abs_sd, centre = device_spread(vc, vc_sd)
        sigmas.append((s_abs / centre, s_abs_sd / centre))
    if sigmas:
        s = float(np.mean([x for x, _ in sigmas]))
        s_sd = float(np.sqrt(sum(e**2 for _, e in sigmas))) / len(sigmas)
        put(
            "switching",
            "vc_sigma",
            s,
            float(np.hypot(s_sd, SPREAD_SYSTEMATIC * s)),
            f"device spread of fitted Vc0, fit noise removed (with the method's systematic), {src}",
        )
    d = np.concatenate(deltas)
    if d.size:
        put(
            "switching",
            "delta",
            float(np.median(d)),
            float(
                np.hypot(1.2533 * robust_sd(d) / np.sqrt(d.size), METHOD_SYSTEMATIC * np.median(d))
            ),
            f"{d.size} fitted device-directions (with the method's systematic), {src}",
        )
    else:
        fp.defaults.append("switching.delta")
    d_mle = np.concatenate([d for d, _ in delta_sds])
    if d_mle.size >= 3:
        # Device-directions pooled: both directions measure one barrier per device.
        s_abs, s_abs_sd, centre = device_spread(d_mle, np.concatenate([e for _, e in delta_sds]))
        put(
            "switching",
            "delta_sigma",
            s_abs / centre,
            float(
                np.sqrt(
                    (s_abs_sd / centre) ** 2
                    + (DELTA_SPREAD_SYSTEMATIC * s_abs / centre) ** 2
                    + SPREAD_FLOOR**2
                )
            ),
            "device spread of fitted Delta, prior pull and fit noise removed (with the "
            f"method's systematic), {src}",
        )
    else:
        fp.defaults.append("switching.delta_sigma")
    if len(tau0s) > 1:
        raise StoreError(
            f"the switching runs assumed different tau0 values {sorted(tau0s)}; refit alike"
        )
    put("switching", "tau0", tau0s.pop(), None, "assumed by the switching fits (not identifiable)")
    if trials:
        f = fails / trials
        put(
            "switching",
            "write_error_floor",
            f,
            np.sqrt(max(fails, 1)) / trials,
            f"{fails} failures in {trials} set-aside trials, {src}",
        )
    else:
        fp.defaults.append("switching.write_error_floor")
