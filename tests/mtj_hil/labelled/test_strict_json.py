"""JSON text in what other tools read (NetCDF and CSV attributes, the NeXus notes) is JSON
any parser reads: a missing number is null, never Python's bare NaN, which JavaScript's
JSON.parse and other strict (RFC 8259) parsers refuse."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import h5py
import netCDF4
import pytest

import mtj_hil
from mtj_hil.cli import main
from mtj_hil.fileio import json_text


def strict_loads(text: str):
    """json.loads as a strict parser reads: NaN, Infinity and -Infinity are errors."""

    def refuse(word: str):
        raise ValueError(f"not JSON: {word}")

    return json.loads(text, parse_constant=refuse)


def is_json(text: str) -> bool:
    if not text.lstrip().startswith(("{", "[")):
        return False
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


@pytest.fixture(scope="module")
def unfitted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A switching run whose devices never switched, without floor or disturb trials: its
    recommendation, floors and read-disturb rates have no value (NaN)."""
    folder = tmp_path_factory.mktemp("strict")
    run = mtj_hil.measure_switching(
        mtj_hil.simulated_die(2),
        folder / "sw.h5",
        arrays=[0],
        widths=[1e-7],
        amplitudes=[0.3, 0.4],
        trials=2,
        floor_trials=0,
        disturb_reads=0,
    )
    with h5py.File(run.path) as h5:  # the run file itself holds NaN (Python reads it)
        rec = json.loads(h5["switching_fit"].attrs["recommendation"])
    assert math.isnan(rec["amplitude"])
    return run.path


def test_netcdf_attributes_are_strict_json(unfitted, tmp_path):
    out = tmp_path / "sw.nc"
    assert main(["export", str(unfitted), "--format", "netcdf", "--out", str(out)]) == 0
    with netCDF4.Dataset(out) as nc:
        texts = {k: nc.getncattr(k) for k in nc.ncattrs()}
    found = {k: v for k, v in texts.items() if isinstance(v, str) and is_json(v)}
    assert {"recommendation", "disturb", "floor_AP", "floor_P", "plan"} <= set(found)
    for text in found.values():
        strict_loads(text)
    rec = strict_loads(found["recommendation"])
    assert rec["amplitude"] is None and rec["found"] is False
    assert strict_loads(found["floor_AP"])["value"] is None


def test_csv_attributes_are_strict_json(unfitted, tmp_path):
    out = tmp_path / "tables"
    assert main(["export", str(unfitted), "--format", "csv", "--out", str(out)]) == 0
    with open(out / "attributes.csv", newline="", encoding="utf-8") as fh:
        rows = dict(csv.reader(fh))
    assert is_json(rows["recommendation"])
    for text in rows.values():
        if is_json(text):
            strict_loads(text)


def test_nexus_notes_are_strict_json(unfitted, tmp_path):
    """NXnote type application/json held NaN: the run file's NeXus face and its export."""
    out = tmp_path / "sw.nxs"
    assert main(["export", str(unfitted), "--format", "nexus", "--out", str(out)]) == 0
    for path in (unfitted, out):
        notes = _notes(path)
        assert len(notes) >= 5
        for text in notes:
            strict_loads(text)


def _notes(path: Path) -> list[str]:
    """The data of every NXnote under /entry."""
    found: list[str] = []

    def visit(name: str, obj: object) -> None:
        if isinstance(obj, h5py.Group) and obj.attrs.get("NX_class") == "NXnote":
            found.append(obj["data"][()].decode())

    with h5py.File(path) as h5:
        h5["entry"].visititems(visit)
    return found


def test_finite_replaces_only_what_is_not_finite():
    value = {"a": [1.0, float("nan"), {"b": float("-inf")}], "c": "NaN", "d": 0}
    assert json_text.finite(value) == {"a": [1.0, None, {"b": None}], "c": "NaN", "d": 0}
    assert json_text.strict_text('{"x": 1.5}') == '{"x": 1.5}'  # untouched
    assert json_text.strict_text("NaN") == "NaN"  # not JSON text: left alone
    assert strict_loads(json_text.strict_text('{"x": NaN}')) == {"x": None}
