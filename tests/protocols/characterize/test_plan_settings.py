"""The characterisation plan check names the setting it refuses (``SettingRefused.setting``),
so the command, the library and a campaign point at their own option or key without
reading the message (a campaign used to guess the key from words in it)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mtj_hil.campaigns import load_campaign
from mtj_hil.errors import ConfigError
from mtj_hil.protocols.characterize.plan import CharacterizationPlan, check_plan
from mtj_hil.protocols.chip import Pulse
from mtj_hil.protocols.errors import SettingRefused
from mtj_hil.sim import load_profile

LAYOUT = load_profile("1t1r-20k").layout
BASE = CharacterizationPlan(arrays=(0,))


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"arrays": ()}, "arrays"),
        ({"arrays": (0, 0)}, "arrays"),
        ({"arrays": (40,)}, "arrays"),
        ({"cycles": 0}, "cycles"),
        ({"reads": 0}, "reads"),
        ({"remeasure_cycles": -1}, "remeasure_cycles"),
        ({"remeasure_cycles": 0, "remeasure_rounds": 5}, "remeasure_rounds"),
        ({"remeasure_budget": 1.5}, "remeasure_budget"),
        ({"read_voltage": 0.9}, "read_voltage"),
        ({"read_voltage": 0.1, "bias_read_voltage": 5.0}, "bias_read_voltage"),
        ({"pulse": Pulse(5.0, 1e-6)}, "pulse"),
    ],
)
def test_each_refusal_names_its_setting(change, setting):
    with pytest.raises(SettingRefused) as info:
        check_plan(LAYOUT, replace(BASE, **change))
    assert info.value.setting == setting


@pytest.mark.parametrize(
    ("extra", "key"),
    [("read_voltage = 0.9", "read_voltage"), ('arrays = "0,0"', "arrays"),
     ("cycles = 0", "cycles"), ("reads = 0", "reads")],
)  # fmt: skip
def test_a_campaign_names_the_key(tmp_path, extra, key):
    path = tmp_path / "c.toml"
    path.write_text(
        '[campaign]\nname = "c"\nout_dir = "out"\n\n[[task]]\nname = "g"\n'
        f'kind = "characterize"\ndies = "0"\n{extra}\n'
    )
    with pytest.raises(ConfigError, match=rf"task\[0\]\.{key}"):
        load_campaign(path)
