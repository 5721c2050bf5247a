"""State reads as decisions: the shortest converter integration that keeps the probability of
misreading a cell's state below a stated bound, from this die's measured contrast and noise.

A switching trial only has to tell P from AP. A cell read at voltage ``v`` carries the current
``I`` of its state; the read calls it P when ``I`` is above the threshold current
``I_thr = G_thr v``. Its *margin* is ``m = |I - I_thr|`` in the state it is in. With Gaussian
read noise of standard deviation ``sigma(t)`` at integration time ``t`` (white noise falls as
``1 / sqrt(t)``; an integration shorter than a mains cycle keeps part of the mains pick-up), a
read misreads the cell with probability ``Phi(-m / sigma(t))``.

The rule (:func:`choose_integration`):

1. margins: every cell that verified in both states gets its margin in P and in AP from
   precision maps of this die (one map per state), less ``margin_sigmas`` standard
   deviations of the precision read's own noise (the margins are measured, not known);
2. noise: at each candidate integration, pairs of reads of the same cells in the same state;
   per output line (each line has its own converter and pick-up), the standard deviation of
   the differences over ``sqrt(2)`` estimates ``sigma(t)``, raised to its one-sided 99.9 %
   upper confidence limit for that many differences (chi-square);
3. the shortest candidate whose worst cell misreads with probability at most ``bound``
   (``max Phi(-m / sigma_upper(t) of its line) <= bound``) is used;
4. if none does, the candidate that reads the most cells within the bound (the shortest
   of equals) is used when the cells it cannot read are at most ``allowed`` (the plan's
   ``decision_exclude`` share of the array's cells): those cells are left out, count as
   not measurable in every trial (like devices that do not verify) and are named in the
   rule (``left_out``, with ``why``: ``no margin`` (a negative margin: across the threshold
   or within the allowance of step 1), ``precision misread`` (even a precision read
   misreads it more often than ``bound``), ``decision misread`` (a precision read would
   tell it, no candidate does)). They are the cells no candidate serves (``unserved``)
   and, rarely, a cell only another candidate serves (a line's noise need not fall with
   the integration: its mains pick-up does not);
5. otherwise, with ``precision_margin`` > 0, a candidate that holds the cells to the
   standard precision reads are held to (step 6): every cell it keeps lies at least
   ``precision_margin`` standard deviations of its own noise from the threshold, and it
   leaves out at most ``allowed`` cells more than a precision read would. Of those, the
   one leaving out the fewest cells (the shortest of those within ``EQUAL_SHARE`` of the
   rule's cells of it) is used with
   ``standard`` ``"precision margin"``: each kept cell misreads at most as often as step 6
   lets a precision read misread it (``misread`` tells what the worst kept cell sees, above
   ``bound``). It serves dies whose read noise barely falls with the integration (the
   devices' own 1/f and telegraph noise, not the converter's), where a precision read
   reads the cells hardly better at many times the cost;
6. otherwise (and with ``precision_margin`` 0) trials keep the precision reads
   (``integration`` ``None``) for the whole array, and cells whose margin is below
   ``precision_margin`` standard deviations of one precision read are left out (``why``:
   ``no margin``, ``precision margin``): a precision read misreads them often enough to
   bias their switching probabilities (0: none).

Up to step 3 the rule is what it always was: an array whose every cell one candidate serves
gets the same integration and the same record (``left_out`` empty).

Noise that is not Gaussian but bounded (the mains pick-up's arcsine distribution) has lighter
tails than the Gaussian of the same spread, so the bound is conservative for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

DEFAULT_BOUND = 1e-6
"""Misread probability per cell and read that a decision read may have."""
MAX_DECISION_BOUND = 0.5
"""Misread bounds lie below this (a read wrong half the time decides nothing)."""
DEFAULT_EXCLUDE = 0.10
"""Largest share of an array's cells a decision rule may leave out (``allowed``)."""
PRECISION_MARGIN = 2.0
"""Cells of an array that keeps precision reads are left out below this margin (standard
deviations of one precision read)."""
MAX_PRECISION_MARGIN = 10.0
"""Largest ``precision_margin`` a plan may ask for (sigma)."""
CANDIDATES = (1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3)
"""Integration times (s) tried, shortest first (firmware 1.3 allows 1e-5 .. 0.1 s)."""
MARGIN_SIGMAS = 3.0
"""Measured margins are lowered by this many standard deviations of the precision read."""
CONFIDENCE = 0.999
EQUAL_SHARE = 0.01
"""Step 5: candidates leaving out at most this share of the rule's cells more than the one
leaving out fewest count as equals, and the shortest of them is used (the counts differ by
a few cells from one candidate to the next through the noise estimates alone)."""
"""Confidence of the upper limit on the read noise."""


