"""The flawed-die cases of issue 22, and the figures both defect benches print for them.

A case is a shipped profile with a few sections changed (``DeviceProfile.replace``): each
flaw of :mod:`mtj_hil.sim.profile_sections` on its own, the per-line sense offsets and the
marginal write window, and all of them together. For each die the benches compare the
classification with the simulator's truth; besides precision and recall they print

- the **Bayes limit**: what a classifier would reach that knew every class's true
  distribution of the observables (the measured level, the contrast between the written
  states and, with a second read voltage, the bias signature), built from the die's own
  true device values convolved with the measured read noise, every device re-measured
  (:func:`bayes_calls`); good devices with almost no contrast compete with stuck ones;
- a **reliability table** of the stated confidence: calls binned by confidence, and how
  often each bin was right (:func:`reliability`).
"""

from __future__ import annotations

import numpy as np

from mtj_hil.protocols.defects.codes import DefectCode

R_P = 4292.0
LEVEL_CLASSES = (DefectCode.SHORT, DefectCode.OPEN, DefectCode.STUCK_P, DefectCode.STUCK_AP)

CASES: dict[str, tuple[str, dict]] = {
    "default (bias on)": ("1t1r-20k", {}),
    "resistive opens": (
        "1t1r-20k",
        {"defects": {"open_rate": 0.004}, "resistive_opens": {"fraction": 1.0}},
    ),
    "two sizes + weak shorts": (
        "1t1r-weak-shorts",
        {"populations": {"fractions": [0.7, 0.3], "r_scale": [1.0, 1.6]}},
    ),
    "soft shorts": ("1t1r-20k", {"defects": {"short_g_median": 3.2e-4, "short_g_sigma": 0.25}}),
    "skewed spread": ("1t1r-wide-spread", {"populations": {"skew": 4.0}}),
    "sense offsets 1 uA": ("1t1r-20k", {"read": {"offset_sigma": 1e-6}}),
    "marginal write window": ("1t1r-20k", {"switching": {"vc_to_p": 1.15, "vc_to_ap": 1.15}}),
    "spatial structure": (
        "1t1r-20k",
        {
            "spatial": {
                "scratch_rate": 1.0,
                "edge_width": 3.0,
                "edge_factor": 5.0,
                "dead_array_rate": 0.3,
                "cluster_rate": 4.0,
            }
        },
    ),
    "temperature drift": (
        "1t1r-20k",
        {"drift": {"ramp": 0.05, "amplitude": 5.0, "period": 20.0, "tc_r_ap": -2e-3}},
    ),
    "telegraph noise": ("1t1r-20k", {"telegraph": {"fraction": 0.05, "amplitude": 0.03}}),
    "pinholes": ("1t1r-20k", {"pinholes": {"fraction": 0.02}}),
    "partial switching": ("1t1r-20k", {"partial_switching": {"fraction": 0.02}}),
    "lab wafer (shipped)": ("1t1r-lab-wafer", {}),
    "everything, early process": (
        "1t1r-early-process",
        {
            "defects": {"open_rate": 0.004},
            "resistive_opens": {"fraction": 0.7},
            "populations": {"fractions": [0.8, 0.2], "r_scale": [1.0, 1.4]},
            "read": {"offset_sigma": 5e-7},
            "spatial": {"scratch_rate": 0.5, "cluster_rate": 2.0},
            "telegraph": {"fraction": 0.02},
            "pinholes": {"fraction": 0.01},
            "partial_switching": {"fraction": 0.01},
            "drift": {"ramp": 0.02, "amplitude": 2.0, "period": 30.0},
        },
    ),
}
"""Case name -> (base profile, sections changed)."""


def case_profile(name: str):
    """The profile of a case (see :data:`CASES`)."""
    from mtj_hil.sim.profile import load_profile

    base, changes = CASES[name]
    prof = load_profile(base)
    return prof.replace(**changes) if changes else prof


