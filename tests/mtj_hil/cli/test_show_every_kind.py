"""``show`` summarises every kind of file the tool writes (run files of each measurement
kind, networks, experiment results, campaign indexes, calibration records) and describes the
TOML files people write, naming the command that reads them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import mtj_hil
from mtj_hil.cli.main import main

ROOT = Path(__file__).resolve().parents[3]
LEGACY = ROOT / "tests" / "fixtures" / "legacy-0.1"


def _show(capsys, path: Path) -> str:
    capsys.readouterr()
    assert main(["show", str(path)]) == 0, capsys.readouterr().err
    captured = capsys.readouterr()
    return " ".join((captured.out + captured.err).split())


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("outputs")
    net = folder / "net.h5"
    assert main(["train", "--method", "unaware", "--die", "0", "--dataset", "digits",
                 "--epochs", "1", "--hidden", "8", "--out", str(net)]) == 0  # fmt: skip
    assert main(["experiment", "borders", "--dataset", "digits", "--dies", "1", "--epochs", "1",
                 "--finetune-epochs", "1", "--stats-epochs", "1", "--hidden", "4",
                 "--pool-size", "1", "--seeds", "1", "--out-dir", str(folder / "borders")]) == 0  # fmt: skip
    return folder


def test_network_file(outputs, capsys):
    text = _show(capsys, outputs / "net.h5")
    assert "network" in text and "unaware" in text
    assert f"evaluate it with: mtj-hil evaluate --net {outputs / 'net.h5'} --die 0" in text


def test_experiment_results(outputs, capsys):
    text = _show(capsys, outputs / "borders" / "borders.h5")
    assert "experiment-borders" in text and "errors/software" in text
    assert f"results table: {outputs / 'borders' / 'borders.md'}" in text


def test_campaign_index_names_the_command_for_more(capsys):
    text = _show(capsys, LEGACY / "campaigns" / "tiny-lot" / "out" / "campaign.h5")
    assert "campaign tiny-lot" in text and "2 completed" in text
    assert "mtj-hil campaign status" in text


def test_calibration_record(capsys):
    record = next((LEGACY / "stations" / "calibrations").rglob("*.toml"))
    text = _show(capsys, record)
    assert record.stem in text and "SMU offset" in text


def test_toml_files_people_write(capsys, tmp_path):
    station = ROOT / "stations" / "virtual-lab.toml"
    assert f"mtj-hil station check {station}" in _show(capsys, station)
    campaign = ROOT / "campaigns" / "example-lot.toml"
    assert f"mtj-hil campaign status {campaign}" in _show(capsys, campaign)
    profile = ROOT / "mtj_hil" / "sim" / "profiles" / "1t1r-early-process.toml"
    assert "1t1r-early-process:" in _show(capsys, profile)


def test_files_it_does_not_read_are_named(capsys, tmp_path):
    png = tmp_path / "r.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
    assert main(["show", str(png)]) == 4
    assert f"{png} is not a file mtj-hil reads (a PNG image)" in " ".join(
        capsys.readouterr().err.split()
    )


def test_text_without_a_suffix_that_is_not_toml_is_not_called_broken_toml(capsys, tmp_path):
    """A text file without a suffix is tried as TOML; one that does not parse (a log, a
    system file) is named as a file mtj-hil does not read, not as broken TOML (exit 4,
    not 3). A file named .toml that does not parse is still broken TOML."""
    log = tmp_path / "status"
    log.write_text("Name:\tmtj-hil\nState:\tR (running)\n")
    assert main(["show", str(log)]) == 4
    err = " ".join(capsys.readouterr().err.split())
    assert f"{log} is not a file mtj-hil reads (text that does not parse as TOML: " in err
    named = tmp_path / "status.toml"
    shutil.copyfile(log, named)
    assert main(["show", str(named)]) == 3
    assert "is not valid TOML" in capsys.readouterr().err


def test_a_run_file_is_shown_whatever_its_name(capsys, tmp_path):
    """A run file starts with its checksum header (an HDF5 user block): the HDF5 signature
    follows it at byte 512, so a run file named .nxs (as export --format nexus writes) or
    .hdf is still found to be HDF5."""
    die = mtj_hil.simulated_die(0, profile="passive-15x15")
    run = mtj_hil.characterize(die, tmp_path / "run.h5", arrays=[0], cycles=1)
    for name in ("run.nxs", "run.hdf"):
        shutil.copyfile(run.path, tmp_path / name)
        assert "kind characterization" in _show(capsys, tmp_path / name)


def test_a_text_file_named_h5_is_called_text(tmp_path, capsys):
    from mtj_hil.cli.main import main as run_main

    renamed = tmp_path / "profile.h5"
    renamed.write_text('name = "x"\n[geometry]\nn_arrays = 2\n')
    assert run_main(["show", str(renamed)]) == 4
    err = " ".join(capsys.readouterr().err.split())
    assert f"{renamed} holds text, not HDF5, though named .h5" in err


def test_suffix_less_text_is_named_with_its_parse_error_and_toml_in_capitals_is_toml(
    capsys, tmp_path
):
    for name, text in (("empty", ""), ("settings", "x = 1\n")):
        path = tmp_path / name
        path.write_text(text)
        assert main(["show", str(path)]) == 4  # not "TOML mtj-hil does not read" (exit 3)
        assert f"{path} is not a file mtj-hil reads" in " ".join(capsys.readouterr().err.split())
    typo = tmp_path / "bench"
    typo.write_text(
        (ROOT / "stations" / "virtual-lab.toml").read_text().replace("name = ", "x = \nname = ", 1)
    )
    assert main(["show", str(typo)]) == 4
    assert "does not parse as TOML: Invalid value (at line" in " ".join(
        capsys.readouterr().err.split()
    )
    capitals = tmp_path / "bench.TOML"
    shutil.copyfile(ROOT / "stations" / "virtual-lab.toml", capitals)
    assert f"mtj-hil station check {capitals}" in _show(capsys, capitals)


def test_a_toml_file_holding_a_nul_byte_is_called_binary_as_station_check_calls_it(
    capsys, tmp_path
):
    """``show`` said "not a file mtj-hil reads (unknown content)" (exit 4) of a station
    file with one NUL byte, where ``station check`` names the NUL (exit 3)."""
    damaged = tmp_path / "bench.toml"
    damaged.write_bytes(b'[station]\nname = "x\x00"\n')
    for command in (["show"], ["station", "check"]):
        assert main([*command, str(damaged)]) == 3
        err = " ".join(capsys.readouterr().err.split())
        assert f"{damaged} is a binary file (it holds NUL bytes), not TOML text" in err, err