@dataclass(frozen=True)
class DecisionRule:
    """What :func:`choose_integration` decided.

    Attributes:
        integration: integration time (s) of decision reads; ``None``: precision reads.
        sigma: upper limit of the read noise at that integration (A; the noisiest line).
        worst_margin: smallest margin of the cells (A), after the precision-noise allowance.
        misread: the worst cell's misread probability per read at that integration.
        bound: the bound asked for.
        cells: cells the margins came from (each counted in both states).
        measured: read-noise estimates (A; the noisiest line) at each integration tried.
        left_out: ``(row, col)`` of the cells left out of the rule and of the trials' valid
            outcomes (steps 4 and 5 of the module docstring); empty when none was.
        why: how many of ``left_out`` for each reason (``no margin``, ``precision
            misread``, ``decision misread``; ``precision margin`` with precision reads).
        unserved: cells no candidate integration reads within the bound (left out or, when
            more than ``allowed``, the reason for precision reads).
        allowed: most cells the rule may leave out (the plan's share of the array's cells).
        thresholds: what the cells were judged against: ``"die"`` (the die's one
            threshold) or ``"per device"`` (each device's own midpoint; a board with
            threshold maps).
        standard: what the kept cells of decisions were held to: ``"bound"`` (a misread
            probability of at most ``bound``) or ``"precision margin"`` (at least
            ``precision_margin`` sigma of the decision read's noise, as precision reads
            are: step 5 of the module docstring).
    """

    integration: float | None
    sigma: float
    worst_margin: float
    misread: float
    bound: float
    cells: int
    measured: dict[float, float] = field(default_factory=dict)
    left_out: tuple[tuple[int, int], ...] = ()
    why: dict[str, int] = field(default_factory=dict)
    unserved: int = 0
    allowed: int = 0
    thresholds: str = "die"
    standard: str = "bound"


def misread_probability(margins: np.ndarray, sigma: np.ndarray | float) -> float:
    """Largest per-cell probability of a read on the wrong side: ``max Phi(-m / sigma)``;
    ``margins`` (A) of shape ``(..., cols)`` (NaN: not a cell of the rule), ``sigma`` (A)
    per output line ``(cols,)`` or one value."""
    m = np.asarray(margins, float)
    s = np.broadcast_to(np.asarray(sigma, float), m.shape)
    ok = np.isfinite(m)
    if not ok.any():
        return 0.0
    m, s = m[ok], s[ok]
    if not np.all(s > 0):
        return 0.0 if m.min() > 0 else 1.0
    return float(stats.norm.sf((m / s).min()))


def noise_upper(sigma_hat, n, confidence: float = CONFIDENCE):  # noqa: ANN001, ANN201
    """One-sided upper confidence limit of a Gaussian standard deviation estimated from
    ``n`` samples: ``sigma_hat * sqrt((n - 1) / chi2.ppf(1 - confidence, n - 1))``, element
    by element (``n`` one count or one per line); infinite where ``n < 2`` (unknown)."""
    n = np.asarray(n)
    dof = np.maximum(n - 1, 1)
    factor = np.sqrt(dof / stats.chi2.ppf(1 - confidence, dof))
    return np.where(n >= 2, np.asarray(sigma_hat, float) * factor, np.inf)


