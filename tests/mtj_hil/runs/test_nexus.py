"""Run files are NeXus files: an independent NeXus reader (nexusformat) opens every run kind,
finds NXentry, NXinstrument, NXsample and the analysis NXprocess, and follows the @default
chain to a plot whose signal and axes are the run's own data."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from nexusformat.nexus import nxload

import mtj_hil


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("nexus")
    die = mtj_hil.simulated_die(4)
    char = mtj_hil.characterize(die, folder / "char.h5", arrays=[2, 6])
    sw = mtj_hil.measure_switching(
        die, folder / "sw.h5", arrays=[0], widths=[1e-7], amplitudes=[0.6, 0.9], trials=4
    )
    return {"characterization": char.path, "switching": sw.path}


def entry_of(path: Path):
    root = nxload(str(path))
    assert root.nxclass == "NXroot"
    entry = root[root.attrs["default"]]
    assert entry.nxclass == "NXentry"
    return root, entry


def test_characterization_opens_with_its_defect_map(runs):
    path = runs["characterization"]
    root, entry = entry_of(path)
    die_map = root.plottable_data
    assert die_map.nxclass == "NXdata" and die_map.nxname == entry.attrs["default"] == "die_map"
    plot = entry["defect_map"]
    assert [a.nxname for a in plot.nxaxes] == ["array", "row", "column"]
    with h5py.File(path) as h5:
        codes = h5["defects/codes"][()]
        # the default plot is the die's codes tiled into one image (2-D: viewers draw it)
        tiled = die_map.nxsignal.nxdata
        assert tiled.ndim == 2 and [a.nxname for a in die_map.nxaxes] == ["y", "x"]
        np.testing.assert_array_equal(tiled[:25, :25], codes[0])
        np.testing.assert_array_equal(tiled[:25, 26:51], codes[1])
        assert np.isnan(tiled[:, 25]).all()
        np.testing.assert_array_equal(plot.nxsignal.nxdata, h5["defects/codes"][()])
        np.testing.assert_array_equal(plot.nxaxes[0].nxdata, [2, 6])
        assert plot.nxsignal.attrs["flag_meanings"].split()[0] == "GOOD"
        g_p = entry["conductance_p"].nxsignal
        np.testing.assert_array_equal(g_p.nxdata, h5["defects/g_p"][()])
        assert g_p.attrs["units"] == "S"
        assert str(entry["sample/name"]) == h5.attrs["die_id"]
        assert str(entry["experiment_identifier"]) == h5.attrs["run_id"]
    assert entry["instrument"].nxclass == "NXinstrument"
    assert str(entry["instrument/name"]) == "simulated"
    assert entry["sample"].nxclass == "NXsample"
    process = entry["classification"]
    assert process.nxclass == "NXprocess"
    assert process["thresholds"].nxclass == "NXparameters"
    assert process["thresholds/short_g"].attrs["units"] == "S"
    assert str(entry["run_status"]) == "completed"


def test_switching_opens_with_its_write_error_rate(runs):
    path = runs["switching"]
    root, entry = entry_of(path)
    plot = root.plottable_data
    assert plot.nxname == "wer_AP"
    assert [a.nxname for a in plot.nxaxes] == ["width", "amplitude"]
    assert plot.nxaxes[0].attrs["units"] == "s" and plot.nxaxes[1].attrs["units"] == "V"
    with h5py.File(path) as h5:
        np.testing.assert_array_equal(plot.nxsignal.nxdata, h5["switching_fit/AP/wer_median"][()])
        np.testing.assert_array_equal(entry["vc_P"].nxsignal.nxdata, h5["switching_fit/P/vc"][()])
    assert list(plot.attrs["auxiliary_signals"]) == ["wer_low", "wer_high"]
    assert entry["fit"].nxclass == "NXprocess"
    assert float(entry["fit/parameters/tau0"]) == 1e-9


def test_an_interrupted_run_shows_its_reads_then_its_map_once_resumed(tmp_path):
    path = tmp_path / "cut.h5"
    die = mtj_hil.simulated_die(5)

    def stop_after_first(done: int, total: int, array: int) -> None:
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        mtj_hil.characterize(die, path, arrays=[0, 1], progress=stop_after_first)
    root, entry = entry_of(path)
    assert str(entry["run_status"]) == "aborted"
    plot = root.plottable_data
    assert plot.nxname == "conductance" and plot.nxsignal.shape[0] == 1
    mtj_hil.characterize(die, path, arrays=[0, 1], resume=True)
    root, entry = entry_of(path)
    assert root.plottable_data.nxname == "die_map"
    assert entry["defect_map"].nxsignal.shape == (2, 25, 25)
    # the view of the reads so far is gone with its labels: the file's NeXus face is that of
    # a run never interrupted
    assert "conductance" not in entry
    with h5py.File(path) as f:
        assert "units" not in f["characterization/g_after_p"].attrs


def test_files_from_before_nexus_still_load(tmp_path):
    legacy = Path(__file__).resolve().parents[2] / "fixtures" / "legacy-0.1"
    ds = mtj_hil.load(legacy / "characterization.h5")
    assert ds.defect.sizes["array"] == 2
    with h5py.File(legacy / "characterization.h5") as h5:
        assert "entry" not in h5


@pytest.mark.parametrize("kind", ["characterization", "switching"])
def test_the_nexus_copy_of_a_0_1_file_reads_back_as_a_verified_run(tmp_path, capsys, kind):
    """``export --format nexus`` of a 0.1 file (its documented way into the current format)
    wrote a copy every reader refused: sealed as a current file, it lacked the per-array
    checksums current files carry, read as "the checksums of its arrays are gone"."""
    from mtj_hil.cli.main import main

    legacy = Path(__file__).resolve().parents[2] / "fixtures" / "legacy-0.1" / f"{kind}.h5"
    copy = tmp_path / f"{kind}.nxs"
    assert main(["export", str(legacy), "--format", "nexus", "--out", str(copy)]) == 0
    capsys.readouterr()
    assert main(["show", "--verify", str(copy)]) == 0
    assert "every checksum good" in " ".join(capsys.readouterr().out.split())
    with h5py.File(copy) as h5:
        group = "characterization" if kind == "characterization" else "switching"
        assert len(h5[f"{group}/array_sha256"]) == len(h5[f"{group}/array_index"])
    original, again = mtj_hil.load(legacy), mtj_hil.load(copy)
    for name in original.data_vars:
        np.testing.assert_array_equal(again[name].values, original[name].values, err_msg=name)


def test_a_plot_the_data_cannot_make_never_hides_how_the_run_ended(tmp_path):
    from mtj_hil.runs.store import RunFile

    path = tmp_path / "odd.h5"
    run = RunFile.create(path, "characterization", die_id="x", extra={"plan": {}, "layout": {}})
    run.h5["defects/codes"] = np.zeros((1, 2, 2), np.uint8)  # no defects/arrays beside it
    run.set_status("failed", "RuntimeError: the measurement's own error")
    run.close()
    root, entry = entry_of(path)
    assert str(entry["run_status"]) == "failed"
    assert "KeyError" in str(entry["nexus_error"]) and "default" not in entry.attrs


def test_the_default_plot_draws_as_the_docs_show(runs):
    """docs/run-files.md: ``nxload(path).plottable_data.plot()``. The default was the 3-D
    defect map, which nexusformat refuses to draw ("Can only plot 1D and 2D data")."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    root, _ = entry_of(runs["characterization"])
    root.plottable_data.plot()
    plt.close("all")


