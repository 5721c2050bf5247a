"""A controller board that stops answering mid-run: the exit cannot make it reset its lines,
so every SMU output is switched off and read back off, the operator is told the board did
not confirm its lines at 0 V (and what to check), the host does not claim a safe board, the
run file records it and the run resumes. Also: every SMU channel, used or not, is off after
every way a run can end (an error at each board transaction, Ctrl-C, a board dead from
there on)."""

from __future__ import annotations

import tomllib

import h5py
import numpy as np
import pytest

import mtj_hil.sim.lab.board as board_module
import mtj_hil.sim.lab.lab as lab_module
from mtj_hil.cli.main import main
from mtj_hil.errors import UnsafeShutdownWarning
from mtj_hil.instruments.controller.link import ControllerLink
from mtj_hil.instruments.errors import InstrumentTimeout, UnsafeShutdown
from mtj_hil.protocols import CharacterizationPlan
from mtj_hil.runs.jobs.characterization import run_characterization
from mtj_hil.runs.store import load_characterization
from mtj_hil.station.connect import open_station
from mtj_hil.station.files import station_from_dict

from .conftest import STATION
from .test_cli_station import _small_die, _write

pytestmark = pytest.mark.slow

DRIVE_2450 = {"driver": "keithley2450", "resource": "virtual", "role": "drive", "nplc": 1}
LAYOUTS = {
    # a second instrument: the drive SMU, its own virtual 2450 (open terminals)
    "two instruments": ({}, {"drive": DRIVE_2450}, "power-on"),
    # one 2602B: sense on channel a, drive on channel b
    "2600, both channels": (
        {"driver": "keithley2600", "channel": "a"},
        {"drive": {**DRIVE_2450, "driver": "keithley2600", "channel": "b"}},
        "power-on",
    ),
    # one 2602B: sense on channel a, channel b unused and found live at 5 V
    "2600, channel b unused": (
        {"driver": "keithley2600", "channel": "a"},
        {},
        "other-channel-live",
    ),
}
QUICK = CharacterizationPlan(arrays=(0,), cycles=1, remeasure_cycles=0, bias_read_voltage=None)


def _station(layout: str) -> dict:
    sense, extra, start = LAYOUTS[layout]
    data = tomllib.loads(STATION.read_text())
    del data["calibration"]
    # a dead board is found by waiting for replies: short waits keep the suite quick (the
    # virtual board answers a live command in well under this)
    data["controller"].update(timeout=0.1, retries=1)
    data["smu"]["sense"].update(sense)
    for name, cfg in extra.items():
        data["smu"][name] = {**cfg, "compliance": 1e-3}
    data["virtual_lab"]["smu_start"] = start
    return data


def _small_station(tmp_path, layout: str, arrays: int = 1):
    """The station of ``layout`` on a small die of ``arrays`` arrays (a run's board
    transactions, and so where a fault is injected, do not depend on the die's size)."""
    return station_from_dict(_small_die(tmp_path, _station(layout), arrays), STATION)


def _channels_on(smus) -> list[str]:
    """Every channel of every virtual SMU whose output is on."""
    return [
        f"{i}:{name}"
        for i, smu in enumerate(smus)
        for name, ch in smu.channels.items()
        if ch.state.output
    ]


def _lab_smus(lab) -> list:
    return [lab.smu, *(smu for smu, _ in lab.extra_smus.values())]