def read_noise(reads: np.ndarray, use: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Read noise (A, 1 sigma) per output line from ``2k`` reads (A, ``(2k, rows, cols)``) of
    the same cells in the same state, over the cells ``use``: the standard deviation of the
    differences of consecutive pairs over ``sqrt(2)``; and the differences each line's
    estimate came from (a line with none, an open or shorted output line, has no estimate:
    its noise is unknown, not that of the other lines)."""
    r = np.asarray(reads, float)
    d = r[0::2][: len(r) // 2] - r[1::2][: len(r) // 2]  # (k, rows, cols)
    d = np.where(use[None] & np.isfinite(d), d, np.nan)
    n = np.isfinite(d).sum(axis=(0, 1))
    sigma = np.sqrt(np.nansum(d * d, axis=(0, 1)) / np.maximum(n, 1) / 2.0)  # zero-mean pairs
    return sigma, n


def margins(
    g_p: np.ndarray,
    g_ap: np.ndarray,
    use: np.ndarray,
    threshold: float,
    volts: float,
    precision_sigma: np.ndarray | float,
    margin_sigmas: float = MARGIN_SIGMAS,
) -> np.ndarray:
    """Margins (A, ``(2, rows, cols)``, NaN outside ``use``) of the cells in P and in AP
    from precision maps (S) read at ``volts``: ``(G_P - G_thr) v`` and ``(G_thr - G_AP) v``,
    each less ``margin_sigmas`` times the precision read's noise (A, per line). A cell on the
    wrong side gets a negative margin."""
    m_p = (np.asarray(g_p, float) - threshold) * volts
    m_ap = (threshold - np.asarray(g_ap, float)) * volts
    both = np.stack([m_p, m_ap]) - margin_sigmas * np.asarray(precision_sigma, float)
    return np.where(use[None], both, np.nan)


def misread_cells(margins: np.ndarray, sigma: np.ndarray | float, bound: float) -> np.ndarray:
    """Cells (``(rows, cols)`` bool) a read misreads in either state with probability above
    ``bound``: ``Phi(-m / sigma) > bound``; ``margins`` (A) of shape ``(2, rows, cols)``
    (NaN: not a cell of the rule, never counted), ``sigma`` (A) per output line or one value.
    """
    m = np.asarray(margins, float)
    s = np.broadcast_to(np.asarray(sigma, float), m.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(s > 0, m / s, np.where(m > 0, np.inf, -np.inf))
    bad = np.isfinite(m) & (stats.norm.sf(z) > bound)
    return bad.any(axis=0)


def choose_integration(
    cell_margins: np.ndarray,
    noise_at: Callable[[float], tuple[np.ndarray, int]],
    candidates: Iterable[float] = CANDIDATES,
    bound: float = DEFAULT_BOUND,
    *,
    allowed: int = 0,
    precision_sigma: np.ndarray | float | None = None,
    precision_margin: float = 0.0,
) -> DecisionRule:
    """The shortest candidate integration (s) whose worst cell misreads with probability at
    most ``bound`` per read; ``noise_at(t)`` measures ``(sigma_hat per line, n)`` at ``t``
    (``n``: differences, one count or one per line; called for the candidates in ascending
    order until one passes). When none passes, at
    most ``allowed`` cells are left out (step 4 of the module docstring), else with
    ``precision_margin`` > 0 a candidate holding its cells to that many sigma decides
    (step 5) or precision reads leave out the cells below that many sigma of their own
    noise (step 6); ``cell_margins`` (A) ``(2, rows, cols)``; ``precision_sigma`` (A, per
    line: the upper limit of one precision read's noise) tells the reasons apart and serves
    steps 5 and 6.

    Raises:
        ValueError: ``bound`` outside (0, MAX_DECISION_BOUND), or ``allowed`` or ``precision_margin``
            negative.
    """
    if not 0 < bound < MAX_DECISION_BOUND:
        raise ValueError(f"the misread bound must be in (0, {MAX_DECISION_BOUND:g}), got {bound}")
    if allowed < 0 or precision_margin < 0:
        raise ValueError(
            f"allowed cells and precision margin must be >= 0, got {allowed}, {precision_margin}"
        )
    m = np.asarray(cell_margins, float)
    finite = m[np.isfinite(m)]
    worst = float(finite.min()) if finite.size else float("inf")
    cells = int(np.isfinite(m).sum() // 2)
    measured: dict[float, float] = {}
    failed: list[tuple[float, np.ndarray, np.ndarray]] = []
    for t in sorted(candidates):
        sigma_hat, n = noise_at(t)
        measured[t] = float(np.max(sigma_hat))
        sigma = noise_upper(sigma_hat, n)
        p = misread_probability(m, sigma)
        if p <= bound:
            return DecisionRule(t, _noisiest(sigma), worst, p, bound, cells, measured)
        if m.ndim == 3:
            failed.append((t, sigma, misread_cells(m, sigma, bound)))
    unserved = np.logical_and.reduce([f for _, _, f in failed]) if failed else None
    n_unserved = 0 if unserved is None else int(unserved.sum())
    common = {"bound": bound, "cells": cells, "measured": measured}
    common.update(unserved=n_unserved, allowed=allowed)
    if failed:
        # the candidate reading the most cells within the bound (the shortest of equals)
        t, sigma, fail = min(failed, key=lambda x: (int(x[2].sum()), x[0]))
        if fail.sum() <= allowed:
            why = _reasons(m, fail, precision_sigma, bound)
            return _leaving_out(m, t, sigma, fail, why=why, **common)
    left = np.zeros(m.shape[1:], bool) if m.ndim == 3 else None
    why: dict[str, int] = {}
    if left is not None and precision_sigma is not None and precision_margin > 0:
        cut = float(stats.norm.sf(precision_margin))
        left = misread_cells(m, precision_sigma, cut)
        options = []  # step 5
        for t, sigma, _ in failed:
            fail = misread_cells(m, sigma, cut)
            if (fail & ~left).sum() <= allowed and (np.isfinite(m) & ~fail).any():
                options.append((t, sigma, fail))
        if options:
            fewest = min(int(f.sum()) for _, _, f in options)
            t, sigma, fail = next(o for o in options if o[2].sum() <= fewest + EQUAL_SHARE * cells)
            why = _margin_reasons(m, fail)
            return _leaving_out(m, t, sigma, fail, why=why, standard="precision margin", **common)
        why = _margin_reasons(m, left)
    return DecisionRule(
        None,
        float("nan"),
        worst,
        float("nan"),
        left_out=() if left is None else _cells(left),
        why=why,
        **common,
    )


def _leaving_out(
    m: np.ndarray, t: float, sigma: np.ndarray, fail: np.ndarray, **rest: object
) -> DecisionRule:
    """Decisions at ``t`` (s) with read noise ``sigma`` (A, per line) for the cells of the
    margins ``m`` (A) but ``fail``, which are left out; ``rest``: the other fields."""
    kept = np.where(fail[None], np.nan, m)
    finite = kept[np.isfinite(kept)]
    return DecisionRule(
        t,
        _noisiest(sigma),
        float(finite.min()) if finite.size else float("inf"),
        misread_probability(kept, sigma),
        left_out=_cells(fail),
        **rest,  # type: ignore[arg-type]
    )


def _noisiest(sigma: np.ndarray) -> float:
    """The largest read-noise limit (A) of the lines that have one (inf: none has)."""
    known = np.asarray(sigma, float)[np.isfinite(sigma)]
    return float(known.max()) if known.size else float("inf")


def _margin_reasons(m: np.ndarray, cells: np.ndarray) -> dict[str, int]:
    """Why each of ``cells`` (left out under a precision margin) is, counted: ``no
    margin`` (a negative margin), ``precision margin`` (the others)."""
    no_margin = cells & (m < 0).any(axis=0)
    why = {
        "no margin": int(no_margin.sum()),
        "precision margin": int((cells & ~no_margin).sum()),
    }
    return {k: v for k, v in why.items() if v}


def _cells(mask: np.ndarray) -> tuple[tuple[int, int], ...]:
    """``(row, col)`` of the cells set in ``mask``, in row order."""
    return tuple((int(r), int(c)) for r, c in np.argwhere(mask))


def _reasons(
    m: np.ndarray, cells: np.ndarray, precision_sigma: np.ndarray | float | None, bound: float
) -> dict[str, int]:
    """Why each of ``cells`` is left out, counted: ``no margin`` (a negative margin),
    ``precision misread`` (a precision read of noise ``precision_sigma`` misreads it more
    often than ``bound``), ``decision misread`` (the others)."""
    wrong = cells & (m < 0).any(axis=0)  # across the threshold or within the allowance
    if precision_sigma is None:
        prec = np.zeros_like(cells)
    else:
        prec = cells & ~wrong & misread_cells(m, precision_sigma, bound)
    out = {
        "no margin": int(wrong.sum()),
        "precision misread": int(prec.sum()),
        "decision misread": int((cells & ~wrong & ~prec).sum()),
    }
    return {k: v for k, v in out.items() if v}