def test_a_new_run_file_names_a_version_after_the_legacy_0_1(runs):
    """Files written by 0.1 are the legacy format the docs name; new files said 0.1.0 too,
    so their provenance could not tell them apart."""
    with h5py.File(runs["characterization"]) as h5:
        major, minor = (int(x) for x in str(h5.attrs["package_version"]).split(".")[:2])
    assert (major, minor) >= (0, 2)


def _plotted_fields(path: Path) -> dict[str, h5py.Dataset]:
    """Every signal, auxiliary signal and axis of the NeXus face's plots (NXdata groups under
    /entry) and every number of its processes' parameters, by its path."""
    found: dict[str, h5py.Dataset] = {}
    with h5py.File(path) as h5:
        entry = h5["entry"]
        for group in entry.values():
            if not isinstance(group, h5py.Group):
                continue
            if group.attrs.get("NX_class") == "NXdata":
                names = [group.attrs["signal"], *group.attrs["axes"]]
                names += list(group.attrs.get("auxiliary_signals", []))
                for name in names:
                    ds = group[str(name)]
                    found[f"{group.name}/{name}"] = dict(ds.attrs)
            if group.attrs.get("NX_class") == "NXprocess":
                for sub in group.values():
                    if isinstance(sub, h5py.Group) and sub.attrs.get("NX_class") == "NXparameters":
                        for name, ds in sub.items():
                            if ds.dtype.kind in "iuf":
                                found[f"{sub.name}/{name}"] = dict(ds.attrs)
    return found


@pytest.mark.parametrize("kind", ["characterization", "switching"])
def test_every_plotted_field_and_parameter_carries_units(runs, kind):
    """The die map's codes, its x / y axes, the row and column axes written into each plot,
    the thresholds' ln spreads and the target WER had no units attribute, while the linked
    /defects/codes said 1. A code and an index number are dimensionless: units 1, as the run
    file's own unit says."""
    fields = _plotted_fields(runs[kind])
    missing = sorted(name for name, attrs in fields.items() if not str(attrs.get("units", "")))
    assert missing == []
    if kind == "characterization":
        die_map = fields["/entry/die_map/codes"]
        assert die_map["units"] == "1" == fields["/entry/defect_map/codes"]["units"]
        assert die_map["flag_meanings"].split()[0] == "GOOD"
        assert fields["/entry/defect_map/row"]["units"] == "1"
        assert fields["/entry/classification/thresholds/short_g"]["units"] == "S"
        assert fields["/entry/classification/thresholds/sigma_ln_p"]["units"] == "1"


def test_the_nexus_export_of_a_file_from_before_nexus_carries_units_too(tmp_path):
    legacy = Path(__file__).resolve().parents[2] / "fixtures" / "legacy-0.1"
    copy = tmp_path / "old.h5"
    copy.write_bytes((legacy / "characterization.h5").read_bytes())
    out = tmp_path / "old.nxs"
    from mtj_hil.labelled.export import export_run

    export_run(copy, "nexus", out)
    fields = _plotted_fields(out)
    assert "/entry/die_map/codes" in fields
    assert sorted(n for n, a in fields.items() if not str(a.get("units", ""))) == []