def _true_observables(die, arrays, v1: float, v2: float | None):
    """The true observables of every device of ``arrays``, ``(*S, 3)``: the mean ln G at
    ``v1`` over both written states, the bias signature (ln G at ``v2`` less ln G at ``v1``,
    likewise averaged) and the contrast (ln G after a P write less after an AP write: 0 for
    a device that does not switch); and per class the die's population of such values
    (samples ``(n, 3)``: every good device for GOOD, every barrier device in the one state
    for the stuck classes, every short's and open's conductance)."""
    r_p, r_ap = die.r_p[arrays], die.r_ap[arrays]
    leak = 0.0 if die.leak_g is None else die.leak_g[arrays]
    truth = die.defect[arrays]
    barrier = ~np.isin(truth, (DefectCode.SHORT, DefectCode.OPEN))

    def state(g0: np.ndarray, k: np.ndarray | None) -> np.ndarray:
        g1 = g0 * (1 + (0 if k is None else k) * v1 * v1) + leak
        b = np.zeros_like(g1)
        if v2 is not None and k is not None:
            b = np.log(g0 * (1 + k * v2 * v2) + leak) - np.log(g1)
        return np.stack([np.log(g1), b, np.zeros_like(g1)], axis=-1)

    kp = None if die.k_p is None else die.k_p[arrays]
    kap = None if die.k_ap is None else die.k_ap[arrays]
    obs_p, obs_ap = state(1 / r_p, kp), state(1 / r_ap, kap)
    good = 0.5 * (obs_p + obs_ap)
    good[..., 2] = obs_p[..., 0] - obs_ap[..., 0]
    open_g = die.profile.defects.open_g if die.open_g is None else die.open_g[arrays]
    ohmic = lambda g: np.stack([np.log(g), np.zeros_like(g), np.zeros_like(g)], axis=-1)  # noqa: E731
    obs_s = ohmic(die.short_g[arrays])
    obs_o = ohmic(np.broadcast_to(open_g, truth.shape).astype(float))
    device = np.where((truth == DefectCode.GOOD)[..., None], good, obs_p)
    device = np.where((truth == DefectCode.STUCK_AP)[..., None], obs_ap, device)
    device = np.where((truth == DefectCode.SHORT)[..., None], obs_s, device)
    device = np.where((truth == DefectCode.OPEN)[..., None], obs_o, device)
    population = {
        int(DefectCode.GOOD): good[truth == DefectCode.GOOD],
        int(DefectCode.STUCK_P): obs_p[barrier],
        int(DefectCode.STUCK_AP): obs_ap[barrier],
        int(DefectCode.SHORT): obs_s.reshape(-1, 3),
        int(DefectCode.OPEN): obs_o[truth == DefectCode.OPEN],
    }
    return device, population


ORACLE_CLASSES = (DefectCode.GOOD, *LEVEL_CLASSES)
CONTRAST_REACH = 6.0
"""Good devices whose measured contrast is this many of its noise sigmas from 0 are called
GOOD outright (every other class has no contrast)."""


