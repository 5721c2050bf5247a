"""Optional flaw sections of a profile: absent = the dies of before, bit for bit; present =
the flaw, with its parameters validated (named, exit 3 from the command line)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from mtj_hil.cli.main import main
from mtj_hil.errors import ConfigError
from mtj_hil.protocols.chip import CellState
from mtj_hil.protocols.defects.codes import DefectCode
from mtj_hil.sim import SimulatedChip, load_profile
from mtj_hil.sim.die import make_die
from mtj_hil.sim.profile import PROFILE_DIR, as_dict, profile_from_dict

# Digests of dies drawn, pulsed and read before the optional flaw sections existed (commit
# e6ce6ca). The three profiles that gained a [bias] section since are compared without it.
BEFORE = {
    "1t1r-20k": "9e86ad532864bfb68de9cd7ff7af139a00fa4858690590cde71c031006a608c2",
    "1t1r-early-process": "f56b14ba6075345a77f79240b62d7df2dc39b008bcfb185247da752521277289",
    "1t1r-low-tmr": "b2a57eb4f42bdbdf3f17340b2638d5d4ff8bc273492373b10a5f94bef4c039d7",
    "1t1r-weak-shorts": "3ce7dfa164325cce12f739cc9b90f7008c6a82b873bd051cd9106cb42edee4cf",
    "1t1r-wide-spread": "944143cece23d913c1711ad2b23330b495cb53bef502d7b932dff9119f945a8a",
    "passive-15x15": "7d8dacf3aada969404fd8ff99fb5428b48e382fc024998886c8d12757f1e0df0",
}
GAINED_BIAS = ("1t1r-20k", "1t1r-weak-shorts", "1t1r-wide-spread")
MODIFIED = "d004282c69294d81298c9c1ad58bb6be5653ec1431936563741559e31d31ee0b"


def _digest(prof, lot: int = 5, k: int = 3) -> str:
    die = make_die(prof, lot, k)
    h = hashlib.sha256()
    for name in (
        "r_p",
        "r_ap",
        "vc_to_p",
        "vc_to_ap",
        "delta",
        "v_breakdown",
        "short_g",
        "defect",
        "state",
        "sense_offset",
    ):
        h.update(np.ascontiguousarray(getattr(die, name)).tobytes())
    if die.k_p is not None:
        h.update(die.k_p.tobytes())
        h.update(die.k_ap.tobytes())
    v = np.eye(die.shape[1]) * 0.1
    for a in (0, die.shape[0] - 1):
        h.update(die.read(a, v).tobytes())
        mask = np.ones(die.shape[1:], bool)
        die.apply_pulse(a, mask, CellState.P, 1.0, 1e-6)
        h.update(die.read(a, np.tile(v, (200, 1))).tobytes())
        die.apply_pulse(a, mask, CellState.AP, 1.1, 1e-6)
        h.update(die.read(a, v * 3).tobytes())
        h.update(die.state.tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_profiles_without_the_new_sections_draw_the_dies_of_before(name, monkeypatch):
    # A large read at one voltage magnitude now folds the bias term into one product, which
    # rounds differently (a few ulp); the digests are of the two-product arithmetic of then.
    from mtj_hil.sim import kernels

    monkeypatch.setattr(kernels, "_one_magnitude", lambda *args: None)
    prof = load_profile(name)
    if name in GAINED_BIAS:
        prof = prof.replace(bias=None)
    assert _digest(prof) == BEFORE[name]


def test_a_modified_profile_without_the_new_sections_is_unchanged_too():
    prof = load_profile("1t1r-20k").replace(
        bias=None, switching={"delta_sigma": 0.1}, read={"offset_sigma": 1e-6, "adc_bits": 12}
    )
    assert _digest(prof) == MODIFIED
    # and the digest notices a change (the check can fail)
    assert _digest(prof.replace(pinholes={"fraction": 0.01})) != MODIFIED


BAD = [
    ({"spatial": {"scratches": 1}}, "spatial.scratches is not a key of \\[spatial\\]"),
    ({"spatial": {"scratch_class": "STUCK"}}, "spatial.scratch_class"),
    ({"spatial": {"edge_factor": 0.5}}, "spatial.edge_factor"),
    ({"drift": {"tc_r_ap": 0.5}}, "drift.tc_r_ap"),
    ({"telegraph": {"fraction": 1.5}}, "telegraph.fraction"),
    ({"resistive_opens": {"g_low": 1e-4, "g_high": 1e-5}}, "resistive_opens.g_high"),
    ({"pinholes": {"g_sigma": -1}}, "pinholes.g_sigma"),
    ({"populations": {"fractions": [0.6, 0.6], "r_scale": [1, 2]}}, "populations.fractions"),
    ({"populations": {"fractions": [0.5, 0.5], "r_scale": [1]}}, "populations.r_scale"),
    ({"partial_switching": {"level_low": 0.8, "level_high": 0.2}}, "level_high"),
    ({"clock": {"read_vector_time": -1}}, "clock.read_vector_time"),
]


@pytest.mark.parametrize(("changes", "message"), BAD)
def test_bad_sections_are_named(changes, message):
    with pytest.raises(ConfigError, match=message):
        load_profile("1t1r-20k").replace(**changes)


def test_bad_section_in_a_profile_file_exits_3_naming_it(tmp_path, capsys):
    shipped = PROFILE_DIR / "1t1r-20k.toml"
    path = tmp_path / "bad.toml"
    path.write_text(shipped.read_text() + "\n[telegraph]\nfraction = 0.1\nspeed = 3\n")
    out = tmp_path / "run.h5"
    assert main(["characterize", "--profile", str(path), "--out", str(out), "--no-report"]) == 3
    err = " ".join(capsys.readouterr().err.split())
    assert "telegraph.speed" in err and "Traceback" not in err
    assert not out.exists()


def test_drift_and_telegraph_are_refused_on_passive_arrays():
    data = as_dict(load_profile("passive-15x15"))
    with pytest.raises(ConfigError, match=r"\[drift\].*1T1R"):
        profile_from_dict({**data, "drift": {"ramp": 0.1}})


def test_spatial_structure_hits_lines_arrays_and_clusters():
    base = load_profile("1t1r-20k").replace(defects={"die_spread": 0.0})
    dead = make_die(base.replace(spatial={"dead_array_rate": 3.0}), 1, 0)
    whole = (dead.defect == DefectCode.OPEN).all(axis=(1, 2))
    assert whole.sum() >= 1 and dead.spatial_hit[whole].all()
    scratch = make_die(base.replace(spatial={"scratch_rate": 3.0, "scratch_length": 80}), 1, 0)
    hit = scratch.spatial_hit
    assert hit.sum() > 40 and (scratch.defect[hit] == DefectCode.SHORT).all()
    # a scratch runs across array borders: more than one array is hit
    assert (hit.sum(axis=(1, 2)) > 0).sum() >= 2
    clusters = make_die(base.replace(spatial={"cluster_rate": 20, "cluster_size_median": 10}), 1, 0)
    assert clusters.spatial_hit.sum() > 100
    ring = make_die(base.replace(spatial={"edge_width": 3, "edge_factor": 30}), 1, 0)
    plain = make_die(base, 1, 0)
    assert (ring.defect != 0).sum() > 3 * (plain.defect != 0).sum()


def test_resistive_opens_and_pinholes_have_their_conductance_laws():
    prof = load_profile("1t1r-20k").replace(
        defects={"open_rate": 0.02},
        resistive_opens={"fraction": 1.0, "g_low": 1e-9, "g_high": 1.5e-4},
        pinholes={"fraction": 0.1, "g_median": 5e-5, "g_sigma": 0.5},
    )
    die = make_die(prof, 2, 0)
    g = die.open_g[die.resistive_open]
    assert g.size > 200 and g.min() >= 1e-9 and g.max() <= 1.5e-4
    # log-uniform: the median sits at the geometric mean of the range
    assert np.median(np.log(g)) == pytest.approx(0.5 * np.log(1e-9 * 1.5e-4), abs=0.5)
    chip = SimulatedChip(die)
    hot = die.conductance_at(0, 0.3)
    cold = die.conductance_at(0, 0.0)
    ro = die.resistive_open[0]
    np.testing.assert_allclose(hot[ro], cold[ro])  # ohmic
    leaky = (die.leak_g[0] > 0) & (die.defect[0] == 0)
    tmr_leak = die.r_ap[0][leaky] / die.r_p[0][leaky]
    die.state[0][:] = True
    g_p = die.conductance(0)[leaky]
    die.state[0][:] = False
    die._g_eff.clear()
    g_ap = die.conductance(0)[leaky]
    assert np.all(g_p / g_ap < tmr_leak)  # the leak shrinks the contrast
    assert chip.layout.n_arrays == prof.geometry.n_arrays


def test_populations_make_a_bimodal_or_skewed_resistance():
    base = load_profile("1t1r-20k")
    two = make_die(base.replace(populations={"fractions": [0.7, 0.3], "r_scale": [1.0, 1.6]}), 3, 0)
    small = two.population == 1
    assert small.mean() == pytest.approx(0.3, abs=0.02)
    ratio = np.median(two.r_p[small]) / np.median(two.r_p[~small])
    assert ratio == pytest.approx(1.6, rel=0.02)
    skew = make_die(base.replace(populations={"skew": 5.0}), 3, 0)
    z = np.log(skew.r_p).ravel()
    z = (z - z.mean()) / z.std()
    assert np.mean(z**3) > 0.5  # skewness of a skew-normal with shape 5 is about 0.85
    assert np.std(np.log(skew.r_p)) == pytest.approx(0.05, rel=0.1)


def test_partial_switching_leaves_devices_in_between():
    prof = load_profile("1t1r-20k").replace(partial_switching={"fraction": 0.2, "probability": 0.5})
    die = make_die(prof, 4, 0)
    mask = np.ones(die.shape[1:], bool)
    seen = 0
    for _ in range(6):
        die.apply_pulse(0, mask, CellState.P, 1.0, 1e-6)
        die.apply_pulse(0, mask, CellState.AP, 1.0, 1e-6)
        seen += int(np.isfinite(die.partial_level[0]).sum())
    assert seen > 20
    mid = np.isfinite(die.partial_level[0])
    g = die.conductance(0)[mid]
    assert np.all(g > 1 / die.r_ap[0][mid]) and np.all(g < 1 / die.r_p[0][mid])
    assert not np.isfinite(die.partial_level[0][~die.partial_prone[0]]).any()


def test_drift_moves_reads_with_time_and_telegraph_noise_toggles():
    base = load_profile("1t1r-20k").replace(bias=None, read={"noise_rel": 0.0, "noise_abs": 0.0})
    drift = make_die(base.replace(drift={"ramp": 1.0, "tc_r_ap": -2e-3, "tc_r_p": 0.0}), 5, 0)
    v = np.eye(25)[:1] * 0.1
    first = drift.read(0, v)[0]
    drift.clock += 10.0  # 10 K warmer
    later = drift.read(0, v)[0]
    ap = ~drift.state[0][0] & (drift.defect[0][0] == 0)
    assert np.allclose(later[ap] / first[ap], 1 / (1 - 2e-3 * 10.0), rtol=1e-3)
    rtn = make_die(base.replace(telegraph={"fraction": 0.5, "amplitude": 0.05, "rate": 50.0}), 5, 0)
    reads = np.array([rtn.read(1, np.eye(25) * 0.1).diagonal() for _ in range(200)])
    levels = np.array([np.unique(np.round(c / c.max(), 6)).size for c in reads.T])
    has = rtn.rtn_has[1][np.arange(25), np.arange(25)]
    assert (levels[has] == 2).mean() > 0.8 and (levels[~has] == 1).all()


def test_shorts_and_opens_carry_no_telegraph_fluctuator():
    # the traps are in the tunnel barrier, which a short bypasses and an open does not limit
    base = load_profile("1t1r-20k").replace(
        defects={"short_rate": 0.05, "open_rate": 0.05},
        bias=None,
        read={"noise_rel": 0.0, "noise_abs": 0.0},
    )
    die = make_die(base.replace(telegraph={"fraction": 0.5, "amplitude": 0.3, "rate": 50.0}), 5, 0)
    bypassed = np.isin(die.defect, (DefectCode.SHORT, DefectCode.OPEN))
    assert bypassed.sum() > 1000
    assert not die.rtn_has[bypassed].any() and (die.rtn_amplitude[bypassed] == 0).all()
    assert 0.45 < die.rtn_has[~bypassed].mean() < 0.55  # the barrier devices keep the share
    reads = np.array([die.read(2, np.eye(25) * 0.1) for _ in range(50)])
    shorts = die.defect[2] == DefectCode.SHORT
    assert np.ptp(reads[:, shorts], axis=0).max() == 0.0  # steady, read after read
    barrier = die.rtn_has[2] & (die.defect[2] == DefectCode.GOOD)
    assert (np.ptp(reads[:, barrier], axis=0) > 0).mean() > 0.5  # while fluctuators toggle
