"""The classifier's fast paths give the results of the plain forms they replace: bit for bit
where only the order of work changed (reductions column by column, a nanmedian from one
sort, the line-offset grid in place, EM fits side by side), to rounding where the EM sets
aside devices whose posterior cannot move (pinned GOOD devices)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mtj_hil.protocols import CharacterizationPlan, MemorySink, characterize_die
from mtj_hil.protocols.defects import classes, levels, offsets
from mtj_hil.protocols.defects.evidence import robust_sigma
from mtj_hil.protocols.defects.rowwise import (
    MEDIAN_BRACKET,
    distinct_at_least,
    may_tie,
    median,
    median_and_max_run,
    nanmedian,
)
from mtj_hil.sim import SimulatedChip

RNG = np.random.default_rng(20261205)


def test_nanmedian_is_numpys_bit_for_bit() -> None:
    for _ in range(50):
        x = RNG.normal(size=(6, 25, 9)) * RNG.uniform(1e-7, 1e-3)
        x[RNG.random(x.shape) < RNG.uniform(0, 0.9)] = np.nan
        x[:, :, 2] = np.nan  # slices without a value
        for axis in (0, 1, 2):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                ref = np.nanmedian(x, axis=axis)
            assert np.array_equal(nanmedian(x, axis=axis), ref, equal_nan=True)


def test_median_is_numpys_bit_for_bit() -> None:
    draws = {
        "normal": lambda n: RNG.normal(size=n),
        "coded": lambda n: np.round(RNG.normal(size=n) * 3) / 3,
        "sorted": lambda n: np.sort(RNG.normal(size=n)),
        "reversed": lambda n: np.sort(RNG.normal(size=n))[::-1].copy(),
        "heavy tail": lambda n: np.abs(RNG.standard_cauchy(size=n)),
        "half zeros": lambda n: np.concatenate([np.zeros(n // 2), RNG.normal(size=n - n // 2)]),
    }
    for draw in draws.values():
        for n in (4095, 20001, MEDIAN_BRACKET - 1, MEDIAN_BRACKET, 50001, 120000):
            v = draw(n)
            assert median(v) == np.median(v)
    # NaN and inf follow numpy's rules (NaN wins; inf counts as the largest value)
    v = RNG.normal(size=2 * MEDIAN_BRACKET)
    v[7] = np.inf
    assert median(v) == np.median(v)
    v[9] = np.nan
    assert np.isnan(median(v))


def test_tie_and_distinct_bounds_are_exact_bounds() -> None:
    smooth = RNG.normal(size=5000)
    assert not may_tie(smooth, 0.1)
    coded = np.round(smooth * 3) / 3  # a coarse converter: a few codes
    assert may_tie(coded, 0.1)
    assert median_and_max_run(coded)[1] >= 0.1 * coded.size
    signed = np.concatenate([np.zeros(300), -np.zeros(300), smooth[:4000]])  # 0.0 == -0.0
    assert may_tie(signed, 0.1)
    for v in (smooth, coded, signed):
        assert distinct_at_least(v) <= np.unique(v).size
    assert distinct_at_least(smooth) > smooth.size / 3


@pytest.mark.parametrize("coded", [False, True])
def test_robust_sigma_matches_the_sorted_form(coded: bool) -> None:
    v = RNG.normal(size=4001) * 0.03
    if coded:
        v = np.round(v / 0.02) * 0.02
    med, run = median_and_max_run(v)
    mad = float(1.4826 * np.median(np.abs(v - med)))
    if run < 0.1 * v.size:
        assert robust_sigma(v) == mad
    else:
        assert robust_sigma(v) >= mad  # the trimmed standard deviation took over
        assert robust_sigma(v) != mad


def _plain_em(x, c, k, sigma, iterations=80):
    """The EM as written before the fits ran side by side."""
    cum = np.cumsum(c) / c.sum()
    m = np.interp((np.arange(k) + 0.5) / k, cum, x)
    s = np.full(k, max(sigma, 1e-3))
    w = np.full(k, 1.0 / k)
    for _ in range(iterations):
        ll = np.log(w) - 0.5 * ((x[:, None] - m) / s) ** 2 - np.log(s)
        ll -= ll.max(axis=1, keepdims=True)
        p = np.exp(ll)
        p *= (c / p.sum(axis=1))[:, None]
        n = p.sum(axis=0) + 1e-12
        w = n / n.sum()
        m = (p * x[:, None]).sum(axis=0) / n
        s = np.sqrt((p * (x[:, None] - m) ** 2).sum(axis=0) / n)
        s = np.maximum(s, 0.2 * max(sigma, 1e-3))
    return w, m, s


def test_mixture_fits_side_by_side_are_each_fit_bit_for_bit() -> None:
    problems = []
    for _ in range(3):
        r = np.concatenate(
            [RNG.normal(0, 0.05, 6000), RNG.normal(0.12, 0.03, RNG.integers(200, 3000))]
        )
        counts, edges = np.histogram(r, bins=int(np.ptp(r) / 0.002) + 1)
        x, c = 0.5 * (edges[1:] + edges[:-1]), counts.astype(float)
        use = c > 0
        for k in (2, 3):
            problems.append((x[use], c[use], k, 0.05 * RNG.uniform(0.8, 1.2)))
    for problem, fit in zip(problems, levels._em_batch(problems), strict=True):
        for got, ref in zip(fit, _plain_em(*problem), strict=True):
            assert np.array_equal(got, ref)


def test_line_grid_is_the_plain_expression_bit_for_bit() -> None:
    g_p = np.exp(RNG.normal(np.log(2.3e-4), 0.05, (3, 25, 25)))
    g_ap = g_p / 2.2 * np.exp(RNG.normal(0, 0.01, g_p.shape))
    use = RNG.random(g_p.shape) < 0.9
    use[:, 1::2] &= False  # a half: odd rows unused
    mu, prec = offsets._distribution(g_p, g_ap, use)
    trial = np.linspace(-1e-4, 5e-5, offsets.GRID)
    ref = np.empty((3, 25, offsets.GRID))
    for arr in range(3):  # the whole grid, unused devices NaN, as before
        a = np.where(use[arr], g_p[arr], np.nan)[..., None] - trial
        b = np.where(use[arr], g_ap[arr], np.nan)[..., None] - trial
        with np.errstate(invalid="ignore", divide="ignore"):
            la, lb = np.log(a), np.log(b)
            x, y = la - mu[0], lb - mu[1]
            q = prec[0, 0] * x * x + 2 * prec[0, 1] * x * y + prec[1, 1] * y * y
            ll = -0.5 * q - la - lb
        ll = np.where(np.isfinite(ll), ll, np.where(np.isnan(a), 0.0, -1e12))
        ref[arr] = ll.sum(axis=0)
    assert np.array_equal(offsets._line_loglik(g_p, g_ap, use, mu, prec, trial), ref)


def test_pinned_devices_leave_the_classification_as_it_was(monkeypatch) -> None:
    """With no device set aside the EM is the plain one: same codes and confidences, class
    weights equal to rounding."""

    def run():
        chip = SimulatedChip.from_lot("1t1r-20k", 4243, 0)
        return characterize_die(chip, MemorySink(), CharacterizationPlan(arrays=(0, 1, 2, 3)))

    fast = run()
    pinned = []
    real_init = classes._FixedParts.__init__

    def spy(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        pinned.append(self.n_pinned)

    monkeypatch.setattr(classes._FixedParts, "__init__", spy)
    run()
    assert max(pinned) > 1000  # most switching devices are set aside
    pinned.clear()
    monkeypatch.setattr(classes, "PINNED_GAP", np.inf)
    plain = run()
    assert max(pinned) == 0
    assert np.array_equal(fast.codes, plain.codes)
    assert np.array_equal(fast.best_guess, plain.best_guess)
    assert np.allclose(fast.confidence, plain.confidence, rtol=1e-12, atol=1e-15)
    w_fast, w_plain = fast.model["class_weights"], plain.model["class_weights"]
    for name, w in w_plain.items():
        assert w_fast[name] == pytest.approx(w, rel=1e-12, abs=1e-18)


def _grid_fit(g_p, g_ap, use, mu, prec, scale):
    """The line offsets from the full ``GRID``-point search refined by a parabola (the
    estimator the coarse grid and Newton steps replaced)."""
    lo = -0.5 * scale
    hi = max(0.5 * float(np.min(np.where(use, np.minimum(g_p, g_ap), np.inf))), 0.1 * scale)
    trial = np.linspace(lo, hi, offsets.GRID)
    total = offsets._line_loglik(g_p, g_ap, use, mu, prec, trial)
    k = np.clip(total.argmax(axis=-1), 1, offsets.GRID - 2)
    y0, y1, y2 = (np.take_along_axis(total, (k + d)[..., None], -1)[..., 0] for d in (-1, 0, 1))
    step = trial[1] - trial[0]
    curv = (y0 - 2 * y1 + y2) / step**2
    u = trial[k] + np.clip(0.5 * (y0 - y2) / (y0 - 2 * y1 + y2), -1, 1) * step
    return u, 1.0 / np.sqrt(-curv)


@pytest.mark.parametrize("offset_sigma", [0.0, 3e-6])
def test_line_offsets_newton_agree_with_the_full_grid(offset_sigma: float) -> None:
    n_arr = 8
    g_p = np.exp(RNG.normal(np.log(2.3e-4), 0.05, (n_arr, 25, 25)))
    g_ap = g_p / 2.2 * np.exp(RNG.normal(0, 0.01, g_p.shape))
    line = RNG.normal(0, offset_sigma, (n_arr, 1, 25))
    g_p, g_ap = g_p + line, g_ap + line
    use = RNG.random(g_p.shape) < 0.9
    use[:, 1::2] &= False
    mu, prec = offsets._distribution(g_p, g_ap, use)
    scale = float(np.median(g_ap[use]))
    u, se = offsets._fit_lines(g_p, g_ap, use, mu, prec, scale)
    u_ref, se_ref = _grid_fit(g_p, g_ap, use, mu, prec, scale)
    assert np.all(np.isfinite(se))
    # the grid's parabola is itself off by about 0.01 se on so peaked a likelihood
    assert np.max(np.abs(u - u_ref) / se_ref) < 0.05
    assert np.max(np.abs(se / se_ref - 1)) < 0.02


def test_tail_ndtr_is_scipys_bit_for_bit() -> None:
    from scipy.special import ndtr

    from mtj_hil.protocols.defects.contrast import NDTR_ONE, NDTR_ZERO, tail_ndtr

    for scale in (1.0, 10.0, 60.0, 1e3, 1e300):
        x = RNG.normal(size=50_000) * scale
        x[:7] = [np.nan, np.inf, -np.inf, NDTR_ZERO, NDTR_ONE, -37.6, np.nextafter(NDTR_ZERO, 0)]
        assert np.array_equal(tail_ndtr(x).view(np.int64), ndtr(x).view(np.int64))
