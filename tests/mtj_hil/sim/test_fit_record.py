"""The [fit] table fit-profile writes last is checked: a line appended to a fitted profile,
or a profile key moved into [fit], is refused (exit 3, naming the key and its section); what
fit-profile writes now and what older versions wrote still loads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mtj_hil.cli.main import main
from mtj_hil.profile_fit.fit import FittedProfile, FitValue
from mtj_hil.profile_fit.writer import write_profile_toml
from mtj_hil.sim.profile import as_dict, load_profile

LEGACY = Path(__file__).resolve().parents[2] / "fixtures" / "legacy-0.1" / "fitted-profile.toml"


@pytest.fixture
def fitted(tmp_path: Path) -> Path:
    """A profile as fit-profile writes it (every part of [fit] present)."""
    data = as_dict(load_profile("1t1r-20k"))
    data["name"] = "fitted"
    fp = FittedProfile(
        data=data,
        values={
            "resistance.r_p_median": FitValue(20e3, 5.0, "GOOD devices"),
            "read.noise_rel": FitValue(1e-3, None, "repeated reads"),
            "populations.fractions[0]": FitValue(0.5, 0.1, "BIC"),
        },
        defaults=["read.noise_abs"],
        derived={"tmr": FitValue(1.0, 0.01, "r_ap_median / r_p_median - 1")},
        runs=[{"path": "c.h5", "kind": "characterization", "die_id": "sim:x:lot0:die0"}],
        warnings=["a warning"],
    )
    return write_profile_toml(fp, tmp_path / "fitted.toml")


def _show(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["show", str(path)])
    return code, capsys.readouterr().err


def test_what_fit_profile_writes_and_wrote_loads(fitted: Path) -> None:
    assert load_profile(fitted).name == "fitted"
    assert load_profile(LEGACY).resistance.r_p_median > 0  # an older version's output


def test_a_line_appended_to_a_fitted_profile_is_refused(fitted, capsys) -> None:
    with fitted.open("a") as f:
        f.write("offset_sigma = 1e-7\n")
    code, err = _show(fitted, capsys)
    assert code == 3, err
    assert "fitted.toml: fit.runs[0].offset_sigma is not a key of [[fit.runs]]" in err
    assert "allowed: path, kind, die_id; offset_sigma is a key of [read]" in err


def test_a_key_moved_into_fit_is_refused(fitted, capsys) -> None:
    text = fitted.read_text().replace("[fit]\n", "[fit]\nread_width = 1e-9\n")
    fitted.write_text(text)
    code, err = _show(fitted, capsys)
    assert code == 3, err
    assert "fit.read_width is not a key of [fit]; allowed: defaults, warnings" in err
    assert "read_width is a key of [read]" in err


@pytest.mark.parametrize(
    ("part", "line", "words"),
    [
        ("[fit.uncertainty]", "read.noise_abs = 5e-8",
         'fit.uncertainty."read" is not a key fit-profile writes'),
        ("[fit.uncertainty]", '"read.noise_typo" = 5e-8',
         'fit.uncertainty."read.noise_typo" is not a key fit-profile writes'),
        ("[fit.source]", '"read.noise_abs" = 5e-8',
         'fit.source."read.noise_abs" = 5e-08 must be a string'),
        ("[fit]", "tmr_sd = 'x'", "fit.tmr_sd must be a number, got 'x'"),
    ],
)  # fmt: skip
def test_a_wrong_line_in_a_fit_subtable_is_refused(fitted, capsys, part, line, words) -> None:
    text = fitted.read_text()
    if part == "[fit]":
        text = re.sub(r"(?m)^tmr_sd = .*\n", "", text)  # the new line replaces it
    fitted.write_text(text.replace(f"{part}\n", f"{part}\n{line}\n"))
    code, err = _show(fitted, capsys)
    assert code == 3, err
    assert words in err
