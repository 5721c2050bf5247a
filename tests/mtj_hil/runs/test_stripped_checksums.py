"""A current run file copied without its header and with its checksums stripped passed as a
file of mtj-hil 0.1 (which wrote none): its edited defect codes were shown as measured, and
a NeXus export sealed them as verified. A later writer's file must carry its checksums."""

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


def _headerless_copy(src: Path, dst: Path, strip: bool) -> None:
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
