"""``mtj-hil station check`` and the exit code of a run whose SMU stops answering."""

from __future__ import annotations

import re
import tomllib

import pytest

import mtj_hil.sim.lab.lab as lab_module
from mtj_hil.cli.main import main
from mtj_hil.sim.profile import shipped_profile_path
from mtj_hil.station.files import station_from_dict

from .conftest import STATION


def _write(tmp_path, data: dict) -> str:
    lines: list[str] = []

    def emit(prefix: str, table: dict) -> None:
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
        if prefix:
            lines.append(f"[{prefix}]")
        for key, value in scalars.items():
            if isinstance(value, str):
                lines.append(f'{key} = "{value}"')
            elif isinstance(value, bool):
                lines.append(f"{key} = {str(value).lower()}")
            else:
                lines.append(f"{key} = {value!r}")
        for key, value in table.items():
            if isinstance(value, dict):
                emit(f"{prefix}.{key}" if prefix else key, value)

    emit("", data)
    path = tmp_path / "station.toml"
    path.write_text("\n".join(lines) + "\n")
    station_from_dict(tomllib.loads(path.read_text()), path)  # the file is valid
    return str(path)


def _virtual(**smu: object) -> dict:
    data = tomllib.loads(STATION.read_text())
    del data["calibration"]
    data["smu"]["sense"].update(smu)
    return data


def _small_die(tmp_path, data: dict, arrays: int = 2, lines: int = 6) -> dict:
    """``data`` (a station as nested dicts) on a die of ``arrays`` arrays of ``lines`` x
    ``lines`` cells, otherwise the virtual lab's own profile (file ``small-die.toml`` in
    ``tmp_path``): for runs whose faults and checks do not depend on the die's size, at a
    fraction of the readings (the SMU read path reads one cell at a time)."""
    text = shipped_profile_path(data["die"]["profile"]).read_text()
    for key, value in (("n_arrays", arrays), ("rows", lines), ("cols", lines)):
        text, n = re.subn(rf"(?m)^{key} = \d+", f"{key} = {value}", text)
        assert n == 1, key
    path = tmp_path / "small-die.toml"
    path.write_text(text.replace('name = "', 'name = "small-die-of-', 1))
    data["die"]["profile"] = str(path)
    return data


def _calibrating(tmp_path, cal, data: dict | None = None, **changes: object) -> str:
    """A station file of ``data`` (default: the virtual lab, uncalibrated) whose shipped
    ``[calibration]`` section files its records in ``cal`` (``changes``: other keys of it)."""
    data = _virtual() if data is None else data
    shipped = tomllib.loads(STATION.read_text())["calibration"]
    data["calibration"] = {**shipped, "dir": str(cal), **changes}
    return _write(tmp_path, data)


@pytest.mark.slow
def test_station_check_on_the_virtual_lab_verifies_and_never_turns_an_output_on(
    tmp_path, capsys, monkeypatch, made_smus
):
    made = made_smus
    data = _virtual(driver="keithley2450")
    data["virtual_lab"]["smu_start"] = "last-user"
    assert main(["station", "check", _write(tmp_path, data), "-v"]) == 0
    out = capsys.readouterr().out
    assert "controller" in out and "identified" in out
    assert "known state verified" in out and "MODEL 2450" in out
    assert "source function: asked VOLT" in out  # -v lists every setting read back
    (smu,) = made
    on_after_start = [a for a in smu.history if a.output][1:]  # the start state's own entry
    assert not on_after_start and smu.output is False


@pytest.mark.slow
def test_station_check_names_each_unreachable_instrument(tmp_path, capsys):
    data = _virtual()
    del data["virtual_lab"]
    data["controller"]["url"] = "socket://127.0.0.1:9"
    data["smu"]["sense"].update(resource="TCPIP::127.0.0.1::9::SOCKET", timeout=0.5)
    data["smu"]["drive"] = {
        "driver": "keithley2600",
        "resource": "GPIB0::24::INSTR",
        "role": "drive",
        "channel": "b",
    }
    code = main(["station", "check", _write(tmp_path, data)])
    captured = capsys.readouterr()
    assert code == 7
    assert "2 of 3" not in captured.err and "3 of 3 instruments failed" in captured.err
    lines = [line for line in captured.out.splitlines() if line.startswith("FAIL")]
    assert len(lines) == 3  # one line per instrument
    controller, sense, drive = lines
    assert "controller at socket://127.0.0.1:9: unreachable" in controller
    assert "smu.sense at TCPIP::127.0.0.1::9::SOCKET: unreachable" in sense
    assert "smu.drive at GPIB0::24::INSTR: unreachable" in drive
    assert 'pip install "mtj-hil[gpib]"' in drive


