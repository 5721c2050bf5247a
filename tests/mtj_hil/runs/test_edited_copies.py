"""Run files copied without their header (as h5copy or h5repack make them), then edited.

With its checksums stripped, a current file passed as one of mtj-hil 0.1 (which wrote none):
its edited defect codes were shown as measured, and a NeXus export sealed them as verified.
A dataset's ``unit`` is not covered by its checksum: ``mS`` for ``S`` was read as siemens
(off by 1000); and a probability of 2 with its checksum recomputed was shown as one."""

from __future__ import annotations

from pathlib import Path

import h5py
import pytest

import mtj_hil
from mtj_hil.cli.main import main


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("stripped")
    return mtj_hil.characterize(mtj_hil.simulated_die(2), folder / "c.h5", arrays=[0]).path


def _headerless_copy(src: Path, dst: Path, strip: bool = False) -> None:
    """What h5copy or h5py makes of a run file: its tree from byte 0, no checksum header."""
    with h5py.File(src, "r") as s, h5py.File(dst, "w") as d:
        for key, value in s.attrs.items():
            d.attrs[key] = value
        for key in s:
            s.copy(s[key], d, name=key)
        if strip:
            d.visititems(
                lambda _, o: (
                    o.attrs.__delitem__("sha256")
                    if isinstance(o, h5py.Dataset) and "sha256" in o.attrs
                    else None
                )
            )
            d["defects/codes"][...] = 0  # every device GOOD


def test_a_copy_with_its_checksums_stripped_is_refused(run, tmp_path, capsys):
    edited = tmp_path / "edited.h5"
    _headerless_copy(run, edited, strip=True)
    assert main(["show", "--verify", str(edited)]) == 4
    assert "has no sha256 checksum, though the file was written after mtj-hil 0.1" in " ".join(
        capsys.readouterr().err.split()
    )
    assert main(["export", str(edited), "--format", "nexus", "--out", str(tmp_path / "x.nxs")])
    assert not (tmp_path / "x.nxs").exists()


def test_a_copy_that_keeps_its_checksums_still_reads(run, tmp_path, capsys):
    plain = tmp_path / "plain.h5"
    _headerless_copy(run, plain, strip=False)
    assert main(["show", "--verify", str(plain)]) == 0
    assert "every checksum good" in capsys.readouterr().out


def test_a_conductance_in_another_unit_is_refused(run, tmp_path, capsys):
    copy = tmp_path / "units.h5"
    _headerless_copy(run, copy)
    with h5py.File(copy, "a") as h5:
        h5["defects/g_p"].attrs["unit"] = "mS"
    assert main(["show", str(copy)]) == 4
    assert "defects/g_p is in 'mS' where mtj-hil writes 'S'" in " ".join(
        capsys.readouterr().err.split()
    )


def test_a_probability_above_one_is_refused_even_with_its_checksum_recomputed(
    run, tmp_path, capsys
):
    from mtj_hil.runs.store.image import dataset_digest

    copy = tmp_path / "forged.h5"
    _headerless_copy(run, copy)
    with h5py.File(copy, "a") as h5:
        h5["defects/confidence"][0, 0, 0] = 2.0
        h5["defects/confidence"].attrs["sha256"] = dataset_digest(h5["defects/confidence"])
    assert main(["show", str(copy)]) == 4
    assert "defects/confidence holds values outside 0...1" in " ".join(
        capsys.readouterr().err.split()
    )


def test_a_network_file_with_its_checksums_stripped_is_refused(tmp_path, capsys):
    """The same for a trained network: its weights could be edited and read as trained."""
    net = tmp_path / "net.h5"
    args = ["train", "--method", "unaware", "--die", "0", "--dataset", "digits"]
    assert main([*args, "--epochs", "1", "--hidden", "8", "--out", str(net)]) == 0
    edited = tmp_path / "edited.h5"
    _headerless_copy(net, edited)
    with h5py.File(edited, "a") as h5:
        h5.visititems(lambda _, obj: obj.attrs.pop("sha256", None) and None)
        del h5.attrs["journal_seq"]  # its package_version (past 0.1) still tells
    capsys.readouterr()
    assert main(["show", "--verify", str(edited)]) == 4
    assert "has no sha256 checksum" in " ".join(capsys.readouterr().err.split())


