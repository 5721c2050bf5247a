"""``export`` refuses a run file whose data ``show`` refuses: data changed after they were
written (their per-array checksums no longer match), or a dataset gone. An export must never
carry damaged numbers into a NetCDF, CSV or NeXus file as if they were measured."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtj_hil.cli.main import main
from mtj_hil.errors import StoreError
from mtj_hil.labelled.export import export_run
from mtj_hil.runs.store.image import encode, open_image, read_file, seal


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("damaged") / "c.h5"
    args = ["characterize", "--profile", "passive-15x15", "--arrays", "0-1", "--cycles", "1"]
    assert main([*args, "--no-report", "--out", str(path)]) == 0
    return path


def _edited(src: Path, dst: Path, edit) -> Path:
    """A copy of ``src`` edited in its tree and written back with fresh file and dataset
    checksums, as a tool that rewrites the file would leave it."""
    h5 = open_image(read_file(src), writable=True)
    edit(h5)
    seal(h5)
    dst.write_bytes(encode(h5))
    h5.close()
    return dst


def _double_one_reading(h5) -> None:
    h5["characterization/g_after_p"][0, 0, 0, 0, 0] *= 2


@pytest.mark.parametrize("fmt", ["netcdf", "csv", "nexus"])
@pytest.mark.parametrize(
    "edit",
    [_double_one_reading, lambda h5: h5.__delitem__("defects/codes")],
    ids=["reading-changed", "defect-map-gone"],
)
def test_damaged_data_are_not_exported(run, tmp_path, fmt, edit, capsys):
    damaged = _edited(run, tmp_path / "damaged.h5", edit)
    assert main(["show", str(damaged)]) == 4  # show refuses it ...
    out = tmp_path / f"out.{fmt}"
    with pytest.raises(StoreError, match=str(damaged)):
        export_run(damaged, fmt, out)  # ... and so does export
    assert main(["export", str(damaged), "--format", fmt, "--out", str(out)]) == 4
    assert not out.exists()
    assert export_run(run, fmt, tmp_path / f"good.{fmt}")  # the intact run still exports


@pytest.mark.parametrize("value", [1.5, -1, "garbage"])
def test_a_format_version_that_is_no_whole_number_is_damage(run, tmp_path, capsys, value):
    edited = _edited(
        run, tmp_path / "v.h5", lambda h5: h5.attrs.__setitem__("format_version", value)
    )
    assert main(["show", str(edited)]) == 4
    assert "format_version" in capsys.readouterr().err
    with pytest.raises(StoreError, match="format_version"):
        export_run(edited, "netcdf", tmp_path / "v.nc")


@pytest.mark.parametrize("value", [1, 1.0])
def test_a_whole_format_version_is_read(run, tmp_path, value):
    edited = _edited(
        run, tmp_path / "v.h5", lambda h5: h5.attrs.__setitem__("format_version", value)
    )
    assert main(["show", str(edited)]) == 0


def _drop_sums(h5) -> None:
    del h5["characterization/array_sha256"]


def _list_array_0_twice(h5) -> None:
    h5["characterization/array_index"][1] = 0


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (lambda h5: h5.__delitem__("characterization"), "holds no data for arrays [0, 1]"),
        (lambda h5: h5.__delitem__("characterization/array_index"), "holds no data"),
        (_drop_sums, "checksums of its arrays"),
        (_list_array_0_twice, "lists an array twice"),
        (lambda h5: h5.__delitem__("defects"), "holds no classification"),
    ],
    ids=["measurements-gone", "index-gone", "checksums-gone", "array-twice", "defects-gone"],
)
def test_a_list_of_finished_arrays_that_cannot_be_true_is_damage(run, tmp_path, capsys, edit, said):
    """A completed run must hold every planned array once, each with its checksum (format 1
    writes one per array); otherwise show printed a full yield table beside '0 of 2 done'."""
    damaged = _edited(run, tmp_path / "d.h5", edit)
    assert main(["show", str(damaged)]) == 4
    assert said in capsys.readouterr().err
    with pytest.raises(StoreError, match="damaged"):
        export_run(damaged, "netcdf", tmp_path / "d.nc")


def test_a_run_of_no_measurement_kind_is_not_exported(run, tmp_path):
    """NetCDF and CSV refused an unknown kind; the NeXus copy wrote it."""
    odd = _edited(run, tmp_path / "odd.h5", lambda h5: h5.attrs.__setitem__("kind", "banana"))
    for fmt in ("nexus", "netcdf"):
        with pytest.raises(StoreError, match="'banana' run"):
            export_run(odd, fmt, tmp_path / f"odd.{fmt}")
        assert not (tmp_path / f"odd.{fmt}").exists()


def test_verify_says_when_the_checksum_header_is_lost(run, tmp_path, capsys):
    """A copy made by another program (h5py here; h5repack alike) has no header: its
    datasets still verify, its root attributes cannot, and show --verify says so. A header
    damaged in place (zeroed) is damage."""
    import h5py

    from mtj_hil.runs.store.image import open_image

    copied = tmp_path / "copied.h5"
    with open_image(read_file(run)) as src, h5py.File(copied, "w") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        for name in src:
            src.copy(src[name], dst, name=name)
    assert main(["show", "--verify", str(copied)]) == 0
    assert "has no checksum header" in capsys.readouterr().err
    assert main(["show", "--verify", str(run)]) == 0
    assert "has no checksum header" not in capsys.readouterr().err
    data = bytearray(run.read_bytes())
    data[:512] = bytes(512)  # the header zeroed in place
    zeroed = tmp_path / "zeroed.h5"
    zeroed.write_bytes(bytes(data))
    assert main(["show", str(zeroed)]) == 4
    assert "checksum header is damaged" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["plan", "layout"])
def test_a_run_without_its_plan_or_layout_is_named_damaged(run, tmp_path, capsys, name):
    """Refused before: with h5py's own text ("can't locate attribute")."""
    damaged = _edited(run, tmp_path / "d.h5", lambda h5: h5.attrs.__delitem__(name))
    assert main(["show", str(damaged)]) == 4
    err = capsys.readouterr().err
    assert f"its {name} attribute is gone: the file is damaged" in err
    assert "locate attribute" not in err


