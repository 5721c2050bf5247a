"""A run through the command line whose SMU leaves its known state mid-run: exit 7 naming
what happened, outputs off, nothing measured after the fault in the run file, and ``--resume``
goes on from the last good array."""

from __future__ import annotations

import h5py
import pytest

import mtj_hil.sim.lab.lab as lab_module
from mtj_hil.cli.main import main

from .test_cli_station import _small_die, _virtual, _write

FAULTS = {
    "power cycle": (lambda smu: smu.power_cycle(), "power-cycled"),
    "interlock": (lambda smu: smu.trip("interlock"), "interlock changed since open"),
    "another instrument": (
        lambda smu: smu.respond_as("KEITHLEY INSTRUMENTS,MODEL 2450,04599999,9.9"),
        "a different instrument answers",
    ),
}


def _faulty_smu(monkeypatch, fault, made, at):
    """Virtual SMUs that suffer ``fault`` just before mid-run check number ``at`` (1: array
    0's boundary, 2: the check before array 0 is saved, 3: array 1's boundary)."""
    real = lab_module.make_virtual_smu

    def build(*args, **kwargs):
        smu = real(*args, **kwargs)
        handle = smu.handle
        checks = [0]

        def counting(line):
            if line.strip() == "*ESR?":
                checks[0] += 1
                if checks[0] == at:
                    fault(smu)
            return handle(line)

        smu.handle = counting
        made.append(smu)
        return smu

    monkeypatch.setattr(lab_module, "make_virtual_smu", build)


@pytest.mark.parametrize(
    ("name", "at", "kept"),
    [(name, 3, [0]) for name in FAULTS] + [("power cycle", 2, [])],
)
def test_a_fault_mid_run_exits_7_keeps_only_good_arrays_and_resume_finishes(
    tmp_path, capsys, monkeypatch, name, at, kept
):
    """``at`` 2: the fault comes while array 0 is measured; the check before its save stops
    the run, so nothing is stored."""
    fault, words = FAULTS[name]
    made = []
    _faulty_smu(monkeypatch, fault, made, at)
    station = _write(tmp_path, _small_die(tmp_path, _virtual(driver="keithley2450")))
    out = tmp_path / "run.h5"
    args = ["characterize", "--station", station, "--arrays", "0-1", "--cycles", "1", "--no-report"]
    code = main([*args, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 7, err
    assert words in err and "left its known state mid-run" in err
    assert "Traceback" not in err
    (smu,) = made
    assert smu.output is False
    with h5py.File(out, "r") as f:
        assert f.attrs["status"] == "aborted"
        index = f.get("characterization/array_index")
        stored = sorted(int(a) for a in index[:]) if index is not None else []
    assert stored == kept  # nothing read after the fault is recorded
    monkeypatch.undo()
    assert main([*args, "--out", str(out), "--resume"]) == 0, capsys.readouterr().err
    with h5py.File(out, "r") as f:
        assert f.attrs["status"] == "completed"
        assert sorted(int(a) for a in f["characterization/array_index"][:]) == [0, 1]


@pytest.mark.parametrize(("driver", "code"), [("keithley2400", "810"), ("keithley2600", "-200")])
def test_an_smu_still_tripped_at_open_is_named_with_its_error(
    tmp_path, capsys, monkeypatch, driver, code
):
    """An SMU that will not switch on at open (still over temperature, as at a --resume
    after a trip) said only "the sense SMU's output did not switch on"."""
    real = lab_module.make_virtual_smu

    def tripped(*args, **kwargs):
        smu = real(*args, **kwargs)
        smu.trip("over-temperature")
        return smu

    monkeypatch.setattr(lab_module, "make_virtual_smu", tripped)
    station = _write(tmp_path, _virtual(driver=driver))
    args = ["characterize", "--station", station, "--arrays", "0", "--cycles", "1", "--no-report"]
    assert main([*args, "--out", str(tmp_path / "run.h5")]) == 7
    err = " ".join(capsys.readouterr().err.split())
    assert f"SMU sense ({driver})" in err and "did not switch on" in err and code in err, err
    assert "sense SMU SMU" not in err and "Traceback" not in err


LEVEL_COMMANDS = {
    "keithley2400": ":SOUR:VOLT 0.01",
    "keithley2450": ":SOUR:VOLT 0.01",
    "keithley2600": "smua.source.levelv = 0.01",
    "keysight_b2900": ":SOUR1:VOLT 0.01",
}
"""Another client's (or the front panel's) source level, in each dialect."""


@pytest.mark.parametrize("driver", sorted(LEVEL_COMMANDS))
def test_a_source_level_changed_mid_run_is_seen_before_the_array_is_saved(
    tmp_path, capsys, monkeypatch, driver
):
    """The known state's level step is not steady (runs set levels), so a level changed
    from outside went unseen: every reading after it was saved, 10 % off, with exit 0."""
    made = []
    command = LEVEL_COMMANDS[driver]
    _faulty_smu(monkeypatch, lambda smu: smu.handle(command), made, 2)
    station = _write(tmp_path, _small_die(tmp_path, _virtual(driver=driver)))
    out = tmp_path / "run.h5"
    args = ["characterize", "--station", station, "--arrays", "0-1", "--cycles", "1"]
    code = main([*args, "--no-report", "--out", str(out)])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 7, err
    assert "source level found at 0.01 V where the run set 0 V" in err, err
    (smu,) = made
    assert smu.output is False
    with h5py.File(out, "r") as f:
        assert "characterization/array_index" not in f


def test_a_board_left_driven_by_a_killed_host_is_reset_before_the_smu_goes_on(
    tmp_path, capsys, monkeypatch
):
    """A host killed within the board's watchdog time leaves array 0 selected, every line
    enabled at 1 V and the SMU routed in. The open switched the sense SMU on (at 0 V, into
    that circuit) before any board command: the board is now reset first."""
    import numpy as np

    boards: list = []
    at_output_on: list = []

    class LeftDriven(lab_module.VirtualBoard):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            s = self._state
            s.array, s.route, s.smu_line, s.source = 0, "SMU", 0, "DAC"
            s.rows[:] = True
            s.cols[:] = True
            s.vread = np.full(self.rows, 1.0)
            boards.append(self)

    real = lab_module.make_virtual_smu

    def build(*args, **kwargs):
        smu = real(*args, **kwargs)
        handle = smu.handle

        def watching(line):
            reply = handle(line)
            if smu.output and not at_output_on:
                state = boards[0]._state
                at_output_on.append((state.route, float(np.abs(state.vread).max())))
            return reply

        smu.handle = watching
        return smu

    monkeypatch.setattr(lab_module, "VirtualBoard", LeftDriven)
    monkeypatch.setattr(lab_module, "make_virtual_smu", build)
    station = _write(tmp_path, _small_die(tmp_path, _virtual()))
    args = ["characterize", "--station", station, "--arrays", "0", "--cycles", "1"]
    assert main([*args, "--bias-voltage", "0", "--no-report", "--out", str(tmp_path / "r.h5")]) == 0
    assert at_output_on and at_output_on[0] == ("OFF", 0.0), at_output_on
