"""mtj-hil fit-profile: a loadable profile fitted from measured runs, and refusals."""

from __future__ import annotations

import shutil
import tomllib

import numpy as np
import pytest

from mtj_hil.cli.main import main
from mtj_hil.profile_fit.fit import fit_profile
from mtj_hil.runs.store.runfile import RunFile
from mtj_hil.runs.store.switching import load_switching
from mtj_hil.sim import SimulatedChip, load_profile

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lot(tmp_path_factory):
    """Four characterised dies (8 arrays each) and one switching run of the default profile."""
    d = tmp_path_factory.mktemp("lot")
    chars = []
    for die in range(4):
        out = d / f"c{die}.h5"
        assert (
            main(
                [
                    "characterize",
                    "--die",
                    str(die),
                    "--arrays",
                    "0-7",
                    "--cycles",
                    "3",
                    "--reads",
                    "2",
                    "--out",
                    str(out),
                    "--no-report",
                ]
            )
            == 0
        )
        chars.append(out)
    sw = d / "s.h5"
    assert (
        main(
            [
                "switching",
                "--die",
                "0",
                "--arrays",
                "0",
                "--out",
                str(sw),
                "--no-report",
                "--disturb-reads",
                "0",
            ]
        )
        == 0
    )
    return d, chars, sw


def test_fitted_profile_matches_the_generating_one_and_loads(lot, capsys):
    d, chars, sw = lot
    out = d / "fit.toml"
    assert main(["fit-profile", *map(str, chars), str(sw), "-o", str(out)]) == 0
    truth = load_profile("1t1r-20k")
    fitted = load_profile(out)
    r, rt = fitted.resistance, truth.resistance
    assert r.r_p_median == pytest.approx(rt.r_p_median, rel=0.01)
    assert r.r_ap_median == pytest.approx(rt.r_ap_median, rel=0.01)
    assert r.r_p_sigma == pytest.approx(rt.r_p_sigma, rel=0.1)
    assert r.rp_rap_correlation == pytest.approx(rt.rp_rap_correlation, abs=0.05)
    assert fitted.read.noise_rel == pytest.approx(truth.read.noise_rel, rel=0.1)
    s, st = fitted.switching, truth.switching
    assert s.vc_to_ap == pytest.approx(st.vc_to_ap, rel=0.03)
    assert s.delta == pytest.approx(st.delta, rel=0.06)
    assert s.vc_sigma == pytest.approx(st.vc_sigma, rel=0.25)
    # the profile has no Delta spread: the fitted one is 0 within its stated uncertainty
    delta_sigma_sd = tomllib.loads(out.read_text())["fit"]["uncertainty"]["switching.delta_sigma"]
    assert 0 < delta_sigma_sd < 0.03
    assert s.delta_sigma <= 3 * delta_sigma_sd
    assert s.write_error_floor == pytest.approx(st.write_error_floor, rel=0.4)
    total = sum(
        getattr(fitted.defects, k)
        for k in ("short_rate", "open_rate", "stuck_p_rate", "stuck_ap_rate")
    )
    assert 0.3 * 0.007 < total < 3 * 0.007
    doc = tomllib.loads(out.read_text())
    assert "switching.breakdown_voltage" in doc["fit"]["defaults"]
    assert doc["fit"]["uncertainty"]["resistance.r_p_median"] > 0
    assert len(doc["fit"]["runs"]) == 5
    assert "default: the runs cannot tell" in out.read_text()
    # four dies are enough for a die-to-die spread, with its uncertainty
    assert "defects.die_spread" in doc["fit"]["uncertainty"]
    # the fitted profile generates dies like any other
    assert (
        main(
            [
                "characterize",
                "--profile",
                str(out),
                "--die",
                "9",
                "--arrays",
                "0-3",
                "--out",
                str(d / "regen.h5"),
                "--no-report",
            ]
        )
        == 0
    )
    chip = SimulatedChip.from_lot(fitted, 0, 1)
    rp = chip.die.r_p
    assert np.median(rp) == pytest.approx(rt.r_p_median, rel=0.01)


def test_one_die_keeps_the_spread_at_its_default(lot):
    d, chars, _ = lot
    fp = fit_profile([chars[0]], load_profile("1t1r-20k"), name="one")
    assert "defects.die_spread" in fp.defaults
    assert "switching.delta" in fp.defaults  # no switching run given
    assert "switching.delta_sigma" in fp.defaults
    assert fp.values["resistance.r_p_median"].sd > 0


def test_fit_profile_refuses_what_it_cannot_use(lot, tmp_path, capsys):
    d, chars, sw = lot
    profile_file = tmp_path / "p.toml"
    profile_file.write_text("name = 'x'\n")
    other = tmp_path / "other.h5"
    RunFile.create(other, "training", die_id="x").close()
    passive = tmp_path / "passive.h5"
    assert (
        main(["characterize", "--profile", "passive-15x15", "--out", str(passive), "--no-report"])
        == 0
    )
    unfinished = tmp_path / "unfinished.h5"
    shutil.copy(sw, unfinished)
    with RunFile.open(unfinished, "a") as run:
        run.delete("switching_fit")
        run.set_status("aborted", "test")
    cases = [
        ([str(profile_file)], "is a TOML file"),
        ([str(chars[0]), str(other)], "is a 'training' run"),
        ([str(chars[0]), str(passive)], "measured on a die of layout"),
        (
            [str(chars[0]), str(chars[0])],
            f"appears in more than one characterization run ({chars[0]} and {chars[0]})",
        ),
        ([str(sw)], "needs at least one characterization run"),
    ]
    capsys.readouterr()
    for args, message in cases:
        out = tmp_path / "fit.toml"
        assert main(["fit-profile", *args, "-o", str(out)]) == 4, message
        err = " ".join(capsys.readouterr().err.split())
        assert message in err and "Traceback" not in err
        assert not out.exists()
    # an unfinished run is left out with one line naming it; the others are fitted
    out = tmp_path / "fit.toml"
    assert main(["fit-profile", str(chars[0]), str(unfinished), "-o", str(out)]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "skipped 1 unfinished run (" in err and f"{unfinished} (aborted: test)" in err
    assert out.exists()
    assert load_switching(sw).complete
