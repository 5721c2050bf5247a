"""fit-profile on runs the command line really makes but the lots of the closure tests do not
cover: a passive die's characterisation, and files whose bias signatures or measurement
times are not finite (changed by another program, checksums recomputed)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import h5py
import numpy as np
import pytest

from mtj_hil.cli import main
from mtj_hil.runs.store.image import copy_image, encode, open_image, read_file, seal
from mtj_hil.sim.profile import load_profile


def _run(args: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(args)
    return code, " ".join(out.getvalue().split())


def _nan_filled(src: Path, dst: Path, name: str) -> Path:
    with open_image(read_file(src)) as h5:
        image = copy_image(h5)
    attrs = dict(image[name].attrs)
    shape = image[name].shape
    del image[name]
    image.create_dataset(name, data=np.full(shape, np.nan, np.float32))
    image[name].attrs.update(attrs)
    seal(image)
    dst.write_bytes(encode(image))
    image.close()
    return dst


@pytest.fixture(scope="module")
def passive_run(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("passive") / "char.h5"
    args = ["characterize", "--profile", "passive-15x15", "--cycles", "2", "--no-report"]
    assert _run([*args, "--out", str(path)])[0] == 0
    return path


@pytest.fixture(scope="module")
def timed_run(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("timed") / "char.h5"
    args = ["characterize", "--arrays", "0-3", "--cycles", "2", "--no-report"]
    assert _run([*args, "--out", str(path)])[0] == 0
    return path


@pytest.mark.parametrize("base", ["1t1r-20k", "passive-15x15"])
def test_a_passive_die_fits_to_a_profile_without_a_bias_section(passive_run, tmp_path, base):
    out = tmp_path / "fitted.toml"
    code, text = _run(["fit-profile", "--base", base, "-o", str(out), str(passive_run)])
    assert code == 0, text
    assert "no [bias] section is written" in text
    profile = load_profile(str(out))
    assert profile.geometry.cell == "passive" and profile.bias is None


def test_bias_signatures_that_are_all_nan_count_as_not_measured(passive_run, tmp_path):
    run = _nan_filled(passive_run, tmp_path / "r.h5", "defects/bias_p")
    code, text = _run(
        ["fit-profile", "--base", "passive-15x15", "-o", str(tmp_path / "f.toml"), str(run)]
    )
    assert code == 0, text


def test_measurement_times_that_are_not_finite_count_as_untimed(timed_run, tmp_path):
    run = _nan_filled(timed_run, tmp_path / "r.h5", "characterization/array_time")
    with h5py.File(run, "r") as h5:  # (the change went in whole: the times are NaN)
        assert np.isnan(h5["characterization/array_time"][()]).all()
    code, text = _run(["fit-profile", "-o", str(tmp_path / "f.toml"), str(run)])
    assert code == 0, text
    assert "the [drift] section cannot be fitted" in text


def test_the_output_is_never_one_of_the_runs_it_reads(passive_run, tmp_path):
    run = tmp_path / "run.h5"
    run.write_bytes(passive_run.read_bytes())
    code, text = _run(["fit-profile", "--force", "-o", str(tmp_path / "." / "run.h5"), str(run)])
    assert code == 4 and "is one of the runs to fit" in text, text
    assert run.read_bytes() == passive_run.read_bytes()


def test_the_output_never_replaces_another_run_file_even_with_force(passive_run, tmp_path):
    # --force wrote the TOML profile over a completed run file that was not an input
    other = tmp_path / "other-run.h5"
    other.write_bytes(passive_run.read_bytes())
    code, text = _run(["fit-profile", "--force", "-o", str(other), str(passive_run)])
    assert code == 4 and "is an HDF5 file (a run file or an export)" in text, text
    assert other.read_bytes() == passive_run.read_bytes()
    profile = tmp_path / "fitted.toml"
    profile.write_text("old")
    code, text = _run(["fit-profile", "--force", "-o", str(profile), str(passive_run)])
    assert code == 0, text  # an earlier profile is replaced, as --force says
