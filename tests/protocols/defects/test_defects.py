"""Defect detection finds injected defects; precision and recall are printed per type."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.protocols import (
    CharacterizationPlan,
    DefectCode,
    MemorySink,
    characterize_die,
    detect_defects,
)
from mtj_hil.protocols.defects.detect import Thresholds, classify, derive_thresholds
from mtj_hil.protocols.errors import ProtocolError
from mtj_hil.sim import SimulatedChip


def precision_recall(found: np.ndarray, truth: np.ndarray) -> dict[str, tuple[float, float, int]]:
    out = {}
    for code in DefectCode:
        tp = int(((found == code) & (truth == code)).sum())
        fp = int(((found == code) & (truth != code)).sum())
        fn = int(((found != code) & (truth == code)).sum())
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        out[code.name] = (precision, recall, tp + fn)
    return out


@pytest.mark.slow
def test_detects_injected_defects_on_several_dies(profile_1t1r, capsys):
    prof = profile_1t1r.replace(
        defects={
            "short_rate": 0.005,
            "open_rate": 0.005,
            "stuck_p_rate": 0.005,
            "stuck_ap_rate": 0.005,
        }
    )
    found, truth = [], []
    for die in range(3):
        chip = SimulatedChip.from_lot(prof, 5, die)
        result = characterize_die(chip, MemorySink())
        found.append(result.codes)
        truth.append(chip.die.defect)
    scores = precision_recall(np.stack(found), np.stack(truth))
    with capsys.disabled():
        print("\ndefect detection on 3 dies with 0.5 % of each defect type injected:")
        for name, (p, r, n) in scores.items():
            print(f"  {name:9s} precision {p:.4f} recall {r:.4f} ({n} devices)")
    for name in ("SHORT", "OPEN"):
        assert scores[name][0] >= 0.99 and scores[name][1] >= 0.99, name
    for name in ("STUCK_P", "STUCK_AP"):
        assert scores[name][0] >= 0.95 and scores[name][1] >= 0.95, name


def test_single_array_detection_with_its_own_thresholds(chip):
    result = detect_defects(chip, 9)
    truth = chip.die.defect[9]
    np.testing.assert_array_equal(result.codes, truth)
    t = result.thresholds
    assert t.open_g < t.state_g < t.short_g
    assert "switching evidence" in t.method
    assert sum(result.counts().values()) == 625


def test_classify_rules_on_constructed_data():
    t = Thresholds(state_g=1.8e-4, short_g=3.2e-4, open_g=2.6e-5, method="test")
    # 5 devices x 2 cycles: good, short, open, stuck-P, stuck-AP
    after_p = np.array([[2.3e-4, 6e-4, 1e-9, 2.3e-4, 1.3e-4]] * 2)
    after_ap = np.array([[1.3e-4, 6e-4, 1e-9, 2.3e-4, 1.3e-4]] * 2)
    codes = classify(after_p, after_ap, t)
    assert list(codes) == [0, 1, 2, 3, 4]
    # A device that failed to switch once but not every time is good.
    after_ap[0, 0] = 2.3e-4
    assert classify(after_p, after_ap, t)[0] == DefectCode.GOOD


def test_thresholds_refuse_data_where_nothing_switched():
    g = np.full((25, 25), 2e-4)
    with pytest.raises(ProtocolError, match="did not switch"):
        derive_thresholds(g, g)


def test_characterize_plan_is_validated(chip):
    from mtj_hil.protocols import InvalidRequest

    with pytest.raises(InvalidRequest, match="not on this die"):
        characterize_die(chip, MemorySink(), CharacterizationPlan(arrays=(0, 40)))
    with pytest.raises(InvalidRequest, match="twice"):
        characterize_die(chip, MemorySink(), CharacterizationPlan(arrays=(1, 1)))
    assert chip.program_calls == 0


def test_a_die_whose_reads_are_too_noisy_is_told_to_average_more_reads():
    """A die with 30 % read noise was refused with "check the write pulse, the read voltage
    and the wiring", though its devices switch on average and --reads 50 classifies it."""
    from mtj_hil.sim import load_profile

    prof = load_profile("1t1r-20k").replace(read={"noise_rel": 0.3})
    chip = SimulatedChip.from_lot(prof, 0, 0)
    with pytest.raises(ProtocolError) as refused:
        characterize_die(chip, MemorySink(), CharacterizationPlan(arrays=(0, 1)))
    text = str(refused.value)
    assert "switch on average" in text and "--reads, about" in text
    assert "check the write pulse" not in text