def test_wrong_visa_library_is_a_config_error_naming_the_key(tmp_path, capsys):
    data = _virtual()
    data["station"]["visa_library"] = "@banana"
    path = tmp_path / "bad.toml"
    path.write_text(
        STATION.read_text().replace('name = "virtual-lab"', 'name = "x"\nvisa_library = "@banana"')
    )
    assert main(["station", "check", str(path)]) == 3
    assert "station.visa_library = '@banana' is not allowed" in capsys.readouterr().err


@pytest.mark.slow
def test_an_smu_that_stops_answering_mid_run_exits_7_naming_resource_and_command(
    tmp_path, capsys, monkeypatch
):
    made = []
    real = lab_module.make_virtual_smu

    def hangs_after_open(*args, **kwargs):
        smu = real(*args, **kwargs)
        handle = smu.handle
        seen = [0]

        def counting(line):
            seen[0] += 1
            if seen[0] == 80:  # well after the known state and output-on: mid-run
                smu.mute_queries(10**9)
            return handle(line)

        smu.handle = counting
        made.append(smu)
        return smu

    monkeypatch.setattr(lab_module, "make_virtual_smu", hangs_after_open)
    data = _virtual(timeout=0.3)
    data["station"]["read_path"] = "smu"
    station = _write(tmp_path, data)
    out = tmp_path / "run.h5"
    args = ["characterize", "--station", station, "--arrays", "0", "--cycles", "1"]
    code = main([*args, "--out", str(out), "--no-report"])
    err = capsys.readouterr().err
    assert code == 7, err
    assert "SMU sense (keithley2400) at TCPIP::127.0.0.1::" in err
    # the command that met the silence: a reading, or a mid-run read-back of a setting
    # (which the health check's timing decides: it was flaky on a loaded machine)
    assert re.search(r"no reply in time to ':[A-Z:]+\?'", err), err
    assert "Traceback" not in err
    (smu,) = made
    assert smu.output is False  # shutdown's output-off reached the hung instrument


@pytest.mark.parametrize("url", ["/dev/serial/by-path/pci-0000:00:14.0-usb-0:2:1.0-port0",
                                 "/dev/serial/by-id/usb-FTDI_FT232R_A50285BI-if00-port0"])  # fmt: skip
def test_stable_serial_device_names_are_accepted(url):
    data = _virtual()
    data["controller"].update(url=url, exclusive=True, write_timeout=0.5, rtscts=True, dtr=False)
    st = station_from_dict(data, STATION)
    assert st.controller.url == url and st.controller.rtscts and st.controller.dtr is False


@pytest.mark.parametrize(
    ("driver", "start", "live"),
    [
        (
            "keithley2600",
            "other-channel-current",
            "channel b: output ON, current source at 0.001 A",
        ),
        ("keysight_b2900", "other-channel-live", "channel 2: output ON, voltage source at 5 V"),
        ("keithley2450", "last-user", "channel 1: output ON, current source at 0.001 A"),
    ],
)
def test_station_check_reports_every_channel_and_any_live_output_first(
    tmp_path, capsys, monkeypatch, driver, start, live, made_smus
):
    made = made_smus
    data = _virtual(driver=driver)
    data["virtual_lab"]["smu_start"] = start
    # a live output found at 5 V is ramped down at this rate in real time (1 V/s shipped)
    data["safety"]["max_ramp_rate"] = 10.0
    assert main(["station", "check", _write(tmp_path, data)]) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.strip()]
    first_status = next(i for i, ln in enumerate(lines) if ln.startswith(("OK", "FAIL", "LIVE")))
    assert lines[first_status].startswith("LIVE") and live in lines[first_status]
    assert "made safe: output off confirmed" in lines[first_status]
    assert "live output(s) found and switched off" in out
    if driver != "keithley2450":  # both channels of a two-channel unit are reported
        assert out.count("smu.sense: found channel") == 2
    (smu,) = made
    assert smu.output is False
