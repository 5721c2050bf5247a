"""Strict files: every section of station, profile, campaign and calibration record files
refuses unknown keys, wrong types and values out of range with one line naming the file,
the section, the key, what is allowed and the closest match; unreadable text is one line."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

import pytest

from mtj_hil.cli.main import main

ROOT = Path(__file__).resolve().parents[3]
STATION = ROOT / "stations" / "virtual-lab.toml"
PROFILE = ROOT / "mtj_hil" / "sim" / "profiles" / "1t1r-20k.toml"
CAMPAIGN = ROOT / "campaigns" / "example-lot.toml"
RECORD = next((ROOT / "tests/fixtures/legacy-0.1/stations/calibrations").rglob("*.toml"))


def _err(capsys) -> str:
    return " ".join(capsys.readouterr().err.split())


@pytest.mark.parametrize(
    ("old", "new", "section", "key", "closest"),
    [
        ("compliance = 1e-3            # A", "complience = 1e-5", "[smu.sense]", "complience",
         "compliance"),
        ('p_polarity = "POS"', 'p_polarty = "NEG"', "[die]", "p_polarty", "p_polarity"),
        ("nplc = 1\n", "nlpc = 10\n", "[smu.sense]", "nlpc", "nplc"),
        ("lot_seed = 0\n", "lotseed = 0\n", "[virtual_lab]", "lotseed", "lot_seed"),
        ("name = \"virtual-lab\"", "nmae = \"x\"", "[station]", "nmae", "name"),
        ("array = 0 ", "arary = 0 ", "[calibration]", "arary", "array"),
    ],
)  # fmt: skip
def test_a_typo_in_a_station_file_is_refused_by_station_check(
    tmp_path, capsys, old, new, section, key, closest
):
    text = STATION.read_text()
    assert old in text
    bad = tmp_path / "bench.toml"
    bad.write_text(text.replace(old, new, 1))
    assert main(["station", "check", str(bad)]) == 3
    err = _err(capsys)
    assert str(bad) in err and f"{key} is not a key of {section}" in err
    assert f"closest match: {closest}" in err and "allowed:" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("nplc = 1\n", 'nplc = "fast"\n', "smu.sense.nplc must be a number in (0, 100]"),
        ("nplc = 1\n", "nplc = 0\n", "smu.sense.nplc = 0.0 is out of range"),
        ("retries = 2", "retries = -1", "controller.retries = -1 is out of range"),
        ("die = 7", "die = 7.5", "virtual_lab.die must be an integer"),
        ("smu_latency = 2e-3", "smu_latency = nan", "virtual_lab.smu_latency must be a number"),
        ("[station]", "[stations]\n[station]", "stations is neither a section nor a key"),
    ],
)
def test_wrong_types_and_ranges_in_a_station_file_name_the_key(tmp_path, capsys, old, new, message):
    bad = tmp_path / "bench.toml"
    bad.write_text(STATION.read_text().replace(old, new, 1))
    assert main(["station", "check", str(bad)]) == 3
    err = _err(capsys)
    assert message in err and str(bad) in err


def test_station_check_lists_every_setting_and_where_it_came_from(capsys):
    assert main(["station", "check", str(STATION)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"smu\.sense\.compliance = 0\.001\n", out)  # from the file
    assert re.search(r"smu\.sense\.timeout = 5 +\(default\)", out)
    assert re.search(r"controller\.write_timeout = 1 +\(default\)", out)
    assert "safety.max_ramp_rate = 1\n" in out


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("delta = 40.0", "detla = 40.0", "switching.detla is not a key of [switching]; "
         "closest match: delta"),
        ("[read]", "[raed]", "raed is neither a section nor a key of a die profile; closest "
         "match: read"),
        ("adc_bits = 0 ", "adc_bits = 2.5 ", "read.adc_bits must be an integer"),
        ("r_p_sigma = 0.05", "r_p_sigma = 1.5", "resistance.r_p_sigma = 1.5 is out of range"),
    ],
)  # fmt: skip
def test_profile_files_are_strict(tmp_path, capsys, old, new, message):
    bad = tmp_path / "die.toml"
    text = PROFILE.read_text()
    assert old in text
    bad.write_text(text.replace(old, new, 1))
    assert main(["characterize", "--profile", str(bad), "--out", str(tmp_path / "r.h5")]) == 3
    err = _err(capsys)
    assert message in err and str(bad) in err
    assert not (tmp_path / "r.h5").exists()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("cycles = 3", "cyles = 3", "task[0].cyles is not a key of [[task]] of kind "
         "'characterize'; closest match: cycles"),
        ("trials = 16", "trials = 0", "task[1].trials = 0 is out of range"),
        ('out_dir = "../runs', 'outdir = "../runs', "campaign.outdir is not a key of "
         "[campaign]; closest match: out_dir"),
        ("[[task]]", "[[tasks]]", "tasks is neither a section nor a key of a campaign file; "
         "closest match: task"),
        ('kind = "borders"', 'kind = "border"', "task[2].kind = 'border' is not a task kind; "
         "closest match: borders"),
    ],
)  # fmt: skip
def test_campaign_files_are_strict(tmp_path, capsys, old, new, message):
    bad = tmp_path / "lot.toml"
    text = CAMPAIGN.read_text()
    assert old in text
    bad.write_text(text.replace(old, new, 1))
    assert main(["campaign", "status", str(bad)]) == 3
    err = _err(capsys)
    assert message in err and str(bad) in err


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("procedure_version", "procedure_verison", "procedure_verison is neither a section "
         "nor a key of a calibration record; closest match: procedure_version"),
        ("points = 16", "points = \"16\"", "converter.points must be an integer"),
        ("listed_ohms = 1000.0", "listed_ohm = 1000.0", "smu.references[0].listed_ohm is not "
         "a key of [smu.references[0]]; closest match: listed_ohms"),
        ("state_g =", "stat_g =", "thresholds.stat_g is not a key of [thresholds]"),
    ],
)  # fmt: skip
def test_calibration_records_are_strict(tmp_path, capsys, old, new, message):
    bad = tmp_path / "record.toml"
    text = RECORD.read_text()
    assert old in text
    bad.write_text(text.replace(old, new, 1))
    assert main(["calibration", "show", str(bad)]) == 3
    err = _err(capsys)
    assert message in err and str(bad) in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (codecs.BOM_UTF8 + b'[station]\nname = "x"\n', "starts with a UTF-8 byte-order mark"),
        ('name = "caf\u00e9"\n'.encode("latin-1"), "is not UTF-8 text (byte 0xe9 on line 1)"),
        (b"\x89HDF\r\n\x1a\n\x00\x00\x00", "is an HDF5 file"),
        (b"abc\x00\x01\x02", "is a binary file"),
        ('name = "x"\n'.encode("utf-16"), "byte-order mark"),
    ],
)
@pytest.mark.parametrize(
    "command",
    [
        ["station", "check", "{f}"],
        ["characterize", "--profile", "{f}"],
        ["campaign", "status", "{f}"],
        ["calibration", "show", "{f}"],
    ],
)
def test_unreadable_text_is_one_line_naming_the_file(tmp_path, capsys, content, message, command):
    bad = tmp_path / "file.toml"
    bad.write_bytes(content)
    assert main([c.format(f=bad) for c in command]) == 3
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    err = " ".join(err.split())
    assert message in err and str(bad) in err