@pytest.mark.parametrize(
    "edit",
    [_double_one_reading, lambda h5: h5.__delitem__("defects/codes")],
    ids=["reading-changed", "defect-map-gone"],
)
def test_the_python_api_refuses_what_show_refuses(run, tmp_path, edit):
    # mtj_hil.load built a Dataset from a file whose checksums failed: a doubled reading
    # came back as a measurement in a notebook while show and export refused the file
    import mtj_hil

    damaged = _edited(run, tmp_path / "damaged.h5", edit)
    with pytest.raises(StoreError, match=str(damaged)):
        mtj_hil.load(damaged)
    assert mtj_hil.load(run).sizes["array"] == 2  # the intact run still loads


def test_the_defect_table_of_a_damaged_file_is_refused(run, tmp_path):
    # defect_table(path) and Run.defects() built their table without the checksum check
    import mtj_hil

    damaged = _edited(run, tmp_path / "damaged.h5", _double_one_reading)
    with pytest.raises(StoreError, match=str(damaged)):
        mtj_hil.defect_table(damaged)
    with pytest.raises(StoreError, match=str(damaged)):
        mtj_hil.open_run(damaged).defects()
    assert len(mtj_hil.defect_table(run, include_good=True)) == 2 * 15 * 15


def _copied_by_h5py(src: Path, dst: Path) -> Path:
    """A faithful copy made by another program (h5py): no checksum header, the datasets'
    own ``sha256`` attributes carried over."""
    import h5py

    with h5py.File(src, "r") as s, h5py.File(dst, "w") as d:
        for key, value in s.attrs.items():
            d.attrs[key] = value
        for name in s:
            s.copy(s[name], d, name=name)
    return dst


def test_arrays_renumbered_in_a_copy_are_refused(run, tmp_path, capsys):
    # the per-array checksums cover rows, not array numbers: reversing the finished-arrays
    # list made load() return array 1's data as array 0, and show and export took it
    import h5py

    import mtj_hil

    copy = _copied_by_h5py(run, tmp_path / "copy.h5")
    assert main(["show", str(copy)]) == 0  # a faithful copy reads
    with h5py.File(copy, "a") as h5:
        index = h5["characterization/array_index"]
        index[...] = index[()][::-1]
    assert main(["show", str(copy)]) == 4
    assert "array_index: values differ from its sha256 checksum" in capsys.readouterr().err
    with pytest.raises(StoreError, match="array_index"):
        mtj_hil.load(copy)
    # an unfinished copy is not held to its dataset checksums as a whole (mtj-hil 0.1
    # wrote them on completion), but its list of finished arrays still is
    with h5py.File(copy, "a") as h5:
        h5.attrs["status"] = "aborted"
    assert main(["show", str(copy)]) == 4
    assert "list of finished arrays was changed" in capsys.readouterr().err


def test_values_changed_in_a_copy_are_refused_by_show_load_and_export(run, tmp_path, capsys):
    # no header covers a copy's bytes: a defect code changed in it passed show, load and
    # export; only show --verify compared the datasets with their own checksums
    import h5py

    import mtj_hil

    copy = _copied_by_h5py(run, tmp_path / "copy.h5")
    with h5py.File(copy, "a") as h5:
        h5["defects/codes"][0, 0, 0] = 3
    assert main(["show", str(copy)]) == 4
    assert "defects/codes: values differ from its sha256 checksum" in capsys.readouterr().err
    with pytest.raises(StoreError, match="defects/codes"):
        mtj_hil.load(copy)
    with pytest.raises(StoreError, match="defects/codes"):
        export_run(copy, "netcdf", tmp_path / "copy.nc")
    assert not (tmp_path / "copy.nc").exists()
