"""Read disturb drawn at its true cost follows the same law as the dense computation.

The sparse draw (Poisson thinning, mtj_hil.sim.disturb) and the dense one (every device's
integrated rate) must give flip counts that agree with the law ``1 - exp(-sum lambda)``, at a
voltage where flips are common, over many reads; a refused read draws nothing.
"""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.instruments.errors import SafetyViolation
from mtj_hil.protocols.defects.detect import DefectCode
from mtj_hil.protocols.errors import InvalidRequest
from mtj_hil.sim import SimulatedChip, disturb, load_profile, make_die

BATCHES = 1500


def _die(vc: float = 0.42):
    prof = load_profile("1t1r-20k").replace(switching={"vc_to_ap": vc, "vc_to_p": vc})
    return make_die(prof, 0, 3)


def _flip_counts(die, vectors: np.ndarray, start_p: bool) -> np.ndarray:
    """Per-device flips over BATCHES batches, each from every device in the start state."""
    counts = np.zeros((25, 25), np.int64)
    for _ in range(BATCHES):
        die.state[0] = start_p
        die.read(0, vectors)
        counts += die.state[0] != start_p
    return counts


def _assert_follows_law(die, vectors: np.ndarray, start_p: bool) -> None:
    die.state[0] = start_p
    p = die.read_disturb_probability(0, vectors)
    counts = _flip_counts(die, vectors, start_p)
    expected = BATCHES * p
    sd = np.sqrt(BATCHES * p * (1 - p))
    total = counts.sum()
    assert expected.sum() > 500  # flips are common here: the comparison has power
    assert abs(total - expected.sum()) < 4.5 * np.sqrt((sd**2).sum())
    # Per group of devices sorted by their flip probability (the law holds device by device).
    order = np.argsort(p.ravel())
    for group in np.array_split(order, 5):
        e, s = expected.ravel()[group].sum(), np.sqrt((sd.ravel()[group] ** 2).sum())
        assert abs(counts.ravel()[group].sum() - e) < 4.5 * s + 1
    # Devices that cannot flip never do.
    assert counts[die.defect[0] != DefectCode.GOOD].sum() == 0


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_sparse_draw_follows_the_law_where_flips_are_common(monkeypatch, sign):
    die = _die()

    def dense_forbidden(*args, **kwargs):
        raise AssertionError("the dense computation ran; this test is about the sparse draw")

    monkeypatch.setattr(disturb, "integrated_rates", dense_forbidden)
    vectors = sign * np.eye(25) * 0.3  # one one-hot map at 0.3 V per batch
    _assert_follows_law(die, vectors, start_p=sign > 0)


def test_dense_draw_follows_the_same_law(monkeypatch):
    die = _die()
    monkeypatch.setattr(disturb, "SPARSE_EVENT_CAP", 0)  # always the dense computation
    calls = []
    real = disturb.integrated_rates
    monkeypatch.setattr(
        disturb, "integrated_rates", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    _assert_follows_law(die, np.eye(25) * 0.3, start_p=True)
    assert len(calls) == BATCHES


def test_mixed_levels_and_polarities_follow_the_law():
    die = _die(0.40)
    rng = np.random.default_rng(5)
    vectors = rng.choice([-0.3, -0.2, 0.0, 0.1, 0.25, 0.3], size=(40, 25))
    _assert_follows_law(die, vectors, start_p=True)
    _assert_follows_law(die, vectors, start_p=False)


def test_the_usual_read_draws_nothing_and_flips_nothing():
    die = make_die(load_profile("1t1r-20k"), 0, 2)
    before = die.state.copy()
    state_before = die.disturb_rngs[0].bit_generator.state
    die.read(0, np.full((10_000, 25), 0.1))
    assert (die.state == before).all() and die.read_flips.sum() == 0
    after = die.disturb_rngs[0].bit_generator.state
    # One Poisson draw of the candidate count (it came out 0), nothing per device.
    assert after != state_before
    rng = np.random.default_rng()
    rng.bit_generator.state = state_before
    rng.poisson(1e-6)
    assert rng.bit_generator.state == after


@pytest.mark.parametrize("bad", [np.nan, 0.31, -0.31, np.inf])
def test_a_refused_read_draws_no_random_number(bad):
    chip = SimulatedChip.from_lot("1t1r-20k", 0, 4)
    twin = SimulatedChip.from_lot("1t1r-20k", 0, 4)
    v = np.full((3000, 25), 0.1)
    wrong = v.copy()
    wrong[2500, 7] = bad
    with pytest.raises((InvalidRequest, SafetyViolation)):
        chip.read(0, wrong)
    assert chip.read_calls == 0
    np.testing.assert_array_equal(chip.read(0, v), twin.read(0, v))


def test_a_read_far_above_the_critical_voltage_flips_every_good_device_without_overflow():
    """A die whose critical voltages sit near its read voltages (Vc 0.3 V, 30 % spread, the
    smallest floored at 5 % of the median) raised OverflowError from exp() in the read
    disturb law (exponent below -709): a read far above Vc flips a GOOD device for certain."""
    prof = load_profile("1t1r-20k").replace(
        switching={"vc_to_ap": 0.3, "vc_to_p": 0.3, "vc_sigma": 0.3}
    )
    die = make_die(prof, 0, 3)
    die.vc_to_ap[0][0, 0] = 0.01  # the bias read's 0.3 V is 30 x its Vc
    die._vc_min[0] = (float(die.vc_to_ap[0].min()), float(die.vc_to_p[0].min()))
    die.state[0] = True
    good = die.defect[0] == DefectCode.GOOD
    v = np.zeros((1, 25))
    v[0, 0] = 0.3  # line 0 at the bias read voltage
    die.read(0, v)
    assert good[0, 0] and not die.state[0][0, 0]  # flipped to AP, no exception
    rates = disturb.term_rate(40.0, 100.0, np.array([0.3]), np.array([0.01]))
    assert np.isfinite(rates).all() and rates[0] > 1e20
