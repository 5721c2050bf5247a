"""The simulator's switching and read-disturb physics follow its thermal-activation law."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.protocols.chip import CellState, Pulse
from mtj_hil.protocols.defects.detect import DefectCode
from mtj_hil.protocols.switching.procedure import (
    MemorySwitchingSink,
    SwitchingPlan,
    measure_switching_die,
)
from mtj_hil.sim import SimulatedChip, load_profile, make_die
from mtj_hil.sim.kernels import switch_probability as _switch_probability


def _plan(**kw) -> SwitchingPlan:
    base = dict(
        arrays=(0,),
        amplitudes=(0.55, 0.6, 0.65, 0.7, 0.75),
        widths=(1e-8, 1e-6),
        trials=40,
        adaptive=False,
        floor_trials=0,
        disturb_reads=0,
    )
    base.update(kw)
    return SwitchingPlan(**base)


@pytest.mark.slow
def test_switch_fraction_follows_the_law_and_short_pulses_need_more_amplitude():
    prof = load_profile("1t1r-20k").replace(switching={"write_error_floor": 0.0})
    chip = SimulatedChip.from_lot(prof, 0, 5)
    data = measure_switching_die(chip, MemorySwitchingSink(), _plan())[0]
    die = chip.die
    good = die.defect[0] == DefectCode.GOOD
    v50 = {}
    for i in range(len(data.amplitude)):
        direction = CellState(int(data.direction[i]))
        vc = (die.vc_to_p if direction == CellState.P else die.vc_to_ap)[0]
        p_true = _switch_probability(data.amplitude[i], data.width[i], vc, prof.switching)
        n = data.trials[i][good].astype(float)
        k = data.switched[i][good].astype(float)
        expected = (n * p_true[good]).sum()
        sd = np.sqrt((n * p_true[good] * (1 - p_true[good])).sum()) + 1.0
        assert abs(k.sum() - expected) < 5 * sd, (data.amplitude[i], data.width[i])
        frac = k.sum() / n.sum()
        v50.setdefault((int(direction), data.width[i]), []).append((data.amplitude[i], frac))
    for direction in (0, 1):
        short = np.interp(0.5, *zip(*[(f, a) for a, f in v50[(direction, 1e-8)]], strict=True))
        long = np.interp(0.5, *zip(*[(f, a) for a, f in v50[(direction, 1e-6)]], strict=True))
        assert short > long + 0.03  # 10 ns needs clearly more than 1 us


def test_read_disturb_counts_follow_the_law_at_read_voltage():
    prof = load_profile("1t1r-20k").replace(switching={"vc_to_ap": 0.42, "vc_to_p": 0.42})
    chip = SimulatedChip.from_lot(prof, 0, 1)
    die = chip.die
    reads = 300
    # Expected flips of P devices under `reads` one-hot map reads at 0.3 V (before any flip).
    die.state[0] = True
    vectors = np.tile(np.eye(25) * 0.3, (reads, 1))
    p_flip = die.read_disturb_probability(0, vectors)
    exposed = die.defect[0] == DefectCode.GOOD
    expected = p_flip[exposed].sum()
    assert 20 < expected < 500  # the test profile makes disturb measurable
    sink = MemorySwitchingSink()
    plan = _plan(amplitudes=(1.0,), widths=(1e-6,), trials=1, disturb_reads=reads)
    data = measure_switching_die(chip, sink, plan)[0]
    flips_from_p, flips_from_ap = data.disturb_flips.sum(axis=(1, 2))
    assert abs(flips_from_p - expected) < 5 * np.sqrt(expected) + 2
    assert flips_from_ap == 0  # positive reads push towards AP only


def test_reads_below_the_disturb_regime_change_nothing():
    die = make_die(load_profile("1t1r-20k"), 0, 2)
    before = die.state.copy()
    for _ in range(50):
        die.read(3, np.full((625, 25), 0.1))
    assert (die.state == before).all() and die.read_flips.sum() == 0


def test_read_width_zero_turns_read_disturb_off_and_old_profiles_load(tmp_path):
    text = (load_profile.__globals__["PROFILE_DIR"] / "1t1r-20k.toml").read_text()
    assert "read_width" not in text  # shipped files predate the key: it is optional
    prof = load_profile("1t1r-20k").replace(
        switching={"vc_to_ap": 0.35, "vc_to_p": 0.35}, read={"read_width": 0.0}
    )
    chip = SimulatedChip.from_lot(prof, 0, 0)
    chip.die.state[0] = True
    before = chip.die.state[0].copy()
    chip.read(0, np.full((1000, 25), 0.3))
    assert (chip.die.state[0] == before).all()


def test_breakdown_still_applies_only_above_the_limits():
    chip = SimulatedChip.from_lot("1t1r-20k", 0, 0)
    from mtj_hil.instruments.errors import SafetyViolation

    with pytest.raises(SafetyViolation):
        chip.program(0, np.ones((25, 25), bool), CellState.P, Pulse(1.3, 1e-6))
