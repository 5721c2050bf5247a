"""Edges of the command line: huge or reversed ranges, non-finite numbers, empty paths, file
names that look like markup, and the help and messages around them."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from mtj_hil.cli import main
from mtj_hil.cli.common import parse_arrays
from mtj_hil.cli.switching_options import MAX_POINTS, parse_floats
from mtj_hil.errors import ConfigError
from mtj_hil.live.server import _stop_after


def _err(capsys: pytest.CaptureFixture[str]) -> str:
    return " ".join(capsys.readouterr().err.split())


@pytest.fixture(scope="module")
def c0(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished one-array characterisation run file."""
    out = tmp_path_factory.mktemp("c0") / "c0.h5"
    args = ["characterize", "--arrays", "0", "--cycles", "1", "--no-report", "--out", str(out)]
    assert main(args) == 0
    return out


# 1: ranges are checked before they are built


@pytest.mark.parametrize("text", ["0-99999999999", "0-9999999999", "3,0-99999999999"])
def test_a_huge_array_range_is_refused_before_it_is_built(text):
    with pytest.raises(ConfigError, match=r"arrays must lie in 0\.\.31"):
        parse_arrays(text, 32)


def test_a_reversed_array_range_is_named_as_reversed():
    with pytest.raises(ConfigError, match="runs backwards; write it from low to high"):
        parse_arrays("5-3", 32)


@pytest.mark.parametrize("text", ["0-", "0--1", "-1", "+1", "1_0", "0,,1", "٠", "0-x"])
def test_a_part_that_is_no_index_or_range_is_refused(text):
    # '0-' read as array 0 alone, '+1' and '1_0' went through int()
    with pytest.raises(ConfigError, match="is not an index or a range like 2-5"):
        parse_arrays(text, 32)


def test_array_selection_keeps_order_without_duplicates():
    assert parse_arrays("3,0-2,1,31", 32) == (3, 0, 1, 2, 31)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0.4:1:1e-12", f"more than {MAX_POINTS:,} values"),
        ("0.4:1:1e-320", f"more than {MAX_POINTS:,} values"),
        ("0.4:inf:0.1", "must be finite"),
        ("nan:1:0.1", "must be finite"),
        ("0.4,inf", "must be finite"),
        ("0.4:1", "is not a list like"),
        ("1:0.4:0.1", "is not a list like"),
    ],
)
def test_amplitude_ranges_too_long_or_not_finite_are_refused(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_floats(text, "--amplitudes")


def test_amplitude_ranges_still_parse():
    assert parse_floats("0.4:0.5:0.05", "--amplitudes") == (0.4, 0.45, 0.5)
    assert parse_floats("1e-8,1e-7", "--widths") == (1e-8, 1e-7)
    assert parse_floats(None, "--widths") is None


@pytest.mark.parametrize(
    "args",
    [
        ["characterize", "--arrays", "0-99999999999"],
        ["switching", "--arrays", "0-9999999999"],
    ],
)
def test_huge_ranges_end_in_a_config_error(args, tmp_path, capsys):
    # an array selection is checked against the die's arrays: the die decides (exit 3)
    assert main([*args, "--out", str(tmp_path / "x.h5")]) == 3
    err = _err(capsys)
    assert "error (ConfigError)" in err and "unexpected" not in err
    assert not (tmp_path / "x.h5").exists()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--amplitudes", "0.4:1:1e-12"], "names more than 10,000 values"),
        (["--amplitudes", "0.4:inf:0.1"], "every number must be finite"),
    ],
)
def test_huge_or_infinite_amplitude_ranges_are_a_bad_command_line(args, said, tmp_path, capsys):
    # the text alone is wrong, whatever the die: refused as the command line is read
    assert main(["switching", "--arrays", "0", *args, "--out", str(tmp_path / "x.h5")]) == 2
    err = _err(capsys)
    assert "Invalid value for '--amplitudes'" in err and said in err
    assert not (tmp_path / "x.h5").exists()


