"""Random flaw sections inside the schema's ranges: the detector classifies or refuses by
name, never crashes, and a die without a single junction is refused, not called GOOD."""

from __future__ import annotations

import pytest

import mtj_hil.testing.flaw_fuzz as flaw_fuzz
from mtj_hil.testing.flaw_fuzz import fuzz_flaws, random_flaws


def test_random_flaw_dies_are_classified_or_refused_by_name():
    outcomes = list(fuzz_flaws(range(200, 212), arrays=2))
    crashes = [(o.seed, o.changes, o.message) for o in outcomes if o.verdict == "crash"]
    assert not crashes
    assert {o.verdict for o in outcomes} >= {"classified"}
    for o in outcomes:
        if o.verdict in ("refused", "profile refused"):
            assert o.message  # a refusal says why


def test_dead_arrays_among_defect_clusters_are_refused_not_called_good():
    # Found by this fuzz: every measured array dead or covered by defect clusters, the opens'
    # readings noise about no current. Their P/AP ratios once passed for switching, and the
    # opens were called GOOD with confidence 1.
    (out,) = fuzz_flaws(range(11, 12))
    assert "dead_array_rate" in out.changes["spatial"]
    assert out.verdict == "refused" and "switched cleanly" in out.message


def test_a_crash_is_reported_as_one(monkeypatch: pytest.MonkeyPatch):
    def broken(*args, **kwargs):
        raise IndexError("index 25 is out of bounds")

    monkeypatch.setattr(flaw_fuzz, "characterize_die", broken)
    (out,) = fuzz_flaws(range(5, 6), arrays=1)
    assert out.verdict == "crash" and "IndexError" in out.message


def test_drawn_values_stay_inside_the_schema():
    import numpy as np

    from mtj_hil.sim.profile_sections import OPTIONAL_FLAWS

    rng = np.random.default_rng(0)
    for _ in range(200):
        for name, section in random_flaws(rng).items():
            ranges = OPTIONAL_FLAWS[name].RANGES
            for key, value in section.items():
                low, high, _ = ranges[key]
                if isinstance(low, str):
                    assert value in (low, high)
                else:
                    assert low <= value <= high
