"""Host watchdog (docs/chip-protocol.md section 9.4): the virtual board goes safe by itself
after a silence with a route held, and the host keeps the link alive or reports the trip.

Silence is modelled time on the lab's clock (advanced by hand here), so no test waits."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.instruments.controller import FLAG_HOST_WATCHDOG, ChipController, HostWatchdogFired
from mtj_hil.instruments.controller.codec import ControllerError
from mtj_hil.instruments.errors import InstrumentError, InstrumentStateLost
from mtj_hil.sim.die import make_die
from mtj_hil.sim.lab.board import VirtualBoard
from mtj_hil.sim.profile import load_profile


def _route_smu(ctrl: ChipController) -> None:
    ctrl.select_array(0)
    ctrl.enable_lines([2], np.ones(25, bool))
    ctrl.set_read_voltages(np.where(np.arange(25) == 2, 0.1, 0.0))
    ctrl.route("SMU", smu_line=4, input_source="DAC")


def test_a_silent_host_leaves_the_board_safe_with_stat_flag_4_until_rst(bench):
    board, ctrl = bench
    _route_smu(ctrl)
    assert board.smu_current(0.0) != 0.0  # the DAC-driven cells feed the SMU line
    board.clock.advance(59.0)
    assert board.smu_current(0.0) != 0.0  # not yet
    board.clock.advance(1.0)
    assert board.smu_current(0.0) == 0.0  # fired without any frame: connector open
    assert board.watchdog_fired
    with pytest.raises(HostWatchdogFired, match=r"host watchdog fired \(STAT flag bit 4\)"):
        ctrl.check_watchdog()
    state = ctrl.status()  # answered normally; what happened stays visible
    assert state.host_watchdog_fired and state.flags & FLAG_HOST_WATCHDOG
    assert state.route == "OFF" and state.array is None
    assert not np.any(board._state.vread)  # every line at 0 V
    ctrl.reset()
    assert not ctrl.status().host_watchdog_fired


def test_frames_restart_the_watchdog_and_an_idle_board_with_route_off_never_fires(bench):
    board, ctrl = bench
    _route_smu(ctrl)
    for _ in range(3):
        board.clock.advance(45.0)
        ctrl.status()  # any valid frame restarts it
    assert not board.watchdog_fired and board._state.route == "SMU"
    ctrl.route("OFF")
    board.clock.advance(3600.0)
    assert not ctrl.check_watchdog().host_watchdog_fired


def test_a_garbled_frame_does_not_count_as_the_host_talking(bench):
    board, ctrl = bench
    _route_smu(ctrl)
    board.clock.advance(50.0)
    assert board.handle(b"STAT 05*00") is not None  # bad checksum: E01, not a valid frame
    board.clock.advance(10.0)
    assert board.check_watchdog()


def test_keepalive_keeps_long_smu_only_work_alive(bench):
    board, ctrl = bench
    _route_smu(ctrl)
    frames = board.frames
    assert ctrl.keepalive() is False  # just talked: nothing sent
    assert board.frames == frames
    sent = 0
    for _ in range(100):  # 100 SMU measurements of 3 s each through the held route
        board.clock.advance(3.0)
        sent += ctrl.keepalive()
    assert not board.watchdog_fired and board._state.route == "SMU"
    assert board.frames - frames == sent == 100 * 3 // 12  # one STAT every 4th, >= 10 s idle


def test_keepalive_after_a_measurement_longer_than_the_watchdog_reports_the_trip(bench):
    board, ctrl = bench
    _route_smu(ctrl)
    board.clock.advance(75.0)  # one very long SMU measurement
    with pytest.raises(InstrumentError, match="watchdog"):
        ctrl.keepalive()


def test_a_board_with_the_watchdog_disabled_never_fires():
    board = VirtualBoard(make_die(load_profile("1t1r-20k"), 0, 0), watchdog_s=None)
    board._state.route = "WRITE"
    board.clock.advance(1e6)
    assert not board.check_watchdog()


def _route_write(ctrl: ChipController) -> None:
    ctrl.select_array(0)
    ctrl.route("WRITE")
    ctrl.enable_lines([2], [4])


@pytest.mark.parametrize(
    "command",
    [
        lambda c: c.pulse(1.0, 1e-6, "POS"),
        lambda c: c.enable_lines([1], [1]),
        lambda c: c.route("ADC"),
        lambda c: c.read_raw(),
        lambda c: c.scan(0.1),
    ],
    ids=["PULSE", "EN", "ROUTE", "READ", "SCAN"],
)
def test_a_single_command_after_the_watchdog_fired_names_it_not_a_plain_e06(bench, command):
    """The board answers E06 (no array selected): the host asks STAT and says why."""
    board, ctrl = bench
    _route_write(ctrl)
    board.clock.advance(61.0)
    with pytest.raises(HostWatchdogFired, match=r"answered E06 .*host watchdog fired") as info:
        command(ctrl)
    assert isinstance(info.value.__cause__, ControllerError)
    assert not board.pulses and board.watchdog_fired
    assert ctrl._selected_array is None  # the host no longer vouches for a selection


def test_a_board_that_reset_itself_otherwise_is_named_too(bench):
    board, ctrl = bench
    _route_write(ctrl)
    board._power_up()  # its own watchdog: the power-up state, no host-watchdog flag
    with pytest.raises(InstrumentStateLost, match="no longer holds array 0"):
        ctrl.pulse(1.0, 1e-6, "POS")
    assert not board.pulses


def test_an_e06_with_the_array_still_selected_stays_that_error(bench):
    board, ctrl = bench
    _route_write(ctrl)
    ctrl.route("OFF")
    with pytest.raises(ControllerError, match="E06") as info:
        ctrl.pulse(1.0, 1e-6, "POS")
    assert type(info.value) is ControllerError
    assert ctrl._selected_array == 0
