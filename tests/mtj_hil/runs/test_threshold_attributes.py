"""A characterisation run file of format 1 (mtj-hil 0.1: no checksums) whose classification
thresholds lack one of the attributes every classification records, or hold one mtj-hil
never writes, is named by that attribute (exit 4). Before, the reader said
'... is incomplete or damaged: TypeError: Thresholds.__init__() missing 1 required
positional argument: 'open_g'' (a Python constructor, not the file's attribute)."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import pytest

from mtj_hil.cli.main import main

LEGACY = Path(__file__).resolve().parents[2] / "fixtures" / "legacy-0.1" / "characterization.h5"


def _copy(tmp_path: Path) -> Path:
    path = tmp_path / "char.h5"
    shutil.copyfile(LEGACY, path)
    return path


@pytest.mark.parametrize("name", ["state_g", "short_g", "open_g", "method"])
def test_a_missing_threshold_attribute_is_named(tmp_path, capsys, name):
    path = _copy(tmp_path)
    with h5py.File(path, "a") as h5:
        del h5["defects"].attrs[f"threshold_{name}"]
    assert main(["show", str(path)]) == 4
    err = " ".join(capsys.readouterr().err.split())
    assert (
        f"{path}: its attributes are not as mtj-hil writes them: threshold_{name} (of "
        "defects) is missing" in err
    ), err
    assert "TypeError" not in err


def test_a_threshold_attribute_mtj_hil_never_writes_is_named(tmp_path, capsys):
    path = _copy(tmp_path)
    with h5py.File(path, "a") as h5:
        h5["defects"].attrs["threshold_stuck_g"] = 1e-4
    assert main(["show", str(path)]) == 4
    err = " ".join(capsys.readouterr().err.split())
    assert "threshold_stuck_g (of defects) is not one" in err and "TypeError" not in err, err


def test_the_optional_thresholds_may_be_absent(tmp_path, capsys):
    path = _copy(tmp_path)
    with h5py.File(path, "a") as h5:
        for name in ("median_g_p", "median_g_ap", "sigma_ln_p", "sigma_ln_ap", "units"):
            del h5["defects"].attrs[f"threshold_{name}"]
    assert main(["show", str(path)]) == 0
    assert "thresholds (S): state" in " ".join(capsys.readouterr().out.split())