def test_the_cli_run_whose_board_dies_says_what_was_and_was_not_made_safe(
    tmp_path, capsys, monkeypatch
):
    """The board hangs at the second array: exit 7, one error line saying the board did not
    confirm its lines at 0 V, that both SMU outputs were switched off and read back off,
    what to check by hand and how to finish the run; both SMUs are off; the run file is
    aborted with the same reason; after a power cycle of the board the run resumes."""
    boards, smus = [], []
    real_handle, real_smu = board_module.VirtualBoard.handle, lab_module.make_virtual_smu
    selected = [0]

    def handle(self, line):
        if self not in boards:
            boards.append(self)
        if line.startswith(b"SEL "):
            selected[0] += 1
            if selected[0] == 2:
                self.faults.dead = True  # the board hangs: it never answers again
        return real_handle(self, line)

    def spy(*args, **kwargs):
        smus.append(real_smu(*args, **kwargs))
        return smus[-1]

    monkeypatch.setattr(board_module.VirtualBoard, "handle", handle)
    monkeypatch.setattr(lab_module, "make_virtual_smu", spy)
    station = _write(tmp_path, _small_die(tmp_path, _station("two instruments"), arrays=3))
    out = tmp_path / "run.h5"
    args = ["characterize", "--station", station, "--arrays", "0-2", "--cycles", "1"]
    args += ["--no-report", "--out", str(out)]
    code = main(args)
    err = " ".join(capsys.readouterr().err.split())
    assert code == 7, err
    assert "Traceback" not in err
    assert err.count("error (UnsafeShutdown)") == 1
    assert "did NOT confirm its lines at 0 V" in err
    assert "the SMU outputs were switched off and read back off (sense, drive)" in err
    assert "power-cycle the board" in err and "USB/serial cable" in err
    assert "The shutdown followed: InstrumentTimeout" in err and "SEL" in err
    assert f"finish it with: mtj-hil {' '.join(args)} --resume" in err
    assert len(smus) == 2 and _channels_on(smus) == []
    (board,) = boards
    assert board._state.route != "OFF"  # what the host could not undo: the board is hung
    with h5py.File(out, "r") as f:
        assert f.attrs["status"] == "aborted"
        reason = " ".join(f.attrs["status_reason"].split())
        events = [e.decode() if isinstance(e, bytes) else e for e in f["timeline/events"][:]]
    assert "did NOT confirm its lines at 0 V" in reason
    assert "switched off and read back off (sense, drive)" in reason
    assert any("controller reset failed during shutdown" in e for e in events)
    monkeypatch.undo()  # the board is power-cycled: a new lab, a board that answers
    assert main([*args, "--resume"]) == 0, capsys.readouterr().err
    done = load_characterization(out)
    assert done.attrs["status"] == "completed"
    assert done.arrays_done == [0, 1, 2]


def test_the_host_does_not_claim_a_board_safe_it_could_not_reset(tmp_path):
    """After the exit, the chip's own record says the board did not confirm its lines and
    each SMU was confirmed off, and its picture of the board (selection, routes, masks) is
    gone rather than left claiming what the board holds."""
    station = station_from_dict(_station("2600, both channels"), STATION)
    with pytest.raises(UnsafeShutdown) as info, open_station(station) as chip:
        lab = chip.lab
        chip.read(0, np.full((1, 25), 0.1))
        assert chip._route is not None and chip._enabled is not None
        lab.board.faults.dead = True
        run_characterization(chip, tmp_path / "run.h5", die_id="die", plan=QUICK)
    assert isinstance(info.value.during, InstrumentTimeout)
    report = chip.shutdown
    assert report is not None and not report.safe and not report.board_safe
    assert report.smu_off == {"sense": True, "drive": True}
    assert chip._array is None and chip._route is None and chip._enabled is None
    assert chip.controller._enabled_rows is None  # unknown, not "0 lines enabled"
    assert _channels_on(_lab_smus(lab)) == []
    run = load_characterization(tmp_path / "run.h5")
    assert run.attrs["status"] == "aborted"
    assert "did NOT confirm its lines at 0 V" in run.attrs["status_reason"]


