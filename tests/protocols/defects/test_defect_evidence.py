"""Defect detection on dies whose statistics nobody knows: each device judged on its own
evidence, distributions fitted to the die, UNCERTAIN where the evidence cannot settle it."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.protocols import CharacterizationPlan, DefectCode, MemorySink, characterize_die
from mtj_hil.protocols.defects.detect import classify_reads, defect_map, derive_thresholds
from mtj_hil.protocols.errors import ProtocolError
from mtj_hil.reports.characterization import characterization_report, report_notes
from mtj_hil.runs.jobs.characterization import run_characterization
from mtj_hil.runs.store import load_characterization
from mtj_hil.runs.store.runfile import RunFile
from mtj_hil.sim import SimulatedChip, load_profile

LOT = 4242  # a lot no other test uses
HARD = ("1t1r-wide-spread", "1t1r-low-tmr", "1t1r-weak-shorts")


def _scores(found: np.ndarray, truth: np.ndarray) -> dict[str, tuple[float, float]]:
    out = {}
    for code in (DefectCode.SHORT, DefectCode.OPEN, DefectCode.STUCK_P, DefectCode.STUCK_AP):
        tp = int(((found == code) & (truth == code)).sum())
        called, real = int((found == code).sum()), int((truth == code).sum())
        out[code.name] = (tp / called if called else 1.0, tp / real if real else 1.0)
    return out


def _characterise(profile: str, dies: int, **plan):
    found, truth, sinks = [], [], []
    prof = load_profile(profile)
    for k in range(dies):
        chip = SimulatedChip.from_lot(prof, LOT, k)
        sink = MemorySink()
        result = characterize_die(chip, sink, CharacterizationPlan(arrays=tuple(range(32)), **plan))
        found.append(result.codes)
        truth.append(chip.die.defect)
        sinks.append((sink, result))
    return np.stack(found), np.stack(truth), sinks


@pytest.mark.parametrize("profile", ["1t1r-20k", *HARD])
@pytest.mark.slow
def test_each_class_is_found_on_every_shipped_profile(profile):
    found, truth, _ = _characterise(profile, 2)
    scores = _scores(found, truth)
    for name in ("SHORT", "OPEN"):
        assert min(scores[name]) >= 0.97, (name, scores[name])
    for name in ("STUCK_P", "STUCK_AP"):
        assert min(scores[name]) >= 0.93, (name, scores[name])
    good = truth == DefectCode.GOOD
    called_defective = good & (found != DefectCode.GOOD) & (found != DefectCode.UNCERTAIN)
    assert called_defective.sum() <= 2
    assert (found == DefectCode.UNCERTAIN).mean() <= 2e-3


@pytest.mark.slow
def test_early_process_die_is_characterised_not_refused():
    # 30 % TMR with 13 % spread: the die-wide thresholds refused this die outright.
    found, truth, sinks = _characterise("1t1r-early-process", 2)
    scores = _scores(found, truth)
    assert min(scores["SHORT"]) >= 0.9 and min(scores["OPEN"]) >= 0.99
    # Stuck-P and stuck-AP overlap by physics (levels 2 sigma apart); stuck as such is found.
    stuck = np.isin(truth, (3, 4))
    called_stuck = np.isin(found, (3, 4))
    assert (stuck & called_stuck).sum() >= 0.9 * stuck.sum()
    assert (stuck & called_stuck).sum() >= 0.98 * called_stuck.sum()
    good = truth == DefectCode.GOOD
    assert (good & np.isin(found, (1, 2, 3, 4))).sum() <= 2
    result = sinks[0][1]
    assert any("overlap" in w and "%" in w for w in result.warnings)
    assert result.overlap["stuck_state"] > 0.05
    # The old global rule refuses the same data.
    data = sinks[0][0].arrays
    mean_p = np.stack([data[a].mean_p for a in range(32)], axis=1).mean(axis=0)
    mean_ap = np.stack([data[a].mean_ap for a in range(32)], axis=1).mean(axis=0)
    with pytest.raises(ProtocolError, match="not separated"):
        derive_thresholds(mean_p, mean_ap)


def test_switching_device_is_good_whatever_its_conductance():
    rng = np.random.default_rng(0)
    shape = (3, 1, 4, 25, 25)
    g_p = 2.3e-4 * np.exp(0.05 * rng.standard_normal(shape[2:]))
    g_ap = g_p / 1.75
    after_p = g_p * (1 + 0.005 * rng.standard_normal(shape))
    after_ap = g_ap * (1 + 0.005 * rng.standard_normal(shape))
    # A device far above the P distribution (where a short would sit) that switches cleanly,
    # and a non-switching device at an ordinary P level (stuck-P).
    after_p[:, :, 0, 0, 0], after_ap[:, :, 0, 0, 0] = 6e-4, 6e-4 / 1.75
    after_ap[:, :, 1, 3, 3] = after_p[:, :, 1, 3, 3]
    result = classify_reads(after_p, after_ap)
    assert result.codes[0, 0, 0] == DefectCode.GOOD
    assert result.codes[1, 3, 3] == DefectCode.STUCK_P
    assert result.confidence[1, 3, 3] > 0.95
    # The die-wide thresholds call the switching device a short.
    legacy = defect_map(after_p.mean(axis=1), after_ap.mean(axis=1))
    assert legacy.codes[0, 0, 0] == DefectCode.SHORT


def test_die_where_nothing_switches_is_refused_saying_so(profile_1t1r):
    prof = profile_1t1r.replace(switching={"vc_to_p": 5.0, "vc_to_ap": 5.0})
    chip = SimulatedChip.from_lot(prof, LOT, 0)
    with pytest.raises(ProtocolError, match="did not switch") as err:
        characterize_die(chip, MemorySink(), CharacterizationPlan(arrays=(0, 1)))
    assert "switched cleanly" in str(err.value) and "median G after P" in str(err.value)


@pytest.mark.slow
def test_uncertain_devices_are_in_the_run_file_and_on_the_report(tmp_path):
    # One cycle on the noisy early-process die: a device that did not switch may have failed
    # its only write, so stuck calls are uncertain and the run says why.
    chip = SimulatedChip.from_lot("1t1r-early-process", LOT, 1)
    path = tmp_path / "one-cycle.h5"
    plan = CharacterizationPlan(
        arrays=tuple(range(8)), cycles=1, remeasure_cycles=0, bias_read_voltage=None
    )
    run_characterization(chip, path, die_id="sim:early:1", plan=plan, seed=LOT)
    char = load_characterization(path)
    assert char.uncertain > 0
    assert any("one write cycle" in w for w in char.warnings)
    unc = char.codes == DefectCode.UNCERTAIN
    assert (char.best_guess[unc] != DefectCode.UNCERTAIN).all()
    assert (char.confidence[unc] < 0.95).all()
    plain = ~unc & ~np.isin(char.codes, (3, 4))  # a stuck state may be the less sure part
    assert (char.confidence[plain] >= 0.95).all()
    with RunFile.open(path) as run:
        for name in ("confidence", "best_guess", "posterior"):
            assert run.unit(f"defects/{name}") == "1"
        assert run.h5["defects"].attrs["defects_version"] == 2
    notes = report_notes(char)
    assert notes[0].startswith(f"{char.uncertain} UNCERTAIN")
    assert any("one write cycle" in n for n in notes)
    png = characterization_report(char, tmp_path / "one-cycle.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("bias", [None, "auto"])
def test_remeasurement_settles_uncertain_devices_and_is_recorded(tmp_path, bias):
    # With the bias signature on, one cycle once left only 4 devices UNCERTAIN (the
    # signature's "good" ignored a good device whose only write failed, so stuck calls were
    # over-confident) and re-measuring them raised the count to 15 (the read noise was then
    # taken from the handful of re-measured devices). Both views must agree now.
    chip = SimulatedChip.from_lot("1t1r-early-process", LOT, 1)
    path = tmp_path / "remeasure.h5"
    plan = CharacterizationPlan(
        arrays=tuple(range(8)), cycles=1, remeasure_cycles=3, bias_read_voltage=bias
    )
    result = run_characterization(chip, path, die_id="sim:early:1", plan=plan, seed=LOT)
    r = result.remeasured
    assert r["uncertain_before"] >= 20  # a stuck device may have failed its only write
    assert r["devices"] > 0 and r["uncertain_after"] < r["uncertain_before"] / 3
    truth = chip.die.defect[:8]
    settled = result.codes != DefectCode.UNCERTAIN
    assert np.mean(result.codes[settled] == truth[settled]) > 0.998
    with RunFile.open(path) as run:
        assert run.unit("remeasure/g_after_p") == "S"
        selected = run.read("remeasure/selected")
        assert int(selected.sum()) == r["devices"]
    assert load_characterization(path).remeasured["devices"] == r["devices"]


def test_nan_readings_are_left_out_and_reported():
    chip = SimulatedChip.from_lot("1t1r-20k", LOT, 2)
    sink = MemorySink()
    characterize_die(chip, sink, CharacterizationPlan(arrays=(0, 1, 2, 3)))
    g_p = np.stack([sink.arrays[a].g_after_p for a in range(4)], axis=2)
    g_ap = np.stack([sink.arrays[a].g_after_ap for a in range(4)], axis=2)
    rng = np.random.default_rng(1)
    g_p[rng.random(g_p.shape) < 0.02] = np.nan
    g_p[:, :, 0, 5, 5] = np.nan
    g_ap[:, :, 0, 5, 5] = np.nan
    result = classify_reads(g_p, g_ap)
    assert result.codes[0, 5, 5] == DefectCode.UNCERTAIN
    assert any("NaN" in w and "no valid reading" in w for w in result.warnings)
    truth = chip.die.defect[:4]
    ok = np.ones(truth.shape, bool)
    ok[0, 5, 5] = False
    assert np.mean(result.codes[ok] == truth[ok]) > 0.999


def test_saturated_readings_are_uncertain_never_a_silent_label(profile_1t1r):
    # A 40 uA converter at 0.1 V: shorts (~60 uA) overflow, good devices (~23 uA) do not.
    prof = profile_1t1r.replace(read={"adc_bits": 12, "adc_full_scale": 4e-5})
    chip = SimulatedChip.from_lot(prof, LOT, 0)
    result = characterize_die(chip, MemorySink(), CharacterizationPlan(arrays=(0, 1, 2, 3)))
    truth = chip.die.defect[:4]
    shorts = truth == DefectCode.SHORT
    over = shorts & (chip.die.short_g[:4] * 0.1 > 4.05e-5)  # these overflow every read
    assert over.sum() >= 3
    assert (result.codes[over] == DefectCode.UNCERTAIN).all()
    assert (result.best_guess[over] == DefectCode.SHORT).all()
    assert np.isin(result.codes[shorts], (DefectCode.SHORT, DefectCode.UNCERTAIN)).all()
    assert any("saturated" in w for w in result.warnings)
    assert np.mean(result.codes[~shorts] == truth[~shorts]) > 0.999
    # A converter too small for everything: nothing can be seen switching; say why.
    tiny = profile_1t1r.replace(read={"adc_bits": 12, "adc_full_scale": 5e-6})
    chip = SimulatedChip.from_lot(tiny, LOT, 0)
    with pytest.raises(ProtocolError, match="saturated the converter"):
        characterize_die(chip, MemorySink(), CharacterizationPlan(arrays=(0,)))


def test_shipped_hard_profiles_differ_from_the_default_as_described():
    base = load_profile("1t1r-20k")
    wide, low, weak, early = (load_profile(n) for n in (*HARD, "1t1r-early-process"))
    assert wide.resistance.r_p_sigma >= 0.12 > base.resistance.r_p_sigma
    assert low.resistance.r_ap_median / low.resistance.r_p_median == pytest.approx(1.3, abs=0.01)
    assert weak.defects.short_g_median == pytest.approx(3.5e-4)
    assert early.defects.line_open_rate > 0 and early.defects.line_short_rate > 0
    # Shorted lines are drawn: some input line of some die is entirely shorted.
    from mtj_hil.sim.die import make_die

    full_rows = sum(
        int(((make_die(early, LOT, k).defect == DefectCode.SHORT).all(axis=2)).sum())
        for k in range(4)
    )
    assert full_rows >= 1


def test_arrays_that_differ_get_their_own_centres():
    # Eight arrays whose levels drift by +-30 % in ln G across the die, TMR 30 %: a stuck-P
    # device of the lowest array reads below the die-wide AP median.
    rng = np.random.default_rng(3)
    shift = np.linspace(-0.3, 0.3, 8)[:, None, None]
    g_p = 2.3e-4 * np.exp(shift + 0.03 * rng.standard_normal((8, 25, 25)))
    g_ap = g_p / 1.3
    stuck_p, stuck_ap = (0, 4, 4), (7, 9, 9)
    g_ap[stuck_p] = g_p[stuck_p]
    g_p[stuck_ap] = g_ap[stuck_ap]
    noise = lambda g: g * (1 + 0.005 * rng.standard_normal((3, 1, 8, 25, 25)))  # noqa: E731
    result = classify_reads(noise(g_p), noise(g_ap))
    assert result.model["centres_per_array"]
    assert result.codes[stuck_p] == DefectCode.STUCK_P
    assert result.codes[stuck_ap] == DefectCode.STUCK_AP
    assert (result.codes == DefectCode.GOOD).sum() == 8 * 625 - 2


def test_noisy_reads_are_characterised_with_honest_uncertainty():
    # 8 % read noise against a 30 % TMR: single devices are hard to settle, but the die
    # switches, so it is classified (never refused) and says what limits it; what its
    # re-measurement cannot settle stays UNCERTAIN (often nothing, once the level, the
    # contrast and the bias signature are scored without counting shared reads twice).
    prof = load_profile("1t1r-low-tmr").replace(read={"noise_rel": 0.08})
    chip = SimulatedChip.from_lot(prof, LOT, 0)
    result = characterize_die(chip, MemorySink(), CharacterizationPlan(arrays=(0, 1, 2, 3)))
    truth = chip.die.defect[:4]
    unc = result.codes == DefectCode.UNCERTAIN
    assert unc.sum() < 0.1 * unc.size
    assert np.mean(result.codes[~unc] == truth[~unc]) > 0.99
    assert any("read noise" in w and "large" in w for w in result.warnings)


def test_arrays_of_opens_reading_noise_are_refused_not_called_good():
    """Dead arrays read noise around no current: the ratio between a P and an AP read
    of such a device can be anything, and it can land far above 6 noise sigmas in every
    cycle. Junctions switch by at most about x7 (TMR 600 %), so without a single real
    switcher the die is refused, not fitted to the noise and called GOOD with confidence."""
    rng = np.random.default_rng(3)
    shape = (3, 1, 4, 25, 25)
    # Open devices: 2 nA of read noise at 0.1 V about no current; |.| as a converter
    # that reports magnitudes would, every reading a different multiple of the floor.
    after_p = np.abs(2e-8 * rng.standard_normal(shape)) + 1e-12
    after_ap = np.abs(2e-8 * rng.standard_normal(shape)) + 1e-12
    # Rank the noise so some devices "switch" in every cycle by orders of magnitude.
    after_p[:, :, :2] = np.maximum(after_p[:, :, :2], after_ap[:, :, :2] * 1e3)
    with pytest.raises(ProtocolError, match="switched cleanly") as err:
        classify_reads(after_p, after_ap)
    assert "ln 11" in str(err.value)
    # A die whose other arrays are real junctions is still classified, and the dead
    # array's devices are not called GOOD.
    g_p = 2.3e-4 * np.exp(0.05 * rng.standard_normal((3, 25, 25)))
    after_p[:, :, 1:] = g_p * (1 + 0.005 * rng.standard_normal((3, 1, 3, 25, 25)))
    after_ap[:, :, 1:] = g_p / 1.75 * (1 + 0.005 * rng.standard_normal((3, 1, 3, 25, 25)))
    result = classify_reads(after_p, after_ap)
    assert (result.codes[1:] == DefectCode.GOOD).mean() > 0.98
    assert not (result.codes[0] == DefectCode.GOOD).any()