# 2: file names are printed as written


def test_export_prints_a_bracketed_file_name_as_written(c0, tmp_path, capsys):
    for name in ("a[red]b.nc", "q[/]z.nc"):
        target = tmp_path / name
        assert main(["export", "--format", "netcdf", str(c0), "--out", str(target)]) == 0
        assert f"wrote {target}" in _err(capsys)


def test_view_prints_a_bracketed_file_name_as_written(c0, tmp_path, capsys, monkeypatch):
    import mtj_hil.live.server as server

    monkeypatch.setattr(server, "serve", lambda *args, **kwargs: None)
    shown = tmp_path / "v[red]x.h5"
    shown.write_bytes(c0.read_bytes())
    assert main(["view", str(shown), "--seconds", "1"]) == 0
    assert f"live view of {shown}:" in _err(capsys)


# 3: view --seconds


@pytest.mark.parametrize("seconds", ["1e10", "nan", "inf", "0"])
def test_view_refuses_seconds_not_finite_or_past_a_week(seconds, c0, capsys, monkeypatch):
    import mtj_hil.live.server as server

    monkeypatch.setattr(server, "serve", lambda *args, **kwargs: None)
    assert main(["view", str(c0), "--seconds", seconds]) == 2
    assert "--seconds" in _err(capsys)


class _Server:
    def __init__(self) -> None:
        self.stopped = False

    def shutdown(self) -> None:
        self.stopped = True


def test_stop_after_waits_any_length_without_overflow():
    server, stop = _Server(), threading.Event()
    timer = threading.Timer(0.2, stop.set)
    timer.start()
    _stop_after(server, 1e10, stop)  # type: ignore[arg-type]
    timer.join()
    assert not server.stopped


@pytest.mark.parametrize("seconds", [0.05, float("nan")])
def test_stop_after_stops_the_server(seconds):
    server = _Server()
    _stop_after(server, seconds, threading.Event())  # type: ignore[arg-type]
    assert server.stopped


