"""Physically impossible or meaningless die profiles are refused when they load, naming the
key and the rule; the shipped profiles and what fit-profile writes still load."""

from __future__ import annotations

import copy
import tomllib
from typing import Any

import numpy as np
import pytest

from mtj_hil.cli.main import main
from mtj_hil.errors import ConfigError
from mtj_hil.protocols.defects.codes import DefectCode
from mtj_hil.sim.die import make_die
from mtj_hil.sim.profile import (
    MAX_DEVICES,
    PROFILE_DIR,
    available_profiles,
    load_profile,
    profile_from_dict,
)

_BASE = tomllib.loads((PROFILE_DIR / "1t1r-20k.toml").read_text(encoding="utf-8"))


def _data(**sections: dict[str, Any]) -> dict[str, Any]:
    """The shipped 1t1r-20k profile as a small die (2 arrays of 8 x 8), ``sections`` merged
    in (a top-level key as ``top={"name": ...}``)."""
    data = copy.deepcopy(_BASE)
    data["geometry"].update(n_arrays=2, rows=8, cols=8)
    for section, changes in sections.items():
        if section == "top":
            data.update(changes)
        else:
            data.setdefault(section, {}).update(changes)
    return data


def _refused(data: dict[str, Any], *words: str) -> str:
    with pytest.raises(ConfigError) as err:
        profile_from_dict(data, source="copy.toml")
    text = str(err.value)
    assert text.startswith("copy.toml: ")
    for word in words:
        assert word in text, text
    return text


def _passive(**read: Any) -> dict[str, Any]:
    data = copy.deepcopy(tomllib.loads((PROFILE_DIR / "passive-15x15.toml").read_text()))
    data["read"].update(read)
    return data


# -- 1. defect rates -------------------------------------------------------------------------


def test_defect_rates_summing_above_one_are_refused():
    rates = dict.fromkeys(("short_rate", "open_rate", "stuck_p_rate", "stuck_ap_rate"), 0.49)
    _refused(_data(defects=rates), "short_rate + open_rate + stuck_p_rate + stuck_ap_rate", "<= 1")
    profile_from_dict(_data(defects=dict.fromkeys(rates, 0.25)))  # a sum of 1 is a die


def test_die_spread_cannot_push_one_die_rates_past_one():
    """The die-to-die factor is clipped per die so its rates sum to 1 at most; every class
    keeps its share (before, the last classes were starved: ``min(sum(counts), n)``)."""
    rates = dict.fromkeys(("short_rate", "open_rate", "stuck_p_rate", "stuck_ap_rate"), 0.24)
    prof = profile_from_dict(
        _data(geometry={"rows": 64, "cols": 64}, defects={**rates, "die_spread": 1.0})
    )
    crowded = 0
    for k in range(12):
        die = make_die(prof, 0, k)
        assert die.defect_rate_factor * 0.96 <= 1.0 + 1e-12
        n = die.point_defect.size
        counts = [int((die.point_defect == code).sum()) for code in range(1, 5)]
        if sum(counts) > 0.9 * n:  # a die whose factor was clipped
            crowded += 1
            assert min(counts) > 0.2 * n, counts
    assert crowded >= 2


def test_poisson_overshoot_keeps_each_class_share():
    """Rates summing to 1: the Poisson counts overshoot the die half the time; the last class
    (stuck AP) keeps its quarter rather than the remainder."""
    rates = dict.fromkeys(("short_rate", "open_rate", "stuck_p_rate", "stuck_ap_rate"), 0.25)
    prof = profile_from_dict(_data(defects={**rates, "die_spread": 0.0}))
    stuck_ap = [
        float((make_die(prof, 1, k).point_defect == DefectCode.STUCK_AP).mean()) for k in range(100)
    ]
    assert np.mean(stuck_ap) == pytest.approx(0.25, abs=0.015)


# -- 2. defect conductances --------------------------------------------------------------------


def test_an_open_must_conduct_less_than_the_ap_state():
    g_ap = 1.0 / _BASE["resistance"]["r_ap_median"]
    for open_g in (g_ap, 1.0 / _BASE["resistance"]["r_p_median"], 1e-3):
        _refused(
            _data(defects={"open_g": open_g}), "defects.open_g", "< 1 / resistance.r_ap_median"
        )
    profile_from_dict(_data(defects={"open_g": 0.5 * g_ap}))


def test_a_short_must_conduct_more_than_the_p_state():
    g_p = 1.0 / _BASE["resistance"]["r_p_median"]
    for short_g in (g_p, 1e-6):
        _refused(
            _data(defects={"short_g_median": short_g}),
            "defects.short_g_median",
            "> 1 / resistance.r_p_median",
        )
    profile_from_dict(_data(defects={"short_g_median": 1.1 * g_p}))


# -- 3. breakdown ------------------------------------------------------------------------------


def test_breakdown_floor_above_the_median_is_refused():
    _refused(
        _data(switching={"breakdown_floor": 1.6}),
        "switching.breakdown_floor",
        "<= switching.breakdown_voltage",
    )
    profile_from_dict(_data(switching={"breakdown_floor": 1.5}))


# -- 4. resistance ratio -----------------------------------------------------------------------


def test_r_ap_not_above_r_p_is_refused():
    _refused(_data(resistance={"r_ap_median": 4292.0}), "resistance.r_ap_median", "> r_p_median")


