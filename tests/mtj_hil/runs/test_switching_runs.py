"""Switching run files and the command line: flushed per array, resumable, summarised."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest

from mtj_hil.cli.main import main
from mtj_hil.protocols.switching.procedure import SwitchingPlan
from mtj_hil.runs.jobs.switching import run_switching
from mtj_hil.runs.store.runfile import RunFile
from mtj_hil.runs.store.switching import SwitchingRun, load_switching
from mtj_hil.sim import SimulatedChip

PLAN = SwitchingPlan(
    arrays=(3, 1),
    amplitudes=tuple(np.round(np.arange(0.5, 0.95, 0.05), 3)),
    widths=(1e-7, 1e-6),
    trials=8,
    probe_trials=2,
    floor_trials=8,
    disturb_reads=50,
    loop_devices=((1, 0, 0),),
)
ID = "sim:1t1r-20k:lot0:die2"


def _chip():
    return SimulatedChip.from_lot("1t1r-20k", 0, 2)


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_data(tmp_path):
    whole = tmp_path / "whole.h5"
    run_switching(_chip(), whole, die_id=ID, plan=PLAN, seed=0)

    part = tmp_path / "part.h5"

    def stop(done, total, array):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_switching(_chip(), part, die_id=ID, plan=PLAN, seed=0, progress=stop)
    first = load_switching(part)
    assert first.attrs["status"] == "aborted" and first.arrays_done == [3]
    assert not first.complete
    with pytest.raises(Exception, match="not 'sim:other'"):
        run_switching(_chip(), part, die_id="sim:other", plan=PLAN, resume=True)
    run_switching(_chip(), part, die_id=ID, plan=PLAN, resume=True, operator="night shift")
    a, b = load_switching(whole), load_switching(part)
    assert b.attrs["status"] == "completed" and len(b.attrs["resumed"]) == 1
    # who finished the run is recorded with the resume, beside who began it
    assert b.attrs["resumed"][0]["operator"] == "night shift"
    assert b.attrs["resumed"][0]["previous_status"] == "aborted"
    for arr in (3, 1):
        for name in ("trials", "switched", "amplitude", "direction", "disturb_flips", "loop_g"):
            np.testing.assert_array_equal(getattr(a.data[arr], name), getattr(b.data[arr], name))
    fa, fb = a.analysis.directions["AP"], b.analysis.directions["AP"]
    np.testing.assert_allclose(fa.vc, fb.vc, equal_nan=True)
    with RunFile.open(whole) as run:
        for name in run.h5["switching"]:
            assert "unit" in run.h5[f"switching/{name}"].attrs
        assert run.h5["switching_fit/AP/vc"].attrs["unit"] == "V"


def test_half_written_array_is_dropped_on_reopen(tmp_path):
    out = tmp_path / "r.h5"

    def stop(done, total, array):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_switching(_chip(), out, die_id=ID, plan=PLAN, progress=stop)
    with RunFile.open(out, "a") as run:
        n = run.h5["switching/trials"].shape[0]
        run.append("switching/trials", run.h5["switching/trials"][:2], "1")
        run.append("switching/point_amplitude", np.array([0.5, 0.6]), "V")
    with RunFile.open(out, "a") as run:
        SwitchingRun(run)
        assert run.h5["switching/trials"].shape[0] == n
        assert run.h5["switching/point_amplitude"].shape[0] == n


@pytest.mark.slow
def test_cli_switching_then_resume_then_show(tmp_path, capsys):
    out = tmp_path / "s.h5"
    args = ["switching", "--die", "2", "--arrays", "0", "--out", str(out), "--trials", "8"]
    args += ["--widths", "1e-7,1e-6", "--amplitudes", "0.5:0.9:0.05", "--disturb-reads", "20"]
    assert main([*args, "--loop-devices", "0:1:1"]) == 0
    png = out.with_suffix(".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    capsys.readouterr()
    assert main(["show", str(out)]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert ID in shown and "completed" in shown and "thermal activation" in shown
    assert "read disturb" in shown and "pulse for WER" in shown
    # a completed run cannot be resumed; an existing file is never overwritten
    assert main([*args, "--resume"]) == 4
    assert main(args) == 4


@pytest.mark.slow
def test_cli_information_placement_is_recorded_and_spends_fewer_trials(tmp_path):
    common = ["--die", "3", "--arrays", "0", "--no-report", "--disturb-reads", "0"]
    placed, grid = tmp_path / "placed.h5", tmp_path / "grid.h5"
    assert main(["switching", *common, "--out", str(placed), "--placement", "information"]) == 0
    assert main(["switching", *common, "--out", str(grid)]) == 0
    run = load_switching(placed)
    assert run.complete and run.plan["placement"] == "information"
    assert load_switching(grid).plan["placement"] == "grid"  # the library's default
    # placed trials stop at the stated precision: fewer than the grid's on the same array
    assert run.data[0].trials.sum() < load_switching(grid).data[0].trials.sum()


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--amplitudes", "0.5:1.5:0.1"], 6, "amplitude 1.3 V lies outside the safety envelope"),
        (["--widths", "1e-6,1e-3"], 6, "width 0.001 s lies outside the safety envelope"),
        (["--widths", "fast"], 2, "Invalid value for '--widths': 'fast' is not a list"),
        (["--loop-devices", "0:99:1"], 5, "R-V loop device (0, 99, 1) is not on the die"),
        (["--arrays", "40"], 3, "arrays must lie in 0..31"),
    ],
)
def test_bad_switching_input_is_refused_before_any_file(tmp_path, capsys, extra, code, message):
    out = tmp_path / "bad.h5"
    arrays = [] if "--arrays" in extra else ["--arrays", "0"]
    assert main(["switching", *arrays, "--out", str(out), *extra]) == code
    err = " ".join(capsys.readouterr().err.split())
    assert message in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.slow
def test_switching_runs_through_the_virtual_lab(tmp_path, capsys):
    out = tmp_path / "lab.h5"
    station = Path(__file__).resolve().parents[3] / "stations" / "virtual-lab.toml"
    args = ["switching", "--station", str(station), "--arrays", "0", "--widths", "1e-6"]
    args += ["--amplitudes", "0.6,0.7", "--trials", "2", "--probe-trials", "1"]
    args += ["--floor-trials", "0", "--disturb-reads", "0", "--out", str(out), "--no-report"]
    assert main(args) == 0
    run = load_switching(out)
    assert run.complete and run.attrs["die_id"] == "sim:1t1r-20k:lot0:die7"
    assert run.data[0].trials.sum() > 0
    assert "modelled lab time" in capsys.readouterr().err


def test_the_decision_rule_of_an_array_is_kept_with_units(tmp_path):
    """The state-read decision rule (integration chosen, misread bound) is stored per array
    and read back; arrays measured with precision reads carry none."""
    from mtj_hil.protocols.switching.decision import DecisionRule
    from mtj_hil.protocols.switching.procedure import MemorySwitchingSink, measure_switching_die
    from mtj_hil.runs.store.switching import DECISION_UNITS

    plan = SwitchingPlan(
        arrays=(0, 1),
        amplitudes=(0.6, 0.8),
        widths=(1e-6,),
        trials=2,
        probe_trials=1,
        floor_trials=0,
        disturb_reads=0,
    )
    data = measure_switching_die(_chip(), MemorySwitchingSink(), plan)
    rule = DecisionRule(5e-5, 2.5e-8, 1.4e-6, 3.2e-9, 1e-6, 611, {1e-5: 6e-8, 5e-5: 2.4e-8})
    data[0].decision = asdict(rule)
    path = tmp_path / "dec.h5"
    with RunFile.create(path, "switching", die_id=ID, extra={"plan": {}, "layout": {}}) as run:
        sink = SwitchingRun(run)
        for a in (0, 1):
            sink.save_array(a, data[a])
    back = load_switching(path)
    assert back.data[0].decision == asdict(rule)
    assert back.data[1].decision == {}
    with RunFile.open(path) as run:
        attrs = run.h5["switching/decision/0"].attrs
        assert attrs["integration"] == 5e-5 and attrs["bound"] == 1e-6
        assert json.loads(attrs["units"]) == DECISION_UNITS
        assert DECISION_UNITS["integration"] == "s" and DECISION_UNITS["sigma"] == "A"
        assert "1" not in run.h5["switching/decision"]
    # a rule that found no integration (precision reads) keeps that fact
    data[1].decision = asdict(DecisionRule(None, float("nan"), 1e-7, float("nan"), 1e-6, 600))
    path2 = tmp_path / "dec2.h5"
    with RunFile.create(path2, "switching", die_id=ID, extra={"plan": {}, "layout": {}}) as run:
        SwitchingRun(run).save_array(1, data[1])
    assert load_switching(path2).data[1].decision["integration"] is None


def test_cells_a_decision_rule_left_out_are_kept_named_and_shown(tmp_path, monkeypatch):
    """A rule that left cells out stores them (row, col), why, and how many it could leave
    out; ``mtj-hil show`` says so; a rule stored before cells could be left out reads back
    with none; the plan records the share (runs recorded before it: 0, all or nothing)."""
    from mtj_hil.cli.switching import state_reads
    from mtj_hil.protocols.errors import SettingRefused
    from mtj_hil.protocols.switching.decision import DecisionRule
    from mtj_hil.protocols.switching.procedure import (
        MemorySwitchingSink,
        check_plan,
        measure_switching_die,
    )
    from mtj_hil.runs.jobs.switching import plan_from_record, plan_record

    plan = SwitchingPlan(
        arrays=(0, 1),
        amplitudes=(0.6,),
        widths=(1e-6,),
        trials=1,
        probe_trials=1,
        floor_trials=0,
        disturb_reads=0,
    )
    data = measure_switching_die(_chip(), MemorySwitchingSink(), plan)
    rule = DecisionRule(
        5e-3,
        2.5e-7,
        1.2e-6,
        4e-7,
        1e-6,
        596,
        {5e-3: 2e-7},
        left_out=((3, 4), (20, 1)),
        why={"no margin": 1, "decision misread": 1},
        unserved=2,
        allowed=31,
    )
    data[0].decision = asdict(rule)
    data[1].decision = asdict(DecisionRule(None, float("nan"), -1e-7, float("nan"), 1e-6, 405))
    data[1].decision.update(unserved=304, allowed=31)
    path = tmp_path / "left.h5"
    with RunFile.create(path, "switching", die_id=ID, extra={"plan": {}, "layout": {}}) as run:
        for a in (0, 1):
            SwitchingRun(run).save_array(a, data[a])
    back = load_switching(path)
    assert back.data[0].decision == asdict(rule)
    text = state_reads(back.data)
    assert "array 0: decisions at 5000 us, 2 cells left out (no margin 1, decision " in text
    assert "row:col 3:4 20:1" in text
    assert "array 1: precision reads (304 cells no decision integration reads" in text
    assert "at most 31 may be left out; judged by the die's one threshold: a board with " in text
    import mtj_hil.runs.store.switching as store

    new_attrs = store._decision_attrs
    new = ("left_out", "why", "unserved", "allowed", "thresholds", "standard")
    monkeypatch.setattr(  # as a file written before cells could be left out
        store, "_decision_attrs", lambda r: {k: v for k, v in new_attrs(r).items() if k not in new}
    )
    path = tmp_path / "old.h5"
    with RunFile.create(path, "switching", die_id=ID, extra={"plan": {}, "layout": {}}) as run:
        SwitchingRun(run).save_array(0, data[0])
    old = load_switching(path).data[0].decision
    assert old["left_out"] == () and old["why"] == {} and old["unserved"] == 0
    assert old["thresholds"] == "die"  # and before per-device thresholds: the die's one
    assert old["standard"] == "bound"  # and before the precision-margin decisions
    # a rule judging each device by its own threshold (a board with threshold maps)
    data[0].decision = asdict(replace(rule, thresholds="per device"))
    path = tmp_path / "own.h5"
    monkeypatch.setattr(store, "_decision_attrs", new_attrs)
    with RunFile.create(path, "switching", die_id=ID, extra={"plan": {}, "layout": {}}) as run:
        SwitchingRun(run).save_array(0, data[0])
    own = load_switching(path).data
    assert own[0].decision["thresholds"] == "per device"
    assert "decisions at 5000 us (each device by its own threshold)" in state_reads(own)
    # decisions holding their cells to the precision margin (no candidate met the bound)
    data[0].decision = asdict(replace(rule, standard="precision margin", unserved=90))
    path = tmp_path / "margin.h5"
    with RunFile.create(path, "switching", die_id=ID, extra={"plan": {}, "layout": {}}) as run:
        SwitchingRun(run).save_array(0, data[0])
    held = load_switching(path).data
    assert held[0].decision == data[0].decision
    assert (
        "decisions at 5000 us, kept cells held to the precision margin (no integration "
        "reads all but 31 cells within 1e-06; 90 cells none reads)"
    ) in state_reads(held)
    # the labelled dataset (and so NetCDF and CSV) carries each array's rule
    from mtj_hil.labelled.switching import switching_dataset

    data[1].decision = {}  # array 1: precision reads throughout (no rule tried)
    path = tmp_path / "both.h5"
    extra = {"plan": {}, "layout": _chip().layout.as_dict()}
    with RunFile.create(path, "switching", die_id=ID, extra=extra) as run:
        for a in (0, 1):
            SwitchingRun(run).save_array(a, data[a])
    ds = switching_dataset(path)
    assert ds.state_reads.values.tolist() == [2, 0]
    assert ds.state_reads.attrs["flag_meanings"].split()[2] == "precision_margin"
    assert ds.state_read_integration.values[0] == 5e-3 and np.isnan(ds.state_read_integration[1])
    assert ds.state_read_integration.attrs["units"] == "s"
    assert ds.state_read_misread.values[0] == rule.misread
    left = np.argwhere(ds.state_read_left_out.values)
    assert left.tolist() == [[0, 3, 4], [0, 20, 1]]
    assert state_reads({}) == ""
    # the plan's share: recorded, checked, and 0 for runs recorded before it
    rec = plan_record(plan)
    assert rec["decision_exclude"] == plan.decision_exclude == 0.1
    assert rec["precision_margin"] == plan.precision_margin == 2.0
    del rec["decision_exclude"], rec["precision_margin"]
    assert plan_from_record(rec).decision_exclude == 0.0
    assert plan_from_record(rec).precision_margin == 0.0
    for name, bad in [
        *(("decision_exclude", x) for x in (-0.01, 1.5, float("nan"))),
        *(("precision_margin", x) for x in (-1.0, 11.0, float("nan"))),
    ]:
        with pytest.raises(SettingRefused) as err:
            check_plan(_chip().layout, SwitchingPlan(**{**asdict(plan), name: bad}))
        assert err.value.setting == name
