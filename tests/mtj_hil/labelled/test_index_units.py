"""Every numeric variable of a labelled dataset carries units, its index coordinates too
(``1``: array, row, column, cycle and read numbers are dimensionless); text labels (state,
defect class) carry none. CSV index columns keep their bare names."""

from __future__ import annotations

from mtj_hil.cli import main
from mtj_hil.labelled.cf import coord
from mtj_hil.labelled.load import load_dataset


def test_index_coordinates_are_dimensionless_and_labels_have_no_units():
    assert coord([0, 1, 2], "array", "array index").attrs["units"] == "1"
    assert coord([1e-8, 1e-7], "width", "pulse width", "s").attrs["units"] == "s"
    assert "units" not in coord(["P", "AP"], "state", "state written").attrs


def test_every_numeric_variable_of_an_exported_run_has_units(tmp_path):
    out = tmp_path / "c.h5"
    args = ["characterize", "--arrays", "0", "--cycles", "1", "--no-report", "--out", str(out)]
    assert main(args) == 0
    ds = load_dataset(out)
    missing = [
        str(n) for n, v in ds.variables.items() if v.dtype.kind in "iuf" and "units" not in v.attrs
    ]
    assert missing == []
    assert ds["row"].attrs["units"] == "1" and "units" not in ds["state"].attrs
