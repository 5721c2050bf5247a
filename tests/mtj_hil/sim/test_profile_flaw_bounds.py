"""Hostile values in a die profile's optional sections (and the flaw keys of [read]) are
refused when the profile loads: one message naming the file, the section.key, the value and
what is allowed; physically meaningful values (integers where floats are expected too) still
load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mtj_hil.errors import ConfigError
from mtj_hil.sim.profile import PROFILE_DIR, DeviceProfile, load_profile

LAB = (PROFILE_DIR / "1t1r-lab-wafer.toml").read_text(encoding="utf-8")
"""The shipped profile with every flaw section but [clock]."""


def _edit(text: str, section: str, key: str, value: str) -> str:
    """``text`` with ``key = value`` (TOML source) in ``[section]``: replaced where the key
    is, else added as the section's first key (the section added where absent)."""
    lines = text.splitlines()
    if f"[{section}]" not in lines:
        lines[lines.index("[limits]") : lines.index("[limits]")] = [f"[{section}]", ""]
    start = lines.index(f"[{section}]") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("[")), len(lines))
    at = next((i for i in range(start, end) if lines[i].split("=")[0].strip() == key), None)
    if at is None:
        lines.insert(start, f"{key} = {value}")
    else:
        lines[at] = f"{key} = {value}"
    return "\n".join(lines) + "\n"


