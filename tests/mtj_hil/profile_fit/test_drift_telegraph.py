"""The [drift], [telegraph] and [pinholes] sections: recovered from data that show them
(within their stated intervals), left out where the data show none, half-way switches not
taken for fluctuators or leaks, and old run files (no times) said to be unable to tell
drift."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mtj_hil.profile_fit.checks import drift_check, tmr_tail_check
from mtj_hil.profile_fit.drift import Segment, fit_drift, put_drift
from mtj_hil.profile_fit.fit import fit_profile
from mtj_hil.profile_fit.resistance import run_levels
from mtj_hil.profile_fit.runs import open_runs
from mtj_hil.profile_fit.writer import write_profile_toml
from mtj_hil.sim import load_profile
from mtj_hil.testing.lots import lot_runs

pytestmark = pytest.mark.slow
LOT = 3232  # a lot no other test uses
LEGACY = Path(__file__).resolve().parents[2] / "fixtures" / "legacy-0.1"


def _segments(rng, ramp, amp, period, tc_p, tc_ap, n_seg=12, n=32, se=0.0025, rho=0.8):
    """Per-array medians as the simulator's drift makes them, with sampling noise."""
    segs = []
    cov = se * se * np.array([[1.0, rho], [rho, 1.0]])
    for _ in range(n_seg):
        t = np.cumsum(rng.uniform(0.4, 0.6, n))
        dt = ramp * t + amp * np.sin(2 * np.pi * t / period)
        level = np.array([8.36, 8.93]) + 0.01 * rng.standard_normal(2)
        y = level + np.stack([np.log1p(tc_p * dt), np.log1p(tc_ap * dt)], axis=1)
        y += rng.multivariate_normal([0, 0], cov, n)
        segs.append(Segment(t, y, np.broadcast_to(cov, (n, 2, 2)).copy()))
    return segs


def test_drift_is_recovered_within_its_stated_interval():
    truth = {"ramp": 0.05, "amplitude": 5.0, "period": 20.0, "tc_r_p": -2e-4}
    z = []
    for seed in range(4):
        segs = _segments(np.random.default_rng(seed), 0.05, 5.0, 20.0, -2e-4, -2e-3)
        fit = fit_drift(segs, -2e-3)
        assert fit.shown
        for key, value in truth.items():
            fitted, sd, _ = fit.values[key]
            z.append((fitted - value) / sd)
    z = np.array(z)
    assert np.all(np.abs(z) < 3.5), z
    assert np.mean(np.abs(z) < 1.96) >= 0.8, z  # the stated sd is an honest one


def test_the_temperature_scale_is_the_reference_coefficients():
    segs = _segments(np.random.default_rng(7), 0.05, 5.0, 20.0, -2e-4, -2e-3)
    fit = fit_drift(segs, -1e-3)  # half the true coefficient: twice the temperature swing
    assert fit.values["amplitude"][0] == pytest.approx(10.0, rel=0.1)
    assert fit.values["tc_r_p"][0] == pytest.approx(-1e-4, rel=0.4)


def test_no_drift_is_not_shown():
    for seed in range(6):
        segs = _segments(np.random.default_rng(100 + seed), 0.0, 0.0, 20.0, -2e-4, -2e-3)
        assert not fit_drift(segs, -1.5e-3).shown


def _lot(tmp, prof, dies, arrays, tag, **plan):
    return lot_runs(tmp, prof, LOT, dies, arrays, tag, **plan)


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    prof = load_profile("1t1r-20k")
    paths, _ = _lot(tmp_path_factory.mktemp("plain"), prof, 2, 16, "plain")
    return paths, fit_profile(paths, prof, name="fit")


def test_a_lot_without_drift_or_fluctuators_gets_neither_section(plain):
    _, fp = plain
    for section in ("drift", "telegraph", "pinholes"):
        assert section not in fp.data
        assert not any(k.startswith(f"{section}.") for k in fp.values)
    assert not fp.warnings


