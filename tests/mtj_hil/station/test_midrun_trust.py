"""A run through the command line whose SMU leaves its known state mid-run: exit 7 naming
what happened, outputs off, nothing measured after the fault in the run file, and ``--resume``
goes on from the last good array."""

from __future__ import annotations

import h5py
import pytest

import mtj_hil.sim.lab.lab as lab_module
from mtj_hil.cli.main import main

from .test_cli_station import _virtual, _write

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
    station = _write(tmp_path, _virtual(driver="keithley2450"))
    out = tmp_path / "run.h5"
    args = ["characterize", "--station", station, "--arrays", "0-2", "--cycles", "1", "--no-report"]
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
        assert sorted(int(a) for a in f["characterization/array_index"][:]) == [0, 1, 2]


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
