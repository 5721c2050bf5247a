"""Every word of a message reaches the user on any terminal: a narrow one (``COLUMNS=20``)
and one whose encoding lacks a character (``PYTHONIOENCODING=ascii``, ``LC_ALL=C``).

Each case runs ``python -m mtj_hil`` as a user does, with the environment set: the encoding
of stdout and stderr and the width of the stderr console are fixed when the process starts,
so an in-process run would not see them."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from mtj_hil.errors import command_line
from mtj_hil.runs.store import RunFile

REPO = Path(__file__).resolve().parents[3]
WHERE = "mesure-été"
"""A folder name with letters an ASCII output lacks."""
C_LOCALE = {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0"}
"""The C locale without Python's UTF-8 mode: ASCII output, and file names and arguments
with other letters handed over as undecoded bytes (surrogates)."""


def _mtj_hil(args: list[str], **env: str) -> tuple[int, bytes, bytes]:
    """Exit code, stdout and stderr of ``python -m mtj_hil ARGS`` with ``env`` added."""
    run = subprocess.run(
        [sys.executable, "-m", "mtj_hil", *args],
        capture_output=True,
        env={**os.environ, "COLUMNS": "100", **env},
        timeout=120,
    )
    return run.returncode, run.stdout, run.stderr


def _words(text: str) -> str:
    """``text`` with every run of whitespace one space (a wrapped line joined again)."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual-lab station of a small die, named ``banc-µΩ``, in a folder ``mesure-été``."""
    folder = tmp_path_factory.mktemp("enc") / WHERE
    folder.mkdir()
    text = (REPO / "stations" / "virtual-lab.toml").read_text(encoding="utf-8")
    for old, new in (
        ('name = "virtual-lab"', 'name = "banc-µΩ"'),
        ('profile = "1t1r-20k"', 'profile = "passive-15x15"'),
        ("rows = [0, 6, 12, 18, 24]", "rows = [0, 6, 12]"),
    ):
        assert old in text, old
        text = text.replace(old, new)
    path = folder / "station-µ.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def measured(station: Path) -> tuple[Path, int, str, str]:
    """A die ``wafer-µ1`` measured through ``station`` with an ASCII stdout and stderr: the
    run file, exit code, stdout and stderr."""
    out = station.parent / "run-µ.h5"
    args = ["characterize", "--station", str(station), "--die-id", "wafer-µ1", "--arrays", "0"]
    code, stdout, stderr = _mtj_hil(
        [*args, "--no-report", "--out", str(out)], PYTHONIOENCODING="ascii"
    )
    return out, code, stdout.decode("ascii"), stderr.decode("ascii")


def _escaped(text: object) -> str:
    """``text`` as an ASCII output prints it: ``\\xe9`` for ``é``."""
    return str(text).encode("ascii", "backslashreplace").decode("ascii")


def test_a_measurement_on_an_ascii_terminal_prints_its_summary(measured):
    """The die id ``wafer-µ1`` ended the summary of a finished run with an unexpected
    UnicodeEncodeError (exit 1) on an ASCII stdout; it is printed escaped."""
    out, code, stdout, stderr = measured
    said, err = _words(stdout), _words(stderr)
    assert code == 0, err
    assert "UnicodeEncodeError" not in err and "Traceback" not in err
    assert "die_id wafer-\\xb51 kind characterization status completed" in said
    assert "characterising wafer-\\xb51: 1 array, 3 cycles per state" in err
    assert f"-> {_escaped(out)}" in err


@pytest.mark.parametrize(
    ("env", "encoding", "name"),
    [
        ({"PYTHONIOENCODING": "latin-1"}, "latin-1", "banc-µ\\u03a9"),
        (C_LOCALE, "utf-8", "banc-\\xb5\\u03a9"),
    ],
)
def test_show_of_a_station_file_on_a_narrow_encoding(station, env, encoding, name):
    """``show`` of the station ``banc-µΩ`` said nothing but an unexpected UnicodeEncodeError
    (exit 1) on a latin-1 or C-locale stdout; now a letter the encoding lacks is escaped, and
    the file's path (in the C locale, bytes the system gave undecoded) is printed as is."""
    code, stdout, stderr = _mtj_hil(["show", str(station)], **env)
    said, err = _words(stdout.decode(encoding)), stderr.decode(encoding, "replace")
    assert code == 0, err
    assert "UnicodeEncodeError" not in err and "Traceback" not in err
    assert f"station file {station}: station {name}, die profile passive-15x15" in said
    assert f"check it (settings, instruments): {command_line('station', 'check', station)}" in said