def bayes_calls(
    die,
    arrays,
    result,
    v1: float,
    v2: float | None,
    cycles: int,
    remeasure: int = 0,
    remeasured: np.ndarray | None = None,
) -> np.ndarray:
    """What a classifier knowing every class's true distribution would call each device.

    Each device is "measured" afresh from its true (mean level, bias signature, contrast)
    with the read noise the classifier measured, as a mean over ``cycles + remeasure``
    write-read cycles per state (every device re-measured: an upper bound on what the
    classifier sees; no offsets or drift). With ``remeasured`` (shaped like the arrays: the
    extra cycles the run gave each device, :func:`remeasured_cycles`), each device gets its
    own: the limit for the cycles the run actually spent on each device. Each class's
    density is the die's own true values of that class convolved with that noise (kernel density, plus Silverman smoothing of
    the level for small classes); priors are the true class counts. Good devices are
    included: one whose contrast is near 0 (a junction with almost no TMR) competes with the
    stuck classes, as it does for the classifier. Returns codes shaped like the die's
    arrays.
    """
    arrays = list(arrays)
    truth = die.defect[arrays]
    calls = truth.copy()
    if not (truth != DefectCode.GOOD).any():
        return calls
    rng = np.random.default_rng(0)
    n = np.full(truth.shape, max(cycles + remeasure, 1), dtype=float)
    if remeasured is not None:
        n = max(cycles, 1) + np.asarray(remeasured, dtype=float)
    per_read = float(result.model.get("read_noise_ln", 0.01))
    bias = result.model.get("bias_signature") or {}
    per_cycle_b = float(bias.get("read_noise_per_cycle", 0.0))
    noise = np.stack(  # per device: the sigma of each observable's mean over its cycles
        [per_read / np.sqrt(2 * n), per_cycle_b / np.sqrt(2 * n), per_read * np.sqrt(2 / n)],
        axis=-1,
    )
    use_b = v2 is not None and per_cycle_b > 0
    device, population = _true_observables(die, arrays, v1, v2 if use_b else None)
    meas = device + noise * rng.standard_normal(device.shape)
    near = np.abs(meas[..., 2]) < CONTRAST_REACH * np.maximum(noise[..., 2], 1e-4)
    judged = (truth != DefectCode.GOOD) | near
    calls[~judged] = DefectCode.GOOD
    obs = meas[judged]
    h_obs = np.maximum(noise[judged], [1e-3, 1e-4, 1e-4])  # kernel widths, per device
    dims = [0, 1, 2] if use_b else [0, 2]
    scores = []
    for code in ORACLE_CLASSES:
        s = population[int(code)]
        prior = int((truth == code).sum())
        if prior == 0 or s.shape[0] == 0:
            scores.append(np.full(obs.shape[0], -np.inf))
            continue
        cap = 20000 if code == DefectCode.GOOD else 4000
        if s.shape[0] > cap:
            s = s[rng.choice(s.shape[0], cap, replace=False)]
        silver = 1.06 * max(np.std(s[:, 0]), 1e-3) * s.shape[0] ** -0.2 if s.shape[0] < 500 else 0
        h = h_obs.copy()
        h[:, 0] = np.hypot(h[:, 0], silver)
        ll = np.empty(obs.shape[0])
        for lo in range(0, obs.shape[0], 256):
            o, ho = obs[lo : lo + 256], h[lo : lo + 256]
            dens = np.zeros((o.shape[0], s.shape[0]))
            for d in dims:
                z = (o[:, None, d] - s[None, :, d]) / ho[:, None, d]
                dens -= 0.5 * z**2 + np.log(ho[:, None, d])
            top = dens.max(axis=1, keepdims=True)
            ll[lo : lo + 256] = top[:, 0] + np.log(np.exp(dens - top).mean(axis=1))
        scores.append(np.log(prior) + ll)
    best = np.array([int(c) for c in ORACLE_CLASSES], dtype=np.uint8)[np.argmax(scores, axis=0)]
    calls[judged] = best
    return calls


def remeasured_cycles(sink, arrays, shape: tuple[int, ...]) -> np.ndarray:
    """Extra write-read cycles a run gave each device (int, ``shape``: the planned ``arrays``
    stacked; 0 where none), from a :class:`MemorySink` after ``characterize_die``: every
    round's cycles of a re-measured cell (a round it sat out reads NaN)."""
    cycles = np.zeros(shape, dtype=int)
    if sink.remeasured is not None:
        done, selected, data = sink.remeasured
        index = {a: i for i, a in enumerate(arrays)}
        for k, a in enumerate(done):
            read = np.isfinite(data[k].g_after_p).any(axis=1).sum(axis=0)
            cycles[index[a]] = np.where(selected[k], read, 0)
    return cycles


def reliability(conf: np.ndarray, right: np.ndarray) -> list[tuple[str, int, float]]:
    """Calls binned by stated confidence: (bin, calls, share right)."""
    edges = (0.0, 0.5, 0.8, 0.95, 0.99, 0.999, 1.0 + 1e-9)
    out = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (conf >= lo) & (conf < hi)
        n = int(sel.sum())
        out.append((f"{lo:g}-{min(hi, 1):g}", n, float(right[sel].mean()) if n else float("nan")))
    return out


def confident_error(conf: np.ndarray, right: np.ndarray, at: float = 0.95) -> tuple[int, float]:
    """Calls with confidence >= ``at`` and the share of them that were wrong."""
    sel = conf >= at
    n = int(sel.sum())
    return n, float(1 - right[sel].mean()) if n else 0.0
