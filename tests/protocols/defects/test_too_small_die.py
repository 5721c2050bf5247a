"""A die too small to fit its level distributions is refused for that reason: every device
switched, so the message must not say that the devices did not switch."""

from __future__ import annotations

import dataclasses

import pytest

from mtj_hil.protocols import CharacterizationPlan, MemorySink, characterize_die
from mtj_hil.protocols.errors import ProtocolError
from mtj_hil.sim import SimulatedChip, load_profile


@pytest.mark.parametrize("rows", [1, 2, 3])
def test_a_die_with_fewer_devices_than_the_fit_needs_says_so(rows):
    base = load_profile("1t1r-20k")
    geometry = dataclasses.replace(base.geometry, n_arrays=1, rows=rows, cols=1)
    chip = SimulatedChip.from_lot(dataclasses.replace(base, geometry=geometry), 0, 0)
    with pytest.raises(ProtocolError, match="needs at least 4") as refused:
        characterize_die(chip, MemorySink(), CharacterizationPlan(cycles=2))
    assert "did not switch" not in str(refused.value)