def _write(tmp_path: Path, edits: dict[str, str], text: str = LAB) -> Path:
    """A profile file: ``text`` with ``{"section.key": "TOML value"}`` applied."""
    for dotted, value in edits.items():
        section, key = dotted.split(".")
        text = _edit(text, section, key, value)
    path = tmp_path / "hand-edited.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _refused(tmp_path: Path, edits: dict[str, str], text: str = LAB) -> str:
    """The one-line message the profile is refused with (it names the file)."""
    path = _write(tmp_path, edits, text)
    with pytest.raises(ConfigError) as caught:
        load_profile(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message, message
    return message


def _loads(tmp_path: Path, edits: dict[str, str], text: str = LAB) -> DeviceProfile:
    return load_profile(_write(tmp_path, edits, text))


@pytest.mark.parametrize("value", ["1e-300", "1e-6", "0.05", "0.0999"])
def test_a_v_half_near_zero_is_refused(tmp_path, value):
    """It overflowed the AP curvature (divide-by-zero warnings, then exit 5)."""
    message = _refused(tmp_path, {"bias.v_half": value})
    assert f"bias.v_half = {float(value)!r} is out of range" in message
    assert "allowed: a number in [0.1, 100] V" in message


@pytest.mark.parametrize("value", ["0.2", "1", "100"])
def test_a_plausible_v_half_loads(tmp_path, value):
    """(0.1 V, the schema's floor, loads only where the read limit is low enough for the
    TMR to stay positive: see ``test_bias_physics``.)"""
    profile = _loads(tmp_path, {"bias.v_half": value})
    assert profile.bias is not None and profile.bias.v_half == float(value)


@pytest.mark.parametrize(
    ("key", "value"),
    [("tc_r_p", "0.02"), ("tc_r_ap", "-0.0101"), ("tc_short", "-0.02"), ("tc_r_ap", "1e308")],
)
def test_a_temperature_coefficient_that_can_reach_zero_resistance_is_refused(tmp_path, key, value):
    """At 0.02 per K the 50 K swing allowed reached the pole of ``1 / (1 + tc dT)``."""
    message = _refused(tmp_path, {f"drift.{key}": value})
    assert f"drift.{key} = {float(value)!r} is out of range" in message
    assert "allowed: -0.01..0.01 per K" in message


def test_a_drifting_die_s_conductances_stay_positive_however_long_the_run():
    """The steepest drift a profile may state: the temperature stops 50 K from the start,
    so a long run no longer takes R0 (1 + tc dT) through zero (a die with TMR -9 %, exit 0)."""
    from mtj_hil.sim.die import make_die

    quiet = {"noise_rel": 0.0, "noise_abs": 0.0}
    steep = {"ramp": 10.0, "amplitude": 0.0, "tc_r_ap": -0.01, "tc_r_p": -0.01}
    profile = load_profile("1t1r-20k").replace(bias=None, read=quiet, drift=steep)
    die = make_die(profile, 0, 0)
    v = 0.1 * np.eye(25)[:1]
    first = die.read(0, v)[0]
    die.clock += 1e4  # 100,000 K of ramp, were it not stopped
    later = die.read(0, v)[0]
    assert profile.drift is not None and profile.drift.delta_t(1e4) == 50.0
    good = die.defect[0][0] == 0
    assert np.allclose(later[good] / first[good], 1 / (1 - 0.01 * 50.0), rtol=1e-6)


PASSIVE = (PROFILE_DIR / "passive-15x15.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize("value", ["1e4", "1e12", "1e308"])
def test_a_line_resistance_beyond_any_metal_line_is_refused(tmp_path, value):
    """Up to the ohm ceiling (1e12) it loaded and the IR drop ended the run in exit 5."""
    message = _refused(tmp_path, {"read.line_resistance": value}, PASSIVE)
    assert f"read.line_resistance = {float(value)!r} is out of range" in message
    assert "allowed: a number in [0, 1000] ohm" in message


@pytest.mark.parametrize("value", ["0", "1", "1000"])
def test_a_plausible_line_resistance_loads(tmp_path, value):
    profile = _loads(tmp_path, {"read.line_resistance": value}, PASSIVE)
    assert profile.read.line_resistance == float(value)


@pytest.mark.parametrize("value", ["1", "1e-3", "6.01e-4"])
def test_a_resistive_open_conducting_more_than_a_short_is_refused(tmp_path, value):
    """Up to 1 S loaded: the "opens" were measured as shorts (exit 0)."""
    message = _refused(tmp_path, {"resistive_opens.g_high": value})
    assert f"resistive_opens.g_high = {float(value)!r} is out of range" in message
    assert "allowed <= defects.short_g_median = 0.0006 S" in message


def test_a_resistive_open_up_to_a_short_s_conductance_loads(tmp_path):
    profile = _loads(tmp_path, {"resistive_opens.g_high": "6e-4"})
    assert profile.resistive_opens is not None and profile.resistive_opens.g_high == 6e-4


@pytest.mark.parametrize(
    ("dotted", "belongs"),
    [
        ("nominal_pulse.ramp", "[drift]"),
        ("telegraph.tc_r_p", "[drift]"),
        ("drift.width", "[nominal_pulse]"),
        ("spatial.fraction", "[telegraph], [resistive_opens], [pinholes] or [partial_switching]"),
    ],
)
def test_a_key_under_the_wrong_section_header_is_named_with_its_section(tmp_path, dotted, belongs):
    """It was refused with a misleading closest match (nominal_pulse.ramp: "amplitude")."""
    message = _refused(tmp_path, {dotted: "0.1"})
    section = dotted.split(".")[0]
    assert f"{dotted} is not a key of [{section}]; it is a key of {belongs}" in message
    assert "closest match" not in message


def test_a_section_key_above_the_first_header_is_named_with_its_section(tmp_path):
    path = tmp_path / "top.toml"
    path.write_text("ramp = 0.1\n" + LAB, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_profile(path)
    assert str(caught.value).startswith(
        f"{path}: ramp is not a top-level key of a die profile; it is a key of [drift]"
    )


def test_a_misspelt_key_still_gets_the_closest_match(tmp_path):
    message = _refused(tmp_path, {"telegraph.rate_sigam": "1.0"})
    assert "telegraph.rate_sigam is not a key of [telegraph]; closest match: rate_sigma" in message


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("fractions", "1.0", "got 1.0"),
        ("r_scale", '"1"', "got '1'"),
        ("r_scale", "true", "got True"),
        ("fractions", "{}", "got {}"),
    ],
)
def test_a_list_key_given_something_else_names_the_value(tmp_path, key, value, shown):
    """It was refused without the value: "populations.fractions must be each 0..1, ..."."""
    message = _refused(tmp_path, {f"populations.{key}": value})
    assert f"populations.{key} must be a list of numbers, each " in message
    assert message.endswith(shown), message


def test_a_list_out_of_range_is_shown_as_the_file_wrote_it(tmp_path):
    message = _refused(tmp_path, {"populations.fractions": "[0.5]"})
    assert "populations.fractions = [0.5] is out of range; allowed a sum of 1" in message


def test_characterize_refuses_a_hostile_flaw_value_with_exit_3_and_one_message(tmp_path, capsys):
    """What a user runs: a v_half near zero printed divide-by-zero warnings and ended in
    exit 5 ("refusing to classify"); now exit 3, one message, no run file."""
    from mtj_hil.cli.main import main

    path = _write(tmp_path, {"bias.v_half": "1e-300"})
    out = tmp_path / "run.h5"
    argv = ["characterize", "--profile", str(path), "--arrays", "0", "--no-report"]
    code = main([*argv, "--out", str(out)])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 3, err
    assert f"{path}: bias.v_half = 1e-300 is out of range; allowed: a number in [0.1, 100] V" in err
    assert err.count("error (") == 1 and "warning" not in err.lower(), err
    assert not out.exists()


def test_a_clock_that_never_moves_is_refused_where_drift_runs_on_it(tmp_path):
    """``[clock]`` with both steps 0 loaded, and the die's drift and telegraph noise stood
    still for the whole run without a word."""
    message = _refused(tmp_path, {"clock.read_vector_time": "0", "clock.pulse_time": "0"})
    assert "clock.read_vector_time = 0.0 is out of range" in message
    assert "[drift] runs on the simulated clock" in message
    # one step that moves is enough; and a profile without drift may stop the clock
    assert _loads(tmp_path, {"clock.read_vector_time": "0", "clock.pulse_time": "1e-6"}).clock
    still = PROFILE_DIR.joinpath("1t1r-20k.toml").read_text(encoding="utf-8")
    assert _loads(tmp_path, {"clock.read_vector_time": "0", "clock.pulse_time": "0"}, still)