def test_drift_is_fitted_from_a_lot_and_explains_the_array_to_array_check(tmp_path):
    drift = {"ramp": 0.2, "amplitude": 3.0, "period": 2.0, "tc_r_ap": -2e-3}
    prof = load_profile("1t1r-20k").replace(drift=drift)
    paths, _ = _lot(tmp_path, prof, 3, 24, "drift", cycles=1)
    base = load_profile("1t1r-20k").replace(drift={"tc_r_ap": -2e-3})
    fp = fit_profile(paths, base, name="fit")
    assert "drift.tc_r_ap" in fp.defaults  # the temperature scale: not from resistances
    for key in ("ramp", "amplitude", "period"):
        fv = fp.values[f"drift.{key}"]
        assert abs(fv.value - drift[key]) < 3 * fv.sd, (key, fv)
    assert not any("array-to-array" in w for w in fp.warnings)
    # without the fitted drift the same arrays fail the check: the check can fail
    chars, _ = open_runs(paths)
    assert drift_check([c.name for c in chars], chars)
    shifts, untimed, _ = put_drift(chars, base, lambda *a: None, {}, [])
    assert not untimed and not drift_check([c.name for c in chars], chars, shifts)
    out = write_profile_toml(fp, tmp_path / "fit.toml")
    assert load_profile(out).drift.amplitude == pytest.approx(fp.values["drift.amplitude"].value)


def test_telegraph_noise_is_fitted_from_the_repeated_reads(tmp_path, plain):
    prof = load_profile("1t1r-20k").replace(telegraph={"fraction": 0.1, "amplitude": 0.05})
    paths, dies = _lot(tmp_path, prof, 2, 16, "rtn")
    fp = fit_profile(paths, load_profile("1t1r-20k"), name="fit")
    good = np.stack([d.defect[:16] for d in dies]) == 0
    has = np.stack([d.rtn_has[:16] for d in dies])
    amp = np.stack([d.rtn_amplitude[:16] for d in dies])[has]
    truth = {"fraction": has[good].mean(), "amplitude": np.exp(np.median(np.log(amp)))}
    for key, value in truth.items():
        fv = fp.values[f"telegraph.{key}"]
        assert abs(fv.value - value) < 3 * fv.sd, (key, fv, value)
    assert "telegraph.rate" in fp.defaults
    assert not any("read-noise check" in w for w in fp.warnings)  # the section explains them
    assert load_profile(write_profile_toml(fp, tmp_path / "f.toml")).telegraph.fraction > 0


def test_half_way_switches_are_not_taken_for_fluctuators(tmp_path):
    prof = load_profile("1t1r-20k").replace(partial_switching={"fraction": 0.05})
    paths, _ = _lot(tmp_path, prof, 2, 16, "partial")
    fp = fit_profile(paths, load_profile("1t1r-20k"), name="fit")
    assert "telegraph" not in fp.data and "pinholes" not in fp.data
    assert any("telegraph check failed" in w for w in fp.warnings)


def test_pinholes_are_fitted_from_the_tmr_and_explain_the_tmr_tail(tmp_path):
    prof = load_profile("1t1r-20k").replace(pinholes={"fraction": 0.08})
    paths, dies = _lot(tmp_path, prof, 2, 16, "pin")
    base = load_profile("1t1r-20k")
    fp = fit_profile(paths, base, name="fit")
    defect = np.stack([d.defect[:16] for d in dies])
    leak = np.stack([d.leak_g[:16] for d in dies])
    barrier = ~np.isin(defect, (1, 2))
    g = np.log(leak[barrier & (leak > 0)])
    truth = {
        "fraction": np.mean(leak[barrier] > 0),
        "g_median": np.exp(np.mean(g)),
        "g_sigma": np.std(g),
    }
    for key, value in truth.items():
        fv = fp.values[f"pinholes.{key}"]
        assert abs(fv.value - value) < 3 * fv.sd, (key, fv, value)
    assert not any("TMR-tail" in w for w in fp.warnings)
    # the same devices fail the check against a profile without leaks: it can fail
    chars, _ = open_runs(paths)
    tmr = base.resistance.r_ap_median / base.resistance.r_p_median - 1
    levels = [run_levels(c, base.bias, tmr) for c in chars]
    assert tmr_tail_check([c.name for c in chars], levels)
    assert load_profile(write_profile_toml(fp, tmp_path / "f.toml")).pinholes.fraction > 0


def test_old_run_files_say_drift_cannot_be_fitted(tmp_path):
    path = tmp_path / "characterization.h5"
    shutil.copy(LEGACY / "characterization.h5", path)
    fp = fit_profile([path], load_profile("passive-15x15"), name="fit")
    said = [w for w in fp.warnings if "[drift]" in w]
    assert said and "characterization.h5" in said[0] and "no measurement time" in said[0]
    assert "drift" not in fp.data
