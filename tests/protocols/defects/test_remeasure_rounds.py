"""Re-measurement in rounds: devices the first extra cycles left unsettled get more, the
classification uses every cycle, and the record keeps them all (rounds a cell sat out: NaN)."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.protocols import CharacterizationPlan, MemorySink, characterize_die
from mtj_hil.protocols.characterize.plan import check_plan, plan_from_record, plan_record
from mtj_hil.protocols.defects.codes import DefectCode
from mtj_hil.protocols.errors import InvalidRequest
from mtj_hil.sim import SimulatedChip, load_profile


def _noisy_low_contrast() -> object:
    # TMR 20 % read with 5 % noise: stuck and good devices overlap after 3 + 3 cycles
    prof = load_profile("1t1r-20k")
    return prof.replace(
        resistance={"r_ap_median": 1.2 * prof.resistance.r_p_median},
        read={"noise_rel": 0.05},
    )


def _characterize(rounds: int, die: int = 0) -> tuple[SimulatedChip, MemorySink, object]:
    chip = SimulatedChip.from_lot(_noisy_low_contrast(), 9001, die)
    sink = MemorySink()
    plan = CharacterizationPlan(arrays=tuple(range(12)), remeasure_rounds=rounds)
    return chip, sink, characterize_die(chip, sink, plan)


@pytest.mark.slow
def test_a_second_round_settles_devices_the_first_left_open():
    unsettled, stuck_found = {}, {}
    for rounds in (1, 2):
        results = [_characterize(rounds, die) for die in (0, 1)]
        unsettled[rounds] = sum(int((r.codes == DefectCode.UNCERTAIN).sum()) for _, _, r in results)
        stuck_found[rounds] = sum(
            int(((r.codes == t) & (chip.die.defect[:12] == t)).sum())
            for chip, _, r in results
            for t in (DefectCode.STUCK_P, DefectCode.STUCK_AP)
        )
    # measured: one round leaves 24 uncertain and finds 40 of 57 stuck devices, two 12 and 49
    assert unsettled[2] <= 0.75 * unsettled[1]
    assert stuck_found[2] > stuck_found[1]

    chip, sink, result = _characterize(2)
    record = result.remeasured
    first, second = record["rounds"]
    assert 0 < second["devices"] < first["devices"] == record["devices"]
    assert record["uncertain_after"] == second["uncertain_after"]
    done, selected, data = sink.remeasured
    assert int(selected.sum()) == first["devices"]
    for k, _ in enumerate(done):
        g = data[k].g_after_p  # (6 cycles, reads, rows, cols): round 1 then round 2
        assert g.shape[0] == 6 and data[k].residual_p.shape[0] == 6
        assert np.isfinite(g[:3][:, :, selected[k]]).all()
        later = np.isfinite(g[3:]).all(axis=(0, 1))
        assert not (later & ~selected[k]).any()  # round 2 only takes round 1's devices
    assert (
        sum(int(np.isfinite(d.g_after_p[3:]).all(axis=(0, 1)).sum()) for d in data)
        == (second["devices"])
    )


def test_one_round_keeps_the_record_of_before():
    chip, sink, result = _characterize(1, die=2)
    assert "rounds" not in result.remeasured
    done, selected, data = sink.remeasured
    assert all(d.g_after_p.shape[0] == 3 for d in data)
    assert all(np.isfinite(d.g_after_p).all() for d in data)  # as read, nothing masked


def test_rounds_are_validated_and_old_records_mean_one_round():
    layout = SimulatedChip.from_lot("1t1r-20k", 0, 0).layout
    with pytest.raises(InvalidRequest, match="remeasure_rounds must be an integer >= 1"):
        check_plan(layout, CharacterizationPlan(remeasure_rounds=-1))
    record = plan_record(CharacterizationPlan().resolved(layout))
    assert plan_from_record(record).remeasure_rounds == CharacterizationPlan.remeasure_rounds
    del record["remeasure_rounds"]
    assert plan_from_record(record).remeasure_rounds == 1


class _RecordingSink(MemorySink):
    """A MemorySink that notes the extra cycles of every re-measurement record it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.saved_cycles: list[int] = []

    def save_remeasurement(self, arrays, selected, data) -> None:
        self.saved_cycles.append(data[0].g_after_p.shape[0])
        super().save_remeasurement(arrays, selected, data)


def test_each_round_is_saved_before_the_next_classification():
    # a run stopped during round 2 keeps round 1's data: the record is replaced per round
    chip = SimulatedChip.from_lot(_noisy_low_contrast(), 9001, 0)
    sink = _RecordingSink()
    result = characterize_die(chip, sink, CharacterizationPlan(arrays=tuple(range(12))))
    assert len(result.remeasured["rounds"]) == 2
    assert sink.saved_cycles == [3, 6]
