"""Decision reads through InstrumentChip on the virtual lab: the noise model the decision
rule relies on, checked where misreads are common enough to count."""

from __future__ import annotations

import numpy as np
from scipy import stats

from mtj_hil.protocols import CellState
from mtj_hil.protocols.sequence import ReadMap, ReadStates, WriteAll, run_sequence
from mtj_hil.protocols.switching.decision import read_noise


def test_the_noise_model_predicts_the_misreads_the_board_makes(lab_chip):
    """At an integration and a threshold where misreads are common, the number of misread
    cells over many decision reads matches the Gaussian prediction from the measured noise
    and margins: what the rule extrapolates to 1e-6 holds where it can be counted."""
    v, t = 0.1, 2e-5
    res = run_sequence(lab_chip, 6, [WriteAll(CellState.P), ReadMap(v, 8)])
    use = ~res[0].residual
    g = res[1].mean(axis=0)
    thr = float(np.median(g[use]) * 0.975)  # most cells 1-3 noise sigmas above it
    noisy = run_sequence(lab_chip, 6, [ReadMap(v, 8, integration=t)])[0] * v
    sigma, _ = read_noise(noisy, use)  # per output line
    reads = 60
    states = run_sequence(lab_chip, 6, [ReadStates(v, thr, integration=t)] * reads)
    low = np.sum([~s for s in states], axis=0)  # P cells read as AP
    z = (g - thr) * v / sigma
    use &= (z > 1.0) & (z < 3.5)  # where the count is sensitive to the noise: 0.02 % .. 16 %
    p = stats.norm.sf((g - thr) * v / sigma)[use]
    expected, sd = reads * p.sum(), np.sqrt(reads * (p * (1 - p)).sum())
    print(f"misread cells: {low[use].sum()} observed, {expected:.0f} expected (sd {sd:.0f})")
    assert expected > 200 and use.sum() > 150  # common enough to count
    # the margins come from 8 precision reads: their own noise widens the check a little
    assert abs(low[use].sum() - expected) < 5 * sd + 0.05 * expected