# 4: empty paths


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["characterize", "--out", ""], "'--out'"),
        (["characterize", "--out", "", "--resume"], "'--out'"),
        (["switching", "--out", ""], "'--out'"),
        (["characterize", "--station", ""], "'--station'"),
        (["export", "--format", "csv", "{c0}", "--out", "", "--force"], "'--out'"),
        (["export", "--format", "csv", ""], "'RUN'"),
        (["view", ""], "'PATH'"),
        (["fit-profile", "{c0}", "-o", ""], "'-o' / '--out'"),
        (["demo", "--out-dir", ""], "'--out-dir'"),
        (["examples", ""], "'DIRECTORY'"),
    ],
)
def test_an_empty_path_is_a_usage_error_naming_the_option(
    args, option, c0, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    assert main([a.replace("{c0}", str(c0)) for a in args]) == 2
    err = _err(capsys)
    assert f"Invalid value for {option}: an empty path names no" in err
    assert list(tmp_path.iterdir()) == []


# 5: the characterisation summary


def test_show_prints_the_threshold_method_without_a_stray_backslash(c0, capsys):
    assert main(["show", str(c0)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "thresholds (S):" in out and "[per-device" in out
    assert "\\[" not in out


# 6: --live-host help


@pytest.mark.parametrize("command", [["characterize"], ["switching"], ["campaign", "run"]])
def test_live_host_help_states_its_default(command, capsys):
    assert main([*command, "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Address of the --live page [default: 127.0.0.1, this machine only]." in out


# 7: read voltage 0


@pytest.mark.parametrize("volts", ["0", "-0.1"])
def test_a_read_voltage_not_above_zero_is_named_so(volts, tmp_path, capsys):
    args = ["characterize", "--arrays", "0", "--read-voltage", volts]
    assert main([*args, "--out", str(tmp_path / "x.h5")]) == 5
    err = _err(capsys)
    assert f"read voltage {volts} V must be above 0 V" in err
    assert "outside" not in err


def test_ranges_below_a_nanosecond_keep_their_values():
    """Rounding a range's points to 9 decimals turned 1e-10 s widths into 0 s."""
    assert parse_floats("1e-10:5e-10:1e-10", "--widths") == (1e-10, 2e-10, 3e-10, 4e-10, 5e-10)
    assert parse_floats("0.1:0.3:0.1", "--amplitudes") == (0.1, 0.2, 0.3)  # no float noise


def test_show_refuses_a_pipe_or_device_instead_of_waiting(tmp_path, capsys):
    """A FIFO was read for ever; /dev/null was called TOML."""
    import os

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/null")):
        assert main(["show", str(path)]) == 4
        assert "not a regular file" in capsys.readouterr().err


def test_lab_serve_refuses_seconds_that_are_no_number(capsys):
    """``lab serve --seconds nan`` served and stopped at once."""
    assert main(["lab", "serve", "--seconds", "nan"]) == 2
    assert "'nan' is not a finite number" in _err(capsys)


def _float_options() -> list[tuple[list[str], str]]:
    """(command path, option) of every number option of every command."""
    import click

    from mtj_hil.cli.main import cli

    found = []

    def walk(command: click.Command, path: list[str]) -> None:
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
            return
        for param in command.params:
            if isinstance(param, click.Option) and isinstance(
                param.type, click.types.FloatParamType
            ):
                found.append((path, param.opts[0]))

    walk(cli, [])
    return found


def test_every_number_option_refuses_nan_and_inf_as_a_bad_command_line(capsys):
    """``click.FloatRange`` and ``type=float`` let ``nan`` and ``inf`` through: some
    commands then refused them only in the library (exit 3, 5 or 6, as a die setting),
    ``lab serve --seconds nan`` served and stopped at once. Every number option of every
    command now refuses them while the command line is parsed (exit 2, naming the option)."""
    options = _float_options()
    assert len(options) >= 15, options  # the walk found the commands' options
    for path, option in options:
        for value in ("nan", "inf", "-inf"):
            assert main([*path, option, value]) == 2, (path, option, value)
            err = _err(capsys)
            assert option in err and "is not a finite number" in err, (path, option, err)


def test_a_value_given_twice_is_refused():
    """``--widths 1e-7,1e-7`` was accepted: one grid point measured as two."""
    with pytest.raises(ConfigError, match="names 1e-07 twice"):
        parse_floats("1e-7,1e-7", "--widths")
    assert parse_floats("1e-7,2e-7", "--widths") == (1e-7, 2e-7)


def test_calibration_show_of_a_missing_file_says_so(tmp_path, capsys):
    """``calibration show ./nope.toml`` was a usage error (exit 2) that never said the file
    does not exist."""
    missing = tmp_path / "nope.toml"
    assert main(["calibration", "show", str(missing)]) == 8
    assert f"no calibration record file {missing}" in _err(capsys)


@pytest.mark.parametrize("record", ["", "  "])
def test_calibration_show_of_an_empty_record_name_is_a_usage_error(record, capsys):
    """``calibration show ''`` said "no calibration record file  (not a file)" with exit 8,
    as if a measurement had failed."""
    assert main(["calibration", "show", record]) == 2
    assert "RECORD is empty" in _err(capsys)


def test_the_api_names_its_default_run_file_as_the_command_does(tmp_path, monkeypatch):
    """``mtj_hil.characterize(die)`` wrote runs/characterization-..., the command
    runs/characterize-...: one default, one name."""
    import mtj_hil
    from mtj_hil.cli.common import default_out

    monkeypatch.chdir(tmp_path)
    run = mtj_hil.characterize(mtj_hil.simulated_die(3), arrays=[0])
    expected = default_out("characterize", mtj_hil.simulated_die(3).die_id)
    assert run.path.parent == expected.parent
    assert run.path.name.rsplit("-", 1)[0] == expected.name.rsplit("-", 1)[0]


def test_goodwill_refuses_a_reference_folder_that_does_not_exist(tmp_path, capsys):
    """``--reference /nonexistent`` ran, skipped the reference with one line and exited 0."""
    assert main(["experiment", "goodwill", "--reference", str(tmp_path / "nope")]) == 2
    assert "does not exist" in _err(capsys)
    # a folder that exists but holds no daffodil data ran, skipped it and exited 0 too
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out"
    args = ["experiment", "goodwill", "--reference", str(empty), "--out-dir", str(out)]
    assert main(args) == 2
    assert "holds no daffodil-wine data" in _err(capsys)
    assert not out.exists()  # refused before any training


@pytest.mark.parametrize(
    "args",
    [
        ["characterize", "--arrays", "0", "--cycles", "1", "--out", "{fifo}"],
        ["export", "{fifo}", "--format", "netcdf"],
        ["campaign", "status", "{fifo}"],
    ],
)
def test_a_device_or_pipe_given_as_a_file_is_refused_not_read(tmp_path, capsys, args):
    """``--out /dev/full``, ``export /dev/zero`` read the device until the machine ran out
    of memory; a named pipe waited for ever. (A pipe here: it cannot eat the memory; read,
    it would hang the test until its timeout.)"""
    import os

    fifo = tmp_path / "pipe.h5"
    os.mkfifo(fifo)
    assert main([a.format(fifo=fifo) for a in args]) in (3, 4)
    err = _err(capsys)
    assert "not a regular file" in err and "Traceback" not in err


def test_a_read_voltage_lost_in_the_noise_is_named_as_a_cause(tmp_path, capsys):
    # it blamed only the write pulse and the wiring
    out = tmp_path / "run.h5"
    args = ["characterize", "--profile", "passive-15x15", "--arrays", "0", "--no-report"]
    assert main([*args, "--read-voltage", "1e-6", "--out", str(out)]) == 5
    said = " ".join(capsys.readouterr().err.split())
    assert "the read voltage (the currents it gives must stand well above" in said


@pytest.mark.parametrize("text", ["1e-8,,1e-7", "1e-8,1e-7,", ",1e-8"])
def test_an_empty_item_in_a_number_list_is_refused(text):
    # --widths and --amplitudes dropped empty items where --arrays refused them
    from mtj_hil.cli.switching_options import parse_floats

    with pytest.raises(ConfigError, match="is not a list like"):
        parse_floats(text, "--widths")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "is not a list like"),
        ("0:1", "is not a list like"),
        ("0:1:+1", "is not a list like"),
        ("0:0:0,0:0:0", "names 0:0:0 twice"),
    ],
)
def test_loop_devices_are_refused_like_the_other_lists(text, said):
    from mtj_hil.cli.switching import parse_devices

    with pytest.raises(ConfigError, match=said):
        parse_devices(text)
    assert parse_devices("0:1:1,3:4:20") == ((0, 1, 1), (3, 4, 20))


def test_a_path_option_whose_default_is_a_path_object_converts():
    # the check for names of only spaces called str methods on a Path default: demo crashed
    from pathlib import Path

    from mtj_hil.cli.paths import GivenPath

    assert GivenPath(path_type=Path).convert(Path("runs/x.h5"), None, None) == Path("runs/x.h5")


def test_csv_export_fills_an_empty_folder_made_for_it(c0, tmp_path, capsys):
    """``export --format csv --out tables`` into a folder just made (empty) asked for
    --force, as if tables would be replaced; a folder holding files still needs it."""
    folder = tmp_path / "tables"
    folder.mkdir()
    assert main(["export", str(c0), "--format", "csv", "--out", str(folder)]) == 0
    assert (folder / "attributes.csv").is_file()
    capsys.readouterr()
    assert main(["export", str(c0), "--format", "csv", "--out", str(folder)]) == 4
    assert "already holds files" in _err(capsys)
