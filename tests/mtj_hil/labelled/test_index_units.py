"""Every numeric variable of a labelled dataset carries units, its index coordinates too
(``1``: array, row, column, cycle and read numbers are dimensionless); text labels (state,
defect class) carry none. CSV index columns keep their bare names;
coordinates in a unit (pulse width, amplitude) are headed with it."""

from __future__ import annotations

import numpy as np
import pytest

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


def test_csv_columns_of_coordinates_in_a_unit_say_it(runs, tmp_path):
    """A switching export's tables headed the pulse width and amplitude 'width' and
    'amplitude' (and the WER grid's 'wer_width', 'wer_amplitude'): a spreadsheet showed
    1e-07 with no unit. Index numbers keep their bare names."""
    import pandas as pd

    folder = tmp_path / "tables"
    assert main(["export", str(runs["switching"]), "--format", "csv", "--out", str(folder)]) == 0
    grid = pd.read_csv(folder / "array-direction-width-amplitude-row-column.csv")
    assert {"width [s]", "amplitude [V]", "array", "row", "column"} <= set(grid.columns)
    assert "direction" in grid.columns  # a label: no unit
    wer = pd.read_csv(folder / "direction-wer_width-wer_amplitude.csv")
    assert {"wer_width [s]", "wer_amplitude [V]"} <= set(wer.columns)
    ds = load_dataset(runs["switching"])
    assert sorted(set(grid["width [s]"])) == sorted(ds["width"].values.tolist())


@pytest.mark.parametrize("kind", ["characterization", "switching", "legacy-characterization"])
def test_every_number_among_the_global_attributes_says_its_unit(runs, kind, tmp_path):
    """A NetCDF export carried threshold_sigma_ln_p (a spread of ln G, dimensionless) beside
    one threshold_units = S, the only unit said for any threshold. Every number among the
    global attributes (a float: a voltage, a time, a threshold) has its own <name>_units."""
    import netCDF4

    out = tmp_path / "run.nc"
    assert main(["export", str(runs[kind]), "--format", "netcdf", "--out", str(out)]) == 0
    with netCDF4.Dataset(out) as nc:
        attrs = {k: nc.getncattr(k) for k in nc.ncattrs()}
    numbers = [k for k, v in attrs.items() if isinstance(v, float | np.floating)]
    assert numbers
    assert [k for k in numbers if f"{k}_units" not in attrs] == []
    if "threshold_sigma_ln_p" in attrs:
        assert attrs["threshold_sigma_ln_p_units"] == "1"
        assert attrs["threshold_short_g_units"] == "S"