def test_absurd_tmr_is_refused():
    _refused(
        _data(resistance={"r_ap_median": 7.5e9}),
        "resistance.r_ap_median",
        "TMR at most 1000 %",
        "600 % (CoFeB/MgO)",
    )
    profile_from_dict(_data(resistance={"r_ap_median": 11 * 4292.0}))


# -- 5. passive-only keys on 1T1R cells --------------------------------------------------------


def test_line_resistance_on_a_1t1r_die_is_refused():
    _refused(_data(read={"line_resistance": 1.0}), "read.line_resistance", "0 for 1T1R cells")
    profile_from_dict(_passive(line_resistance=1.0))


def test_half_select_on_a_1t1r_die_is_refused():
    _refused(_data(switching={"half_select": True}), "switching.half_select", "1T1R cells")


@pytest.mark.parametrize("name", available_profiles())
def test_every_shipped_profile_still_loads(name):
    assert load_profile(name).name == name


def test_fit_of_1t1r_runs_on_a_passive_base_writes_a_loadable_profile(tmp_path, capsys):
    src = tmp_path / "small.toml"
    text = (PROFILE_DIR / "1t1r-20k.toml").read_text(encoding="utf-8")
    for old, new in (("n_arrays = 32", "n_arrays = 2"), ("rows = 25", "rows = 8")):
        text = text.replace(old, new)
    src.write_text(text.replace("cols = 25", "cols = 8"), encoding="utf-8")
    run, out = tmp_path / "c0.h5", tmp_path / "f.toml"
    assert main(["characterize", "--profile", str(src), "--die", "0"]
                + ["--out", str(run), "--no-report"]) == 0  # fmt: skip
    assert main(["fit-profile", str(run), "--base", "passive-15x15", "-o", str(out)]) == 0
    fitted = load_profile(out)
    assert fitted.geometry.cell == "1T1R"
    assert fitted.read.line_resistance == 0.0
    assert fitted.switching.half_select is False


# -- 6. name -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("", "must be a non-empty name"),
        ("   ", "must be a non-empty name"),
        ("a:b", "must not contain ':'"),
    ],
)
def test_empty_or_colon_names_are_refused(tmp_path, name, rule):
    path = tmp_path / "copy.toml"
    text = (PROFILE_DIR / "1t1r-20k.toml").read_text(encoding="utf-8")
    path.write_text(text.replace('name = "1t1r-20k"', f'name = "{name}"'), encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"copy\.toml: name {rule}"):
        load_profile(path)


# -- 7. spatial grid ---------------------------------------------------------------------------


def test_grid_wider_than_the_die_is_refused():
    _refused(_data(spatial={"grid_cols": 4000}), "spatial.grid_cols", "0..geometry.n_arrays = 2")
    for ok in (0, 1, 2):
        profile_from_dict(_data(spatial={"grid_cols": ok}))


# -- 8. size -----------------------------------------------------------------------------------


def test_a_die_too_big_for_memory_is_refused_at_load():
    big = {"n_arrays": 4096, "rows": 4096, "cols": 4096}
    _refused(_data(geometry=big), "geometry.n_arrays * rows * cols", f"<= {MAX_DEVICES:,}")
    _refused(_data(geometry={**big, "n_arrays": 2}), "geometry.n_arrays * rows * cols")
    # one array of the schema's largest size is the cap: it loads
    profile_from_dict(_data(geometry={**big, "n_arrays": 1}))


def test_an_edge_band_rate_above_one_keeps_every_class():
    """Rates x edge_factor summing past 1 made the band all shorts and opens (the first
    classes) and no stuck devices; the band is now all defects in the classes' shares."""
    base = load_profile("1t1r-20k")
    rates = {"short_rate": 0.1, "open_rate": 0.1, "stuck_p_rate": 0.1, "stuck_ap_rate": 0.1}
    profile = base.replace(
        defects=rates, spatial={"edge_width": 2, "edge_factor": 20, "dead_array_rate": 0}
    )
    from mtj_hil.sim.flaws import device_coordinates

    die = make_die(profile, 0, 0)
    x, y, width, height = device_coordinates(die)
    band = np.minimum(np.minimum(x, width - x), np.minimum(y, height - y)) < 2
    codes = np.asarray(die.defect)[band]
    for code in (DefectCode.SHORT, DefectCode.OPEN, DefectCode.STUCK_P, DefectCode.STUCK_AP):
        share = float((codes == code).mean())
        assert 0.18 < share < 0.32, (code, share)  # a quarter each (base draw: 0.1)


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("read", "noise_abs"),
        ("read", "noise_rel"),
        ("switching", "delta"),
        ("defects", "short_g_median"),
        ("bias", "v_half"),
        ("limits", "max_pulse_width"),
        ("resistance", "r_ap_median"),
    ],
)
def test_an_absurdly_large_value_is_refused_when_the_profile_loads(tmp_path, capsys, section, key):
    """1e308 loaded, then overflowed in the physics: numpy warnings and a misleading exit 5
    ("check the probe contact"), or exit 0 with a divide-by-zero warning."""
    text = (PROFILE_DIR / "1t1r-20k.toml").read_text(encoding="utf-8")
    lines = text.splitlines()
    start = lines.index(f"[{section}]")
    at = next(i for i in range(start, len(lines)) if lines[i].startswith(f"{key} "))
    lines[at] = f"{key} = 1e308"
    path = tmp_path / "huge.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "run.h5"
    code = main(["characterize", "--profile", str(path), "--arrays", "0", "--out", str(out)])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 3, err
    assert f"{section}.{key} = 1e+308 is out of range" in err, err
    assert not out.exists()
