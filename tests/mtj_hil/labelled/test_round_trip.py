"""Every run kind round-trips: run file -> Dataset -> NetCDF -> xarray.open_dataset, with
values and units equal at every step (and a generic netCDF-C reader sees the same)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import netCDF4
import numpy as np
import pytest
import xarray as xr

import mtj_hil
from mtj_hil.labelled.export import write_netcdf

KINDS = ["characterization", "switching", "legacy-characterization", "legacy-switching"]


def assert_same(a: xr.Dataset, b: xr.Dataset) -> None:
    """Same variables, dimensions, values (NaN equal to NaN), units and long names."""
    assert set(a.variables) == set(b.variables)
    for name in a.variables:
        va, vb = a[name], b[name]
        assert va.dims == vb.dims, name
        if va.dtype.kind in "fc":
            np.testing.assert_array_equal(va.values, vb.values, err_msg=name)
        else:
            assert (va.values == vb.values).all(), name
        for key in ("units", "long_name", "flag_meanings"):
            assert va.attrs.get(key) == vb.attrs.get(key), (name, key)
        if "flag_values" in va.attrs:
            np.testing.assert_array_equal(va.attrs["flag_values"], vb.attrs["flag_values"])
    for key, value in a.attrs.items():
        assert b.attrs[key] == value, key


def h5_unit(h5: h5py.File, path: str) -> str:
    return str(h5[path].attrs["unit"])


@pytest.mark.parametrize("kind", KINDS)
def test_file_dataset_netcdf_open_dataset(runs: dict[str, Path], kind: str, tmp_path: Path):
    ds = mtj_hil.load(runs[kind])
    assert ds.attrs["Conventions"].startswith("CF-")
    for name, v in ds.data_vars.items():
        assert v.attrs.get("units") is not None and v.attrs.get("long_name"), name
    nc = write_netcdf(ds, tmp_path / "run.nc")
    with xr.open_dataset(nc) as back:
        assert_same(ds, back.load())
    # a generic netCDF-4 reader (the netCDF-C library) sees the variables and their units
    with netCDF4.Dataset(nc) as generic:
        for name, v in ds.data_vars.items():
            assert generic.variables[name].getncattr("units") == v.attrs["units"], name
            assert generic.variables[name].dimensions == v.dims


@pytest.mark.parametrize("kind", ["characterization", "legacy-characterization"])
def test_characterization_values_and_units_are_the_files(runs: dict[str, Path], kind: str):
    ds = mtj_hil.load(runs[kind])
    with h5py.File(runs[kind]) as h5:
        arrays = h5["defects/arrays"][()]
        done = list(h5["characterization/array_index"][()])
        order = [done.index(a) for a in arrays]
        np.testing.assert_array_equal(ds.array.values, arrays)
        for var, sel, path in (
            ("defect", {}, "defects/codes"),
            ("conductance_mean", {"state": "P"}, "defects/g_p"),
            ("conductance_mean", {"state": "AP"}, "defects/g_ap"),
            ("confidence", {}, "defects/confidence"),
            ("posterior", {}, "defects/posterior"),
            ("bias_signature", {"state": "AP"}, "defects/bias_ap"),
        ):
            np.testing.assert_array_equal(ds[var].sel(sel).values, h5[path][()], err_msg=var)
            assert ds[var].attrs["units"] == h5_unit(h5, path), var
        for var, state, path in (
            ("conductance", "P", "characterization/g_after_p"),
            ("conductance", "AP", "characterization/g_after_ap"),
            ("write_failed", "AP", "characterization/residual_ap"),
            ("conductance_bias", "P", "characterization/g_high_p"),
        ):
            want = h5[path][()][order]
            np.testing.assert_array_equal(ds[var].sel(state=state).values, want, err_msg=var)
            assert ds[var].attrs["units"] == h5_unit(h5, path), var
        r = ds.resistance.sel(state="P").values
        g_p = h5["defects/g_p"][()]
        np.testing.assert_array_equal(r[g_p > 0], 1.0 / g_p[g_p > 0])
        # an open at the noise floor (mean conductance <= 0) has no resistance, never a
        # negative one: exported resistances were -9 MOhm on opens
        assert np.isnan(r[g_p <= 0]).all() and not (np.nan_to_num(r) < 0).any()
        assert ds.resistance.attrs["units"] == "ohm"
        if "defects/resistive_open" in h5:
            flagged = ds.resistive_open.values.astype(bool)
            np.testing.assert_array_equal(flagged, h5["defects/resistive_open"][()])
        if "characterization/array_time" in h5:  # 0.1 files did not record it
            times = h5["characterization/array_time"][()][order]
            np.testing.assert_array_equal(ds.array_start.values, times[:, 0])
            np.testing.assert_array_equal(ds.array_end.values, times[:, 1])
            assert ds.array_start.attrs["units"] == "s"
        else:
            assert "array_start" not in ds
        assert json.loads(ds.attrs["plan"]) == json.loads(h5.attrs["plan"])
        assert ds.attrs["run_id"] == h5.attrs["run_id"]
        if "remeasure" in h5:
            sel = ds.remeasure_conductance.sel(state="AP").values
            np.testing.assert_array_equal(sel, h5["remeasure/g_after_ap"][()])
            np.testing.assert_array_equal(ds.remeasure_selected.values, h5["remeasure/selected"])


def test_the_fresh_characterization_has_a_remeasurement(runs: dict[str, Path]):
    ds = mtj_hil.load(runs["characterization"])
    assert ds.sizes["remeasure_array"] > 0 and "remeasure_conductance_bias" in ds


@pytest.mark.parametrize("kind", ["switching", "legacy-switching"])
def test_switching_values_and_units_are_the_files(runs: dict[str, Path], kind: str):
    ds = mtj_hil.load(runs[kind])
    with h5py.File(runs[kind]) as h5:
        floor = h5["switching/point_floor"][()].astype(bool)
        trials = h5["switching/trials"][()].astype(np.int64)
        switched = h5["switching/switched"][()].astype(np.int64)
        amp = h5["switching/point_amplitude"][()]
        width = h5["switching/point_width"][()]
        direction = h5["switching/point_direction"][()]
        # every grid point lands where its coordinates say, counts summed over repeats
        for i in np.flatnonzero(~floor)[:10]:
            cell = ds.sel(
                array=int(h5["switching/array_index"][0]),
                direction=["AP", "P"][int(direction[i])],
                width=width[i],
                amplitude=amp[i],
            )
            same = (~floor) & (amp == amp[i]) & (width == width[i]) & (direction == direction[i])
            np.testing.assert_array_equal(cell.trials.values, trials[same].sum(0))
            np.testing.assert_array_equal(cell.switched.values, switched[same].sum(0))
        assert int(ds.trials.sum()) == int(trials[~floor].sum())
        assert int(ds.floor_trials.sum()) == int(trials[floor].sum())
        assert ds.amplitude.attrs["units"] == h5_unit(h5, "switching/point_amplitude") == "V"
        assert ds.width.attrs["units"] == h5_unit(h5, "switching/point_width") == "s"
        for d in ("AP", "P"):
            for var in ("vc", "vc_sd", "delta", "delta_sd"):
                path = f"switching_fit/{d}/{var}"
                np.testing.assert_array_equal(ds[var].sel(direction=d).values, h5[path][()])
                assert ds[var].attrs["units"] == h5_unit(h5, path)
            np.testing.assert_array_equal(
                ds.wer_median.sel(direction=d).values, h5[f"switching_fit/{d}/wer_median"][()]
            )
            cov = h5[f"switching_fit/{d}/cov"][()]
            for name, (i, j), units in (
                ("fit_var_a", (0, 0), "1"),
                ("fit_var_b", (1, 1), "V-2"),
                ("fit_cov_ab", (0, 1), "V-1"),
            ):
                np.testing.assert_array_equal(ds[name].sel(direction=d).values, cov[..., i, j])
                assert ds[name].attrs["units"] == units
        np.testing.assert_array_equal(ds.disturb_flips.values, h5["switching/disturb_flips"][()])
        # CF flags: a 0/1 variable says what its values mean, as fit_status does
        for name in ("fit_status", "state_read_per_device", "state_read_left_out"):
            if name in ds:
                attrs = ds[name].attrs
                assert len(attrs["flag_values"]) == len(attrs["flag_meanings"].split()), name
        if "switching/loop_g" in h5:
            np.testing.assert_array_equal(ds.loop_conductance.values, h5["switching/loop_g"][()])
            np.testing.assert_array_equal(ds.loop_voltage.values, h5["switching/loop_voltage"][()])
            assert ds.loop_conductance.attrs["units"] == "S"
        assert ds.attrs["tau0"] == h5["switching_fit"].attrs["tau0"]


def test_an_unfinished_run_loads_what_it_has(runs: dict[str, Path]):
    ds = mtj_hil.load(runs["legacy-characterization-interrupted"])
    assert ds.attrs["status"] == "aborted"
    assert "defect" not in ds and ds.sizes["array"] > 0
    assert ds.conductance.attrs["units"] == "S"


def test_defect_table_lists_the_defective_devices(runs: dict[str, Path]):
    ds = mtj_hil.load(runs["characterization"])
    table = mtj_hil.defect_table(ds)
    assert len(table) == int((ds.defect != 0).sum())
    assert set(table.defect) <= {"SHORT", "OPEN", "STUCK_P", "STUCK_AP", "UNCERTAIN"}
    first = table.iloc[0]
    cell = ds.sel(array=first["array"], row=first["row"], column=first["column"])
    assert first["r_p"] == float(cell.resistance.sel(state="P"))
    assert (
        first["defect"]
        == ["GOOD", "SHORT", "OPEN", "STUCK_P", "STUCK_AP", "UNCERTAIN"][int(cell.defect)]
    )
    everything = mtj_hil.defect_table(runs["characterization"], include_good=True)
    assert len(everything) == ds.defect.size


def test_an_interrupted_switching_run_loads_its_finished_arrays(tmp_path: Path):
    path = tmp_path / "cut.h5"

    def stop_after_first(done: int, total: int, array: int) -> None:
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        mtj_hil.measure_switching(
            mtj_hil.simulated_die(2),
            path,
            arrays=[4, 1],
            widths=[1e-7],
            amplitudes=[0.6, 0.9],
            trials=4,
            disturb_reads=10,
            progress=stop_after_first,
        )
    ds = mtj_hil.load(path)
    assert ds.attrs["status"] == "aborted"
    assert list(ds.array.values) == [4] and "vc" not in ds
    assert int(ds.trials.sum()) > 0
    nc = write_netcdf(ds, tmp_path / "cut.nc")
    with xr.open_dataset(nc) as back:
        assert_same(ds, back.load())