@pytest.mark.parametrize(
    "dropped",
    [
        ("defects/bias_p", "defects/bias_ap", "defects/resistive_open"),
        ("defects/confidence",),
        ("defects/posterior",),
        ("characterization/g_high_p",),
    ],
)
def test_a_copy_that_lost_a_dataset_its_record_requires_is_refused_by_every_reader(
    run, tmp_path, capsys, dropped
):
    """A copy without the bias signature was shown, verified ("every checksum good") and
    exported with the variables simply absent: the plan's bias read voltage and the defect
    map's version 2 say they belong there."""
    copy = tmp_path / "lost.h5"
    _headerless_copy(run, copy)
    with h5py.File(copy, "a") as h5:
        for name in dropped:
            del h5[name]
    for args in (["show", str(copy)], ["show", "--verify", str(copy)],
                 ["export", str(copy), "--format", "netcdf", "--out", str(tmp_path / "x.nc")],
                 ["export", str(copy), "--format", "nexus", "--out", str(tmp_path / "x.nxs")]):  # fmt: skip
        assert main(args) == 4, args
        err = " ".join(capsys.readouterr().err.split())
        assert f"dataset {dropped[0]} is gone, though the run's own record says it holds it" in err
    assert not (tmp_path / "x.nc").exists() and not (tmp_path / "x.nxs").exists()


def test_every_read_of_a_copy_says_its_attributes_are_not_verified(run, tmp_path, capsys):
    """Only ``show --verify`` said it; a plain ``show`` or ``export`` presented the copy's
    attributes (an edited fit result, a plan) as measured."""
    copy = tmp_path / "copy.h5"
    _headerless_copy(run, copy)
    for args in (["show", str(copy)],
                 ["export", str(copy), "--format", "netcdf", "--out", str(tmp_path / "x.nc")]):  # fmt: skip
        assert main(args) == 0, args
        err = " ".join(capsys.readouterr().err.split())
        assert f"{copy} has no checksum header" in err and "are not verified" in err
    assert main(["show", str(run)]) == 0
    assert "no checksum header" not in capsys.readouterr().err


def test_a_switching_copy_that_lost_a_fit_is_named_not_a_raw_key_error(tmp_path, capsys):
    """A copy without ``switching_fit/AP/delta_sd`` was refused with h5py's raw
    ``KeyError ... object 'delta_sd' doesn't exist``, without the dataset's path."""
    run = mtj_hil.measure_switching(
        mtj_hil.simulated_die(2), tmp_path / "s.h5", arrays=[0], widths=[1e-8, 1e-7],
        trials=2, floor_trials=0, disturb_reads=0,
    ).path  # fmt: skip
    copy = tmp_path / "lost.h5"
    _headerless_copy(run, copy)
    with h5py.File(copy, "a") as h5:
        del h5["switching_fit/AP/delta_sd"]
    assert main(["show", str(copy)]) == 4
    err = " ".join(capsys.readouterr().err.split())
    assert "dataset switching_fit/AP/delta_sd is gone, though the run's own record" in err
    assert "KeyError" not in err


def test_fit_profile_says_a_copys_attributes_are_not_verified(run, tmp_path, capsys):
    copy = tmp_path / "copy.h5"
    _headerless_copy(run, copy)
    assert main(["fit-profile", str(copy), "-o", str(tmp_path / "p.toml")]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert f"{copy} has no checksum header" in err and "are not verified" in err


def test_the_python_loaders_warn_of_a_copys_unverified_attributes(run, tmp_path):
    from mtj_hil.errors import UnverifiedCopyWarning

    copy = tmp_path / "copy.h5"
    _headerless_copy(run, copy)
    with pytest.warns(UnverifiedCopyWarning, match="are not verified"):
        mtj_hil.load(copy)
    with pytest.warns(UnverifiedCopyWarning, match="are not verified"):
        mtj_hil.open_run(copy)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UnverifiedCopyWarning)
        mtj_hil.load(run)  # the original: nothing said