def test_csv_export_in_the_c_locale_keeps_the_die_id(measured):
    """In the C locale (``LC_ALL=C PYTHONUTF8=0``) the CSV export wrote its data tables, then
    failed on attributes.csv, whose die id ``wafer-µ1`` the locale's ASCII could not take
    (exit 1, unexpected); every CSV file is UTF-8 whatever the locale."""
    run = measured[0]
    folder = run.parent / "csv-µ"
    args = ["export", str(run), "--format", "csv", "--out", str(folder)]
    code, _, stderr = _mtj_hil(args, **C_LOCALE)
    assert code == 0, stderr.decode("utf-8", "replace")
    assert f"wrote {folder / 'attributes.csv'}" in stderr.decode("utf-8").splitlines()
    lines = (folder / "attributes.csv").read_text(encoding="utf-8").splitlines()
    assert "die_id,wafer-µ1" in lines


def test_a_measurement_on_a_narrow_terminal_keeps_the_words_of_its_progress(tmp_path):
    """At 20 columns the progress row, left on screen when the run ends, was cut to
    ``array 0 ━━ 1… 0:…`` (and at 10 to ``array…``): which array, how many of how many and
    the time were lost. Narrower than its words beside a bar, the row is its words alone."""
    out = tmp_path / "narrow.h5"
    args = ["characterize", "--profile", "passive-15x15", "--arrays", "0", "--no-report"]
    code, stdout, stderr = _mtj_hil([*args, "--out", str(out)], COLUMNS="20")
    said, err = _words(stdout.decode()), _words(stderr.decode())
    assert code == 0, err
    assert "…" not in err + said
    assert (
        "characterising sim:passive-15x15:lot0:die0: 1 array, 3 cycles per state, second "
        f"read at 0.3 V (bias signature) -> {out}" in err
    )
    assert "array 0 1/1 0:00:0" in err
    assert "die_id: sim:passive-15x15:lot0:die0" in said and "class GOOD devices: 225" in said


def test_a_measurement_in_the_c_locale_records_non_ascii_names_as_typed(tmp_path):
    """In the C locale the run file ``mesure-été/r.h5`` (or ``--operator opérateur-µ``)
    failed as it was created, 'HDF5 error: 'utf-8' codec can't encode characters ...:
    surrogates not allowed' (exit 4): the command line and the journal folder were stored
    with the bytes Python could not decode. They are stored as the UTF-8 text they are, and
    ``fit-profile`` names its profile ``fit-µ`` (it wrote a TOML file it could not load)."""
    folder = tmp_path / WHERE
    run, fitted = folder / "r.h5", folder / "fit-µ.toml"
    args = ["characterize", "--profile", "passive-15x15", "--arrays", "0", "--no-report"]
    code, _, stderr = _mtj_hil([*args, "--operator", "opérateur-µ", "--out", str(run)], **C_LOCALE)
    assert code == 0, stderr.decode("utf-8", "replace")
    with RunFile.open(run) as opened:
        attrs = dict(opened.attrs)
    assert attrs["status"] == "completed" and attrs["operator"] == "opérateur-µ"
    assert f"--out {shlex.quote(str(run))}" in attrs["command"]
    code, stdout, stderr = _mtj_hil(["fit-profile", str(run), "-o", str(fitted)], **C_LOCALE)
    assert code == 0, stderr.decode("utf-8", "replace")
    assert "fitted profile fit-\\xb5 (1 run)" in _words(stdout.decode("ascii"))
    loads = f"--profile {shlex.quote(str(fitted))}"  # quoted as a shell takes it
    assert f"wrote {fitted} (loads with {loads})" in stderr.decode("utf-8")
    assert tomllib.loads(fitted.read_text(encoding="utf-8"))["name"] == "fit-µ"
