"""``ChipController.check_not_reset``: the host asks ``STAT`` whether the board went to its
power-up state by itself (docs/chip-protocol.md, ``STAT`` flags and section 9.4), so SMU
readings through a route the board dropped are never trusted."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.instruments.controller import ChipController, HostWatchdogFired
from mtj_hil.instruments.errors import InstrumentStateLost


def _route_smu(ctrl: ChipController) -> None:
    ctrl.select_array(3)
    ctrl.enable_lines([2], np.ones(25, bool))
    ctrl.route("SMU", smu_line=4, input_source="DAC")


def test_a_board_that_holds_its_array_passes_and_one_that_reset_is_named(bench):
    board, ctrl = bench
    ctrl.check_not_reset()  # learns the flags: none set
    _route_smu(ctrl)
    assert ctrl.check_not_reset().array == 3
    board._power_up()
    with pytest.raises(InstrumentStateLost) as err:
        ctrl.check_not_reset()
    text = str(err.value)
    assert "no longer holds array 3 and reset itself" in text
    assert "flag bit 3" in text and "not the die" in text
    ctrl.select_array(3)  # the host starts again: the bit stays set, and is now old
    assert ctrl.check_not_reset().mcu_reset


def test_a_reset_with_no_array_selected_is_seen_by_flag_3(bench):
    board, ctrl = bench
    ctrl.check_not_reset()
    board._power_up()  # e.g. between calibration readings through a reference resistor
    with pytest.raises(InstrumentStateLost, match="flag bit 3"):
        ctrl.check_not_reset()


def test_flags_a_board_comes_with_are_taken_as_old(bench):
    board, ctrl = bench
    board.mcu_reset = True  # an earlier session's firmware fault; nothing clears the bit
    board.watchdog_fired = True  # an earlier host that went silent
    ctrl.check_not_reset()
    _route_smu(ctrl)
    ctrl.check_not_reset()
    board._power_up()  # the bit was set already: the lost array tells
    with pytest.raises(InstrumentStateLost, match="no longer holds array 3"):
        ctrl.check_not_reset()


def test_the_host_watchdog_is_named_as_such(bench):
    board, ctrl = bench
    ctrl.check_not_reset()
    _route_smu(ctrl)
    board.clock.advance(board.watchdog_s + 1.0)
    assert board.smu_current(0.0) == 0.0  # fired: the connector is open
    with pytest.raises(HostWatchdogFired, match="STAT flag bit 4"):
        ctrl.check_not_reset()
    ctrl.reset()  # clears bit 4; a second firing is new again
    ctrl.check_not_reset()
    _route_smu(ctrl)
    board.clock.advance(board.watchdog_s + 1.0)
    board.smu_current(0.0)
    with pytest.raises(HostWatchdogFired):
        ctrl.check_not_reset()


def test_a_power_loss_while_a_reference_is_routed_is_seen_by_the_dropped_route(bench):
    """A supply dip resets the board without flag bit 3 (it records watchdog resets only),
    and calibrating the SMU through a reference resistor selects no array: the route the
    host set, gone from STAT, tells."""
    board, ctrl = bench
    ctrl.check_not_reset()
    ctrl.route_reference(0)
    assert ctrl.check_not_reset().route == "REF"
    board._power_up()
    board.mcu_reset = False  # power, not the watchdog
    with pytest.raises(InstrumentStateLost, match="dropped its REF route and reset itself"):
        ctrl.check_not_reset()
    ctrl.route_reference(0)  # routed again: trusted again
    ctrl.check_not_reset()
    ctrl.route("OFF")
    ctrl.check_not_reset()
