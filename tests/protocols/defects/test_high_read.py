"""A switch the read voltage's converter hides, seen at the bias read voltage (issue 22).

8 bits over 1 mA at 0.1 V: the P level reads code 3, the AP level code 2; a good device
whose P level sits below 2.5 codes reads code 2 after both writes, as a stuck-AP device
does. At 0.3 V one code is three times smaller against its level, and its two states read
different codes (:mod:`mtj_hil.protocols.defects.high_read`)."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.protocols import CharacterizationPlan, DefectCode, MemorySink, characterize_die
from mtj_hil.protocols.defects import reads
from mtj_hil.protocols.defects.bias_signature import gather_bias_evidence
from mtj_hil.protocols.defects.high_read import fit_high_contrast, high_switch_lr, per_cycle
from mtj_hil.sim import SimulatedChip, load_profile

STEP = 7.8125e-5  # S: 8 bits (7.8 uA) at 0.1 V
RATIO = 3.0  # high / low read voltage
NONE = {"short_rate": 0.0, "open_rate": 0.0, "stuck_p_rate": 0.0, "stuck_ap_rate": 0.0}


def _reads(g: np.ndarray, step: float, rng: np.random.Generator, cycles: int) -> np.ndarray:
    """Quantised reads ``(cycles, 1, n)`` of levels ``g`` (S) with 0.5 % read noise."""
    noisy = g[None, None, :] * (1 + 0.005 * rng.standard_normal((cycles, 1, g.size)))
    return np.round(noisy / step) * step


def _die(extra_p: list[float], extra_ap: list[float], cycles: int = 3, stuck: int = 0):
    """400 switchers (P about code 3, AP about code 2 at the low voltage; the AP level rises
    10 % more with bias) and the given extra devices (levels in low-voltage codes), the
    last ``stuck`` of them stuck AP (their AP level after both writes)."""
    rng = np.random.default_rng(7)
    g_p = np.exp(rng.normal(np.log(2.98 * STEP), 0.05, 400))
    g_ap = g_p / np.exp(rng.normal(np.log(1.75), 0.03, 400))
    g_p = np.append(g_p, np.array(extra_p) * STEP)
    g_ap = np.append(g_ap, np.array(extra_ap) * STEP)
    high = STEP / RATIO
    lo_p, lo_ap = _reads(g_p, STEP, rng, cycles), _reads(g_ap, STEP, rng, cycles)
    rise_p = np.ones(g_p.size)
    rise_p[g_p.size - stuck :] = 1.1
    hi_p, hi_ap = _reads(rise_p * g_p, high, rng, cycles), _reads(1.1 * g_ap, high, rng, cycles)
    bias = gather_bias_evidence(lo_p, lo_ap, hi_p, hi_ap)
    d = (np.log(lo_p) - np.log(lo_ap))[:, 0, :][:, None, :]  # (cycles, 1, n)
    clean = np.zeros((1, g_p.size), bool)
    clean[0, :400] = (d[:, 0, :400] > 0.1).all(axis=0)
    return bias, d, clean, np.log(np.mean(lo_ap, axis=(0, 1)))[None, :]


def test_high_contrast_law_from_the_switchers():
    bias, d, clean, _ = _die([], [])
    hc = fit_high_contrast(bias, d, clean)
    assert hc is not None
    assert hc.step == pytest.approx(STEP / RATIO, rel=1e-4)
    assert hc.m == pytest.approx(np.log(1.75 / 1.1), abs=0.08)


def test_hidden_switch_is_seen_and_a_code_flip_is_not_a_switch():
    # a good device at code 2 in both states (P at 2.45, AP at 1.55 codes), and a stuck-AP
    # device at the edge of two high-voltage codes (1.1 x 1.6667 x 3 = 5.5: flips 5 / 6)
    bias, d, clean, level = _die([2.45, 1.6667], [1.55, 1.6667], cycles=3, stuck=1)
    assert (d[:, 0, 400:] == 0).all()  # both read one code at the low voltage
    hc = fit_high_contrast(bias, d, clean)
    h = per_cycle(bias, d)[:, 0, 401]
    assert (np.abs(h) > 0.1).any() and (np.abs(h) < 0.2).all()  # one code apart, sometimes
    test = np.zeros_like(clean)
    test[0, 400:] = True
    lr = high_switch_lr(hc, bias, d, level, test, 1e-3)[0]
    assert lr[400] > 10.0  # switched: e^10 over not switching
    assert lr[401] < 0.0  # one level read twice, now and then one code apart
    assert (lr[:400] == 0).all()


@pytest.mark.parametrize("where", ["read voltage", "second voltage"])
def test_eight_bit_die_calls_no_good_device_defective(where, monkeypatch):
    """Before the high-voltage test two good devices of this die (code 2 after both writes)
    were called stuck-AP with confidence >= 0.95. Such a die is now classified on its second
    voltage's reads (:mod:`mtj_hil.protocols.defects.resolving_voltage`); kept at the read
    voltage, the high-voltage test is what settles those devices."""
    if where == "read voltage":
        monkeypatch.setattr(reads, "classify_at_second_voltage", lambda low, high: (False, ""))
    prof = load_profile("1t1r-20k").replace(read={"adc_bits": 8}, defects=NONE)
    chip = SimulatedChip.from_lot(prof, 2324, 4)
    result = characterize_die(chip, MemorySink(), CharacterizationPlan(arrays=tuple(range(8))))
    assert (result.codes == DefectCode.GOOD).all()
    if where == "read voltage":
        assert result.model["high_voltage_contrast"]["n_fit"] > 4000
    else:
        assert result.model["classified_at"] == "second read voltage"


def test_one_code_apart_in_every_cycle_is_no_evidence_of_a_switch():
    """A stuck device at the edge of two high-voltage codes may read the upper one after
    every P write: one code (ln 6/5 = 0.18) is within the quantisation of two reads, so the
    ratio stays near even (without the quantisation floor it was e^6 for switching)."""
    bias, d, clean, level = _die([1.6667], [1.6667], cycles=3, stuck=1)
    hi = STEP / RATIO
    bias.per_cycle_p[:, 400] = np.log(6 * hi / (2 * STEP))  # code 2 at the low voltage
    bias.per_cycle_ap[:, 400] = np.log(5 * hi / (2 * STEP))
    bias.b_ap[400] = np.log(5 * hi / (2 * STEP))
    hc = fit_high_contrast(bias, d, clean)
    test = np.zeros_like(clean)
    test[0, 400] = True
    assert abs(high_switch_lr(hc, bias, d, level, test, 1e-3)[0, 400]) < 1.0


@pytest.mark.parametrize("bits", [9, 10])
def test_a_few_arrays_read_by_a_9_or_10_bit_converter_are_classified(bits):
    """Six arrays at 9-10 bits: most good devices share a code or two, so the line-offset
    fit's outlier trim once left no device and the characterisation crashed."""
    prof = load_profile("1t1r-20k").replace(read={"adc_bits": bits})
    chip = SimulatedChip.from_lot(prof, 9001, 0)
    plan = CharacterizationPlan(arrays=tuple(range(6))).resolved(chip.layout)
    result = characterize_die(chip, MemorySink(), plan)
    truth = chip.die.defect[:6]
    good = truth == DefectCode.GOOD
    assert np.mean(result.codes[good] == DefectCode.GOOD) > 0.999
