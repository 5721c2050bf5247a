"""Plan values a bench cannot set exactly are refused before anything is applied, and the
values a procedure chooses itself are the ones the bench sets: the controller carried a read
voltage of 0.1004 V as 0.100 V while every conductance was computed with 0.1004 V (0.4 %
low), and grid amplitudes 0.9001 and 0.9 V went out as one pulse recorded as two points."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from mtj_hil.cli import main
from mtj_hil.protocols import CharacterizationPlan
from mtj_hil.protocols.characterize.plan import check_plan
from mtj_hil.protocols.chip import Pulse
from mtj_hil.protocols.errors import SettingRefused
from mtj_hil.protocols.resolution import refuse_unsettable, settable_volts, settable_width
from mtj_hil.protocols.switching.procedure import (
    MemorySwitchingSink,
    SwitchingPlan,
    default_amplitudes,
    default_widths,
    measure_switching_die,
)
from mtj_hil.protocols.switching.procedure import check_plan as check_switching_plan
from mtj_hil.sim import SimulatedChip
from mtj_hil.station.envelope import planned_layout
from mtj_hil.station.files import load_station

STATION = Path(__file__).resolve().parents[2] / "stations" / "virtual-lab.toml"


@pytest.fixture(scope="module")
def bench():
    """The layout a virtual-lab station reports: 1 mV steps, widths to 4 digits."""
    return planned_layout(load_station(STATION))


def test_a_station_layout_says_how_finely_its_bench_sets_values(bench):
    assert bench.limits.voltage_step == 1e-3 and bench.limits.width_digits == 4
    sim = SimulatedChip.from_lot("1t1r-20k", 0, 0).layout
    assert sim.limits.voltage_step == 0 and "voltage_step" not in sim.as_dict()["limits"]


def test_settable_values_are_the_nearest_the_bench_sets(bench):
    lim = bench.limits
    assert settable_volts(0.1004, lim) == 0.1 and settable_volts(0.1006, lim) == 0.101
    assert settable_width(1.23456789e-6, lim) == 1.235e-6
    assert settable_volts(0.1004, dataclasses.replace(lim, voltage_step=0.0)) == 0.1004
    # arithmetic's last bits are not a finer value
    refuse_unsettable("x", "v", 0.1 + 0.2, lim, "V")
    refuse_unsettable("x", "w", 1e-6 * 10.0**-2, lim, "s")


@pytest.mark.parametrize(
    ("plan", "setting"),
    [
        ({"read_voltage": 0.1004}, "read_voltage"),
        ({"bias_read_voltage": 0.2505}, "bias_read_voltage"),
        ({"pulse": Pulse(0.9001, 1e-7)}, "pulse"),
        ({"pulse": Pulse(0.9, 1.23456789e-7)}, "pulse"),
    ],
)
def test_a_characterisation_value_the_bench_cannot_set_is_refused(bench, plan, setting):
    with pytest.raises(SettingRefused, match="finer than the bench sets") as err:
        check_plan(bench, CharacterizationPlan(arrays=(0,), **plan))
    assert err.value.setting == setting
    # the simulator sets any value
    check_plan(dataclasses.replace(bench, limits=dataclasses.replace(bench.limits, voltage_step=0.0, width_digits=0)), CharacterizationPlan(arrays=(0,), **plan))  # fmt: skip


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"amplitudes": (0.9001, 0.9)}, "amplitudes"),
        ({"widths": (1.23456789e-6,)}, "widths"),
        ({"read_voltage": 0.1004}, "read_voltage"),
        ({"disturb_voltage": 0.2995}, "disturb_voltage"),
        ({"loop_width": 1.00001e-7, "loop_devices": ((0, 0, 0),)}, "loop_width"),
        ({"set_pulse": Pulse(1.0005, 1e-7)}, "set_pulse"),
    ],
)
def test_a_switching_value_the_bench_cannot_set_is_refused(bench, change, setting):
    plan = SwitchingPlan(
        arrays=(0,), amplitudes=default_amplitudes(bench), widths=default_widths(bench)
    )
    check_switching_plan(bench, plan)  # the defaults are settable
    with pytest.raises(SettingRefused, match="finer than the bench sets") as err:
        check_switching_plan(bench, dataclasses.replace(plan, **change))
    assert err.value.setting == setting


def test_the_command_line_refuses_before_any_file(tmp_path, capsys):
    out = tmp_path / "c.h5"
    args = ["characterize", "--station", str(STATION), "--arrays", "0", "--cycles", "1"]
    assert main([*args, "--read-voltage", "0.1004", "--no-report", "--out", str(out)]) == 5
    err = " ".join(capsys.readouterr().err.split())
    assert "read voltage 0.1004 V is finer than the bench sets in steps of 0.001 V" in err
    assert not out.exists()


class _Bench:
    """A simulated die behind a bench that sets voltages in 1 mV steps and widths to 4 digits."""

    def __init__(self, chip: SimulatedChip) -> None:
        self._chip = chip
        limits = dataclasses.replace(chip.layout.limits, voltage_step=1e-3, width_digits=4)
        self.layout = dataclasses.replace(chip.layout, limits=limits)

    def __getattr__(self, name: str):
        return getattr(self._chip, name)


@pytest.mark.slow
def test_pulses_chosen_by_placement_and_loops_are_ones_the_bench_sets():
    chip = _Bench(SimulatedChip.from_lot("1t1r-20k", 0, 3))
    layout = chip.layout
    plan = SwitchingPlan(
        arrays=(0,),
        amplitudes=default_amplitudes(layout),
        widths=default_widths(layout),
        placement="information",
        disturb_reads=0,
        floor_trials=0,
        loop_devices=((0, 1, 1),),
        loop_steps=7,
    )
    data = measure_switching_die(chip, MemorySwitchingSink(), plan)[0]
    millivolts = np.concatenate([data.amplitude, data.loop_voltage]) * 1e3
    assert np.allclose(millivolts, np.round(millivolts), rtol=0, atol=1e-6)
    assert len(data.amplitude) > 2 * len(plan.widths)  # placed, not only the grid's edges
    assert all(float(f"{w:.3e}") == w for w in data.width)