def test_a_board_that_dies_after_the_last_array_leaves_a_completed_run_and_says_so(tmp_path):
    """Everything was measured and stored; only the exit's reset goes unanswered: the run is
    completed (nothing to resume), its reason and the error say the board is unconfirmed."""
    station = _small_station(tmp_path, "two instruments")
    with pytest.raises(UnsafeShutdown) as info, open_station(station) as chip:
        lab = chip.lab

        def die_after_last(done, total, array):
            if done == total:
                lab.board.faults.dead = True

        run_characterization(
            chip, tmp_path / "run.h5", die_id="die", plan=QUICK, progress=die_after_last
        )
    assert info.value.during is None
    assert chip._route is None and chip._enabled is None  # nothing claimed after the exit
    assert "did NOT confirm its lines at 0 V" in str(info.value)
    assert "The shutdown followed" not in str(info.value)
    assert _channels_on(_lab_smus(lab)) == []
    run = load_characterization(tmp_path / "run.h5")
    assert run.attrs["status"] == "completed"
    assert "did NOT confirm its lines at 0 V" in run.attrs["status_reason"]


def test_a_board_that_answers_its_reset_is_confirmed_safe_and_nothing_is_said(recwarn):
    station = station_from_dict(_station("2600, channel b unused"), STATION)
    with open_station(station) as chip:
        lab = chip.lab
        chip.read(0, np.full((1, 25), 0.1))
    assert chip.shutdown is not None and chip.shutdown.safe
    assert lab.board._state.route == "OFF" and not lab.board._state.rows.any()
    assert _channels_on(_lab_smus(lab)) == []
    assert not [w for w in recwarn if issubclass(w.category, UnsafeShutdownWarning)]


LINK = ("_transact", "_transact_stream")


def _inject(monkeypatch, lab, how: str, at: int, calls: list[str]) -> None:
    """At the board transaction number ``at`` (1: the run's first, counted from here):
    ``error`` raises instead of sending it, ``interrupt`` raises KeyboardInterrupt once it
    has completed (as a Ctrl-C held by the transaction would), ``dead`` hangs the board
    before it is sent."""
    for name in LINK:
        real = getattr(ControllerLink, name)

        def wrapped(self, command, *args, _real=real, **kwargs):
            calls.append(command)
            if len(calls) == at:
                if how == "error":
                    raise RuntimeError(f"injected failure at {command}")
                if how == "dead":
                    lab.board.faults.dead = True
                if how == "interrupt":
                    try:
                        return _real(self, command, *args, **kwargs)
                    finally:
                        raise KeyboardInterrupt  # noqa: B012 - a Ctrl-C held until the end
            return _real(self, command, *args, **kwargs)

        monkeypatch.setattr(ControllerLink, name, wrapped)


@pytest.mark.parametrize("at", [1, 3, 5])  # SEL, a SEQ mid-array, the exit's RST
@pytest.mark.parametrize("how", ["error", "interrupt", "dead"])
@pytest.mark.parametrize("layout", ["2600, both channels", "2600, channel b unused"])
def test_every_channel_is_off_however_the_run_ends(tmp_path, monkeypatch, layout, how, at):
    station = _small_station(tmp_path, layout)
    calls: list[str] = []
    with (
        pytest.raises(BaseException) as info,  # noqa: PT011 - each way ends differently
        open_station(station, apply_calibration=False) as chip,
    ):
        lab = chip.lab
        _inject(monkeypatch, lab, how, at, calls)
        run_characterization(chip, tmp_path / "run.h5", die_id="die", plan=QUICK)
    monkeypatch.undo()
    assert len(calls) >= at  # the injection happened
    assert _channels_on(_lab_smus(lab)) == [], (how, at, calls)
    assert chip.shutdown is not None and all(chip.shutdown.smu_off.values())
    expected = {"error": RuntimeError, "interrupt": KeyboardInterrupt, "dead": UnsafeShutdown}
    if how == "error" and at == 5:  # the exit's own RST failed after a finished run
        expected["error"] = UnsafeShutdown
    assert isinstance(info.value, expected[how]), repr(info.value)
    # an RST cut short by Ctrl-C is sent again and answered: the board is confirmed
    assert chip.shutdown.board_safe is not (how == "dead" or (how == "error" and at == 5))
    run = load_characterization(tmp_path / "run.h5")
    assert run.attrs["status"] in ("aborted", "failed", "completed")
