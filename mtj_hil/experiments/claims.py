"""Per-die claims pooled over seeds: "method within 1 pt of software on this die", with the
paired interval over every test sample the die saw and the power of the claim.

With ``BordersConfig.folds`` (mnist5k) seed ``s`` tests on cross-validation fold ``s % 5``,
so seeds 0..4 test on disjoint images and a die's samples pool to up to 5,000; with random
splits the test sets of different seeds overlap and the pooled interval is optimistic
(stated in the table's note).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mtj_hil.experiments.borders import BordersResult
from mtj_hil.experiments.stats import Interval, paired_from_counts, within_margin_power

MARGIN = 0.01
"""The margin of the claims (1 percentage point, as a fraction)."""

CLAIMS_HEADER = [
    "method",
    "mean - software (pt) over die-seeds",
    "die-seeds within 1 pt",
    "dies whose pooled difference is within 1 pt",
    "dies within 1 pt (pooled, 95 %)",
    "dies > 1 pt worse (pooled, 95 %)",
    "median power of 'within 1 pt' at the measured difference",
    "power if the true difference were 0",
]


def pooled(results: Sequence[BordersResult], method: str) -> tuple[list[Interval], list[float]]:
    """Per die (in die order): the paired interval of ``method - software`` over the test
    samples of every seed, and the discordant rate; pooled sample count is
    ``len(results) * n_test``.

    Raises:
        ValueError: the results cover different dies, or lack discordant counts.
    """
    n_dies = {len(r.dies) for r in results}
    if len(n_dies) != 1:
        raise ValueError("the seeds' results cover different numbers of dies")
    out, rates = [], []
    for k in range(n_dies.pop()):
        n = sum(r.n_test for r in results)
        counts = [r.dies[k].discordant.get(method) for r in results]
        if any(c is None for c in counts):
            raise ValueError(f"no discordant counts for {method} on die {k}")
        n10 = sum(c[0] for c in counts)  # type: ignore[index]
        n01 = sum(c[1] for c in counts)  # type: ignore[index]
        out.append(paired_from_counts(n10, n01, n))
        rates.append((n10 + n01) / n)
    return out, rates


def disjoint_folds(results: Sequence[BordersResult]) -> bool:
    """True when every seed tested on its own cross-validation fold."""
    c = [r.config for r in results]
    folds = [x.seed % 5 for x in c]
    return all(x.folds and x.dataset == "mnist5k" for x in c) and len(set(folds)) == len(folds)


def claims_rows(results: Sequence[BordersResult]) -> list[list[str]]:
    """One row per method (see :data:`CLAIMS_HEADER`; percent and counts)."""
    rows = []
    for m in results[0].methods()[1:]:
        diffs = np.concatenate([r.errors(m) - r.software_wrong / r.n_test for r in results])
        ivs, rates = pooled(results, m)
        n = sum(r.n_test for r in results)
        power = [
            within_margin_power(n, q, iv.value, MARGIN) for iv, q in zip(ivs, rates, strict=True)
        ]
        rows.append(
            [
                m,
                f"{100 * np.mean(diffs):+.2f}",
                f"{int(np.sum(diffs <= MARGIN + 1e-12))}/{diffs.size}",
                f"{sum(iv.value <= MARGIN + 1e-12 for iv in ivs)}/{len(ivs)}",
                f"{sum(iv.high < MARGIN for iv in ivs)}/{len(ivs)}",
                str(sum(iv.low > MARGIN for iv in ivs)),
                f"{100 * np.median(power):.0f} %",
                f"{100 * within_margin_power(n, float(np.median(rates)), 0.0, MARGIN):.0f} %",
            ]
        )
    return rows


def claims_note(results: Sequence[BordersResult]) -> str:
    """How the pooled claims were made, and a warning below three seeds."""
    n = sum(r.n_test for r in results)
    text = (
        f"Per die, every seed's test samples pooled: {n} paired samples per die "
        f"({'disjoint cross-validation folds' if disjoint_folds(results) else 'overlapping random splits: the pooled interval is optimistic'}). "
        "'within 1 pt (pooled, 95 %)' counts dies whose paired interval lies below +1 pt; the "
        "power is the probability that the interval lies below +1 pt at the measured (or a "
        "zero) difference, given the die's discordant rate."
    )
    if len(results) < 3:
        text += f" Only {len(results)} seed(s): the issue's summary asks for at least 3."
    return text
