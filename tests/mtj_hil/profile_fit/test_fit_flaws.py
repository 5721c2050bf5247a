"""fit-profile on flawed lots: zero-bias medians and [bias] from two read voltages, defaults
said so, UNCERTAIN apportioned, line defects apart, robust read noise, populations, read
voltages that cannot be pooled refused, and checks that warn when the data break the model."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.errors import StoreError
from mtj_hil.profile_fit.fit import fit_profile
from mtj_hil.profile_fit.writer import write_profile_toml
from mtj_hil.protocols.characterize.plan import CharacterizationPlan
from mtj_hil.runs.jobs.characterization import run_characterization
from mtj_hil.sim import SimulatedChip, load_profile
from mtj_hil.testing.lots import lot_runs

pytestmark = pytest.mark.slow
LOT = 3131  # a lot no other test uses


def _lot(tmp, prof, dies=3, arrays=8, tag="lot", **plan):
    return lot_runs(tmp, prof, LOT, dies, arrays, tag, **plan)


@pytest.fixture(scope="module")
def default_lot(tmp_path_factory):
    return _lot(tmp_path_factory.mktemp("default"), load_profile("1t1r-20k"))


def test_two_read_voltages_give_zero_bias_medians_and_a_fitted_bias_law(default_lot, tmp_path):
    paths, dies = default_lot
    fp = fit_profile(paths, load_profile("1t1r-20k").replace(bias=None), name="fit")
    good = np.stack([d.defect[:8] for d in dies]) == 0
    for key, r in (("r_p_median", "r_p"), ("r_ap_median", "r_ap")):
        truth = float(np.exp(np.median(np.log(np.stack([getattr(d, r)[:8] for d in dies])[good]))))
        fv = fp.values[f"resistance.{key}"]
        assert abs(fv.value - truth) < 3 * fv.sd, key
        assert "zero bias" in fv.source
    prof = load_profile("1t1r-20k")
    assert fp.values["bias.v_half"].value == pytest.approx(prof.bias.v_half, rel=0.03)
    assert fp.values["bias.p_curvature"].value == pytest.approx(prof.bias.p_curvature, rel=0.1)
    assert "bias.v_half" not in fp.defaults
    out = write_profile_toml(fp, tmp_path / "fit.toml")
    fitted = load_profile(out)
    assert fitted.bias is not None and fitted.bias.v_half == pytest.approx(0.5, rel=0.03)


def test_one_read_voltage_carries_the_bias_law_and_says_so(tmp_path):
    prof = load_profile("1t1r-20k")
    paths, _ = _lot(tmp_path, prof, dies=2, arrays=4, tag="one", bias_read_voltage=None)
    fp = fit_profile(paths, prof, name="fit")
    assert "bias.v_half" in fp.defaults
    assert "base profile's [bias] law" in fp.values["resistance.r_p_median"].source
    ohmic = fit_profile(paths, prof.replace(bias=None), name="fit")
    assert "read voltage" in ohmic.values["resistance.r_p_median"].source
    assert any("at the read voltage, not at zero bias" in w for w in ohmic.warnings)


def test_runs_at_different_read_voltages_are_pooled_or_refused(default_lot, tmp_path):
    paths, _ = default_lot
    prof = load_profile("1t1r-20k")
    chip = SimulatedChip.from_lot(prof, LOT, 7)
    other = tmp_path / "v015.h5"
    plan = CharacterizationPlan(arrays=(0, 1), read_voltage=0.15, bias_read_voltage=None)
    run_characterization(chip, other, die_id="sim:v015", plan=plan, seed=LOT)
    with pytest.raises(StoreError, match=r"different voltages \(0.1 V: .*0.15 V: v015.h5"):
        fit_profile([*paths, other], prof, name="fit")
    both = tmp_path / "v0125.h5"
    plan = CharacterizationPlan(arrays=(0, 1), read_voltage=0.125)
    run_characterization(SimulatedChip.from_lot(prof, LOT, 8), both, die_id="sim:v0125", plan=plan)
    fp = fit_profile([*paths, both], prof, name="fit")  # each run to zero bias: pooled
    assert fp.values["resistance.r_p_median"].value == pytest.approx(4292, rel=0.01)


def test_uncertain_devices_are_apportioned_and_lines_kept_apart(tmp_path):
    prof = load_profile("1t1r-early-process").replace(
        defects={"line_short_rate": 0.5, "line_open_rate": 0.5}
    )
    paths, dies = _lot(tmp_path, prof, dies=2, arrays=8, tag="early", cycles=1, remeasure_cycles=0)
    fp = fit_profile(paths, prof, name="fit")
    assert "apportioned by posterior" in fp.values["defects.stuck_p_rate"].source
    defect = np.stack([d.defect[:8] for d in dies])
    rows = (defect == 1).all(axis=3).sum()
    cols = (defect == 2).all(axis=2).sum()
    assert fp.values["defects.line_short_rate"].value * 16 == pytest.approx(rows, abs=1)
    assert fp.values["defects.line_open_rate"].value * 16 == pytest.approx(cols, abs=1)
    # shorted lines are not point shorts: the short rate stays near the profile's
    assert fp.values["defects.short_rate"].value < 3 * prof.defects.short_rate


def test_read_noise_is_robust_to_failed_writes(tmp_path):
    prof = load_profile("1t1r-20k").replace(switching={"write_error_floor": 0.05})
    paths, _ = _lot(tmp_path, prof, dies=2, arrays=4, tag="floor", reads=2)
    fp = fit_profile(paths, prof, name="fit")
    assert fp.values["read.noise_rel"].value == pytest.approx(prof.read.noise_rel, rel=0.1)


def test_two_device_sizes_are_fitted_as_populations(tmp_path):
    prof = load_profile("1t1r-20k").replace(
        populations={"fractions": [0.7, 0.3], "r_scale": [1.0, 1.6]}
    )
    paths, _ = _lot(tmp_path, prof, dies=2, arrays=8, tag="sizes")
    fp = fit_profile(paths, load_profile("1t1r-20k"), name="fit")
    pops = fp.data["populations"]
    assert pops["fractions"][0] == pytest.approx(0.7, abs=0.03)
    assert pops["r_scale"][1] == pytest.approx(1.6, rel=0.03)
    assert fp.data["resistance"]["r_p_sigma"] == pytest.approx(0.05, rel=0.15)


def test_spatial_structure_is_fitted_and_left_out_of_the_point_rates(tmp_path):
    spatial = {"cluster_rate": 20.0, "cluster_size_median": 12.0, "scratch_rate": 2.0}
    prof = load_profile("1t1r-20k").replace(spatial=spatial)
    paths, dies = _lot(tmp_path, prof, dies=3, arrays=32, tag="spatial", cycles=1)
    fp = fit_profile(paths, load_profile("1t1r-20k"), name="fit")
    drawn = [d.spatial_drawn for d in dies]
    clusters = sum(len(d["cluster_sizes"]) for d in drawn) / 3
    rate = fp.values["spatial.cluster_rate"]
    assert abs(rate.value - clusters) < 3 * rate.sd
    scratches = sum(len(d["scratch_lengths"]) for d in drawn) / 3
    assert fp.values["spatial.scratch_rate"].value == pytest.approx(scratches, abs=0.5)
    assert fp.data["spatial"]["scratch_class"] == "SHORT"
    # cluster and scratch devices are not point defects: the rates are those of the rest
    defect = np.stack([d.defect for d in dies])
    rest = ~np.stack([d.spatial_hit for d in dies])
    for code, key in ((1, "short_rate"), (2, "open_rate")):
        truth = ((defect == code) & rest).sum() / rest.sum()
        fitted = fp.values[f"defects.{key}"]
        assert abs(fitted.value - truth) < 3 * fitted.sd, key
    out = write_profile_toml(fp, tmp_path / "fit.toml")
    assert load_profile(out).spatial.cluster_rate == pytest.approx(rate.value)


def test_a_lot_without_spatial_structure_gets_no_spatial_section(plain_fit):
    assert "spatial" not in plain_fit.data
    assert not any(k.startswith("spatial.") for k in plain_fit.values)


@pytest.fixture(scope="module")
def plain_fit(tmp_path_factory):
    prof = load_profile("1t1r-20k")
    paths, _ = _lot(tmp_path_factory.mktemp("plain"), prof, dies=2, arrays=16, tag="plain")
    return fit_profile(paths, prof, name="fit")


@pytest.mark.parametrize(
    ("changes", "check"),
    [
        ({"partial_switching": {"fraction": 0.05}}, "read-noise check"),
    ],
    ids=["partial"],
)
def test_data_that_break_the_model_are_warned_about(tmp_path, plain_fit, changes, check):
    prof = load_profile("1t1r-20k").replace(**changes)
    paths, _ = _lot(tmp_path, prof, dies=2, arrays=16, tag=check.split()[0])
    fp = fit_profile(paths, load_profile("1t1r-20k"), name="fit")
    hits = [w for w in fp.warnings if check in w]
    assert hits and "runs" in hits[0]
    assert not any(check in w for w in plain_fit.warnings)


def test_the_dead_array_rate_is_per_whole_die_when_part_of_each_die_was_measured(tmp_path):
    # 8 of 32 arrays of each die measured: the dead arrays counted are a quarter of each
    # die's, and the rate was their number per die (a quarter of the truth)
    prof = load_profile("1t1r-20k").replace(spatial={"dead_array_rate": 8.0})
    paths, dies = _lot(tmp_path, prof, dies=3, arrays=8, tag="dead", cycles=1)
    fp = fit_profile(paths, load_profile("1t1r-20k"), name="fit")
    rate = fp.values["spatial.dead_array_rate"]
    seen = sum(int((d.defect[:8] == 2).all(axis=(1, 2)).sum()) for d in dies)
    assert seen >= 2  # the lot has dead arrays in what was measured
    assert rate.value == pytest.approx(seen / (3 * 8 / 32))
    assert abs(rate.value - 8.0) < 3 * rate.sd
