"""Paths typed in the C locale reach every file the tool writes as the text they are.

Under ``LC_ALL=C`` without Python's UTF-8 mode, Python hands a folder named ``mesure-été``
over as ``mesure-\\udcc3\\udca9t\\udcc3\\udca9``: the bytes it could not decode, as
surrogates. The path still opens (the bytes are given back to the system), but neither
HDF5, netCDF, a UTF-8 text file nor a JSON reader can hold the surrogates. These tests
build such a path in this process (the same string the C locale makes) and follow it into
the campaign index, a campaign's report, a dataset export and ``train``'s summary; the
run files themselves are covered by ``tests/mtj_hil/cli/test_terminal_edges.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from mtj_hil.campaigns.index import CampaignIndex
from mtj_hil.campaigns.results import write_report
from mtj_hil.campaigns.spec import load_campaign
from mtj_hil.errors import as_typed
from mtj_hil.experiments.single import summary_json
from mtj_hil.fileio.atomic import atomic_write_text
from mtj_hil.labelled.export import write_dataset
from mtj_hil.runs.store import RunFile

REPO = Path(__file__).resolve().parents[2]
C_LOCALE = {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0"}


def c_locale(path: Path) -> Path:
    """``path`` as the C locale hands it over: its non-ASCII bytes as surrogates."""
    return Path(str(path).encode("utf-8").decode("ascii", "surrogateescape"))


@pytest.fixture
def folder(tmp_path: Path) -> tuple[Path, Path]:
    """A folder ``mesure-été``: as typed, and as the C locale names it."""
    typed = tmp_path / "mesure-été"
    typed.mkdir()
    seen = c_locale(typed)
    assert str(seen) != str(typed) and seen.is_dir()  # the same folder, other text
    return typed, seen


def test_as_typed_reads_surrogates_next_to_letters_from_a_utf8_file():
    """A report's text holds typed paths (surrogates) next to names read from a UTF-8
    campaign file (real letters); both come out as letters (the C locale's own encoder,
    ASCII, refused the letters)."""
    text = f"campaign lot-µ: {c_locale(Path('/data/mesure-été'))}"
    assert as_typed(text) == "campaign lot-µ: /data/mesure-été"
    assert as_typed("/data/\udce9t\udce9") == "/data/\\xe9t\\xe9"  # Latin-1 bytes: escaped
    # the same in the C locale: a letter read from a file next to an argument's bytes
    code = "import sys; from mtj_hil.errors import as_typed; print(ascii(as_typed(LINE)))"
    line = "'campaign lot-\\u00b5: ' + sys.argv[1]"
    done = subprocess.run(
        [sys.executable, "-c", code.replace("LINE", line), "/data/mesure-été"],
        env={**os.environ, **C_LOCALE},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == ascii("campaign lot-µ: /data/mesure-été"), done.stderr


def test_the_campaign_index_stores_the_campaign_file_as_typed(folder):
    """A campaign in ``mesure-été/`` failed before its first task in the C locale ('HDF5
    error: 'utf-8' codec can't encode characters ...: surrogates not allowed', exit 4)."""
    typed, seen = folder
    index = CampaignIndex(seen / "campaign.h5")
    index.ensure("c", seen / "c.toml", "[campaign]\n", [])
    assert index.header()["campaign_file"] == str(typed / "c.toml")


def test_a_report_names_its_index_as_typed(folder):
    """``campaign report`` failed writing ``report.md`` ('utf-8' codec can't encode ...,
    exit 1): its text names the index by its path."""
    typed, seen = folder
    (typed / "c.toml").write_text(
        '[campaign]\nname = "c"\nout_dir = "out"\n\n[[task]]\nname = "lot"\n'
        'kind = "characterize"\ndies = "0"\n',
        encoding="utf-8",
    )
    spec = load_campaign(seen / "c.toml")
    CampaignIndex(spec.index_path).ensure(spec.name, spec.file, spec.text, [])
    text, paths = write_report(spec)
    written = paths["markdown"].read_text(encoding="utf-8")
    assert f"Index: {typed / 'out' / 'campaign.h5'}" in written


@pytest.mark.parametrize("fmt", ["netcdf", "csv"])
def test_a_dataset_export_holds_paths_as_typed(folder, fmt):
    """A campaign's NetCDF and CSV exports failed ('cannot write NetCDF file ...: 'utf-8'
    codec can't encode ...', exit 4): the dataset names each die's run file and the
    campaign file."""
    typed, seen = folder
    ds = xr.Dataset(
        {"run_file": ("die", [str(seen / "die0.h5")], {"long_name": f"in {seen}"})},
        coords={"die": ["d0"]},
        attrs={"campaign_file": str(seen / "c.toml"), "dies_expected": np.int64(1)},
    )
    written = write_dataset(ds, fmt, seen / ("c.nc" if fmt == "netcdf" else "c-csv"))
    if fmt == "netcdf":
        with xr.open_dataset(written[0], engine="h5netcdf") as back:
            assert back.attrs["campaign_file"] == str(typed / "c.toml")
            assert back["run_file"].values.tolist() == [str(typed / "die0.h5")]
            assert back["run_file"].attrs["long_name"] == f"in {typed}"
    else:
        tables = {p.name: p.read_text(encoding="utf-8") for p in written}
        assert str(typed / "die0.h5") in tables["die.csv"]
        assert str(typed / "c.toml") in tables["attributes.csv"]
    assert ds.attrs["campaign_file"] == str(seen / "c.toml")  # the caller's dataset is kept


def test_a_training_summary_names_its_run_file_as_typed(folder):
    """``train`` printed ``"out": "r\\udcc3\\udca9seau.h5"``: two halves of a surrogate
    pair no JSON reader turns into the letter."""
    typed, seen = folder
    line = summary_json({"out": seen / "réseau.h5", "method": "unaware", "error": 0.1})
    assert json.loads(line)["out"] == str(typed / "réseau.h5")
    assert "\\udc" not in line


def test_a_run_file_stores_text_attributes_as_typed(folder):
    """``experiment goodwill --profile mesure-été/fit.toml`` failed creating its run file
    ('goodwill.h5:: 'utf-8' codec can't encode characters ...'): the profile's path is one
    of the run's attributes."""
    typed, seen = folder
    extra = {"profile": str(seen / "fit.toml"), "n": 3}
    with RunFile.create(seen / "r.h5", "test", die_id="d", extra=extra) as run:
        run.set_attrs("config", source=str(seen))
        run.set_status("completed")
    with RunFile.open(typed / "r.h5") as run:
        assert run.attrs["profile"] == str(typed / "fit.toml") and run.attrs["n"] == 3
        assert run.h5["config"].attrs["source"] == str(typed)


def test_text_files_hold_typed_paths_as_the_bytes_typed(folder):
    """The Markdown and CSV summaries of the experiments name their profile and folders."""
    typed, seen = folder
    atomic_write_text(seen / "s.md", f"# on {seen / 'fit.toml'}, lot µ\n")
    assert (typed / "s.md").read_text(encoding="utf-8") == f"# on {typed / 'fit.toml'}, lot µ\n"


def test_goodwill_in_the_c_locale_with_a_profile_in_a_non_ascii_folder(folder):
    """End to end, as a user in the C locale runs it: the run file, the Markdown summary
    (written, then read back to be printed) and the histogram."""
    typed, _ = folder
    profile = typed / "fit.toml"
    profile.write_text(
        (REPO / "mtj_hil/sim/profiles/passive-15x15.toml").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    args = ["experiment", "goodwill", "--solutions", "2", "--epochs", "2", "--restarts", "1"]
    args += ["--no-daffodil", "--profile", str(profile), "--out-dir", str(typed / "gw")]
    done = subprocess.run(
        [sys.executable, "-m", "mtj_hil", *args],
        env={**os.environ, **C_LOCALE},
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    summary = (typed / "gw" / "goodwill.md").read_text(encoding="utf-8")
    assert str(profile) in summary or profile.name in summary
    with RunFile.open(typed / "gw" / "goodwill.h5") as run:
        assert run.attrs["status"] == "completed"
