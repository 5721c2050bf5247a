"""The switching trial limits are defined once (``protocols.switching.procedure``) and the
plan check, the command's options and the campaign keys all use them; a refusal of the plan
check names the setting it refused, and a campaign points at that key."""

from __future__ import annotations

import re
from dataclasses import replace

import click
import pytest

from mtj_hil.campaigns import load_campaign
from mtj_hil.campaigns.kinds.switching import KEYS, refused_key
from mtj_hil.cli.switching import switching
from mtj_hil.errors import ConfigError
from mtj_hil.protocols.chip import Pulse
from mtj_hil.protocols.errors import InvalidRequest, SettingRefused
from mtj_hil.protocols.switching.procedure import (
    MAX_DISTURB_READS,
    MAX_TARGET_WER,
    MAX_TAU0,
    MAX_TRIALS,
    SwitchingPlan,
    check_plan,
)
from mtj_hil.sim import SimulatedChip

LIMITS = {
    "trials": MAX_TRIALS,
    "probe_trials": MAX_TRIALS,
    "floor_trials": MAX_TRIALS,
    "disturb_reads": MAX_DISTURB_READS,
}


@pytest.fixture(scope="module")
def layout():
    return SimulatedChip.from_lot("1t1r-20k", 0, 0).layout


def small_plan(**changes) -> SwitchingPlan:
    return replace(SwitchingPlan(arrays=(0,), amplitudes=(0.6, 0.8), widths=(1e-6,)), **changes)


def test_the_command_and_the_campaign_take_the_plan_checks_limits():
    options = {p.name: p for p in switching.params}
    fields = {f.name: f for f in KEYS.fields}
    for name, top in LIMITS.items():
        assert isinstance(options[name].type, click.IntRange)
        assert options[name].type.max == top, name
        assert fields[name].hi == top, name
    for name, top in (("tau0", MAX_TAU0), ("target_wer", MAX_TARGET_WER)):
        assert isinstance(options[name].type, click.FloatRange)
        assert options[name].type.max == top and options[name].type.max_open, name
        assert fields[name].hi == top and fields[name].hi_open, name


@pytest.mark.parametrize(("name", "top"), [("tau0", MAX_TAU0), ("target_wer", MAX_TARGET_WER)])
def test_the_plan_check_refuses_an_open_upper_end_as_the_command_does(layout, name, top):
    check_plan(layout, small_plan(**{name: top * 0.99}))
    with pytest.raises(SettingRefused, match=f"{name} must be in") as info:
        check_plan(layout, small_plan(**{name: top}))
    assert info.value.setting == name


@pytest.mark.parametrize("name", sorted(LIMITS))
def test_the_plan_check_refuses_one_past_each_limit_naming_the_setting(layout, name):
    top = LIMITS[name]
    check_plan(layout, small_plan(**{"trials": MAX_TRIALS, name: top}))
    with pytest.raises(SettingRefused, match=f"{name} must be") as info:
        check_plan(layout, small_plan(**{"trials": MAX_TRIALS, name: top + 1}))
    assert info.value.setting == name


@pytest.mark.parametrize(
    ("changes", "setting"),
    [
        ({"widths": (1.0,)}, "widths"),
        ({"amplitudes": (9.0,)}, "amplitudes"),
        ({"probe_trials": 20}, "probe_trials"),
        ({"arrays": (99,)}, "arrays"),
        ({"set_pulse": Pulse(9.0, 1e-6)}, "set_pulse"),
        ({"target_wer": 2.0}, "target_wer"),
        ({"loop_devices": ((0, 999, 0),)}, "loop_devices"),
    ],
)
def test_every_refusal_of_the_plan_check_says_which_setting(layout, changes, setting):
    with pytest.raises(SettingRefused) as info:
        check_plan(layout, small_plan(**changes))
    assert info.value.setting == setting


@pytest.mark.parametrize("key", ["trials", "probe_trials", "floor_trials"])
def test_a_campaign_refuses_past_the_limit_at_load_naming_the_key(switching_campaign, key):
    extra = f"{key} = {MAX_TRIALS + 1}" + ("\ntrials = 60000" if key == "probe_trials" else "")
    path = switching_campaign(extra)
    with pytest.raises(ConfigError, match=re.escape(f"task[0].{key} = {MAX_TRIALS + 1}")):
        load_campaign(path)
    extra = f"trials = {MAX_TRIALS}" + (f"\n{key} = {MAX_TRIALS}" if key != "trials" else "")
    load_campaign(switching_campaign(extra))


def test_a_refusal_points_at_the_setting_key_or_at_where_the_die_comes_from():
    for setting in ("trials", "probe_trials", "floor_trials", "disturb_reads", "widths",
                    "amplitudes", "arrays"):  # fmt: skip
        assert refused_key(SettingRefused(setting, "no"), {}) == setting
    # the set pulse is the die's nominal one: its limits come from the station or profile
    assert refused_key(SettingRefused("set_pulse", "no"), {"station": "s.toml"}) == "station"
    assert refused_key(SettingRefused("set_pulse", "no"), {}) == "profile"
    assert refused_key(InvalidRequest("a width of 1 s"), {}) == "profile"


def test_a_campaign_names_the_width_the_envelope_refuses(switching_campaign):
    with pytest.raises(ConfigError, match=re.escape("task[0].widths = [1.0] is refused")):
        load_campaign(switching_campaign(widths="[1.0]"))
