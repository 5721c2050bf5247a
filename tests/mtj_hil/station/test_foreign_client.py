"""A client no one here wrote: pymeasure's own Keithley2400 measures a device on the lab."""

from __future__ import annotations

import numpy as np
import pytest
from pymeasure.instruments.keithley import Keithley2400

from mtj_hil.instruments.controller import ChipController
from mtj_hil.sim.lab.lab import VirtualLab


@pytest.mark.parametrize(("array", "row", "col"), [(0, 0, 0), (3, 12, 7), (31, 24, 24)])
def test_unmodified_pymeasure_keithley2400_measures_the_selected_device(array, row, col, mocker):
    mocker.patch("time.sleep")  # pymeasure's ramp waits 20 ms per step for real
    with VirtualLab("1t1r-20k", 0, 7) as lab:
        board = ChipController(lab.controller_url, timeout=1.0)
        board.select_array(array)
        board.enable_lines([row], [col])
        board.route("SMU", smu_line=col, input_source="SMU")  # rows -> HI, column -> LO
        smu = Keithley2400(
            lab.smu_resource,
            visa_library="@py",
            read_termination="\n",
            write_termination="\n",
            timeout=2000,
        )
        smu.reset()
        smu.source_mode = "voltage"
        smu.compliance_current = 1e-3
        smu.current_nplc = 1
        smu.source_voltage = 0.1
        smu.enable_source()
        current = smu.current
        smu.shutdown()
        smu.ask("*OPC?")  # writes are not answered: wait until the SMU has done them
        smu.adapter.close()
        board.reset()
        board.close()
        expected = 0.1 * lab.die.conductance(array)[row, col]
        assert current == pytest.approx(expected, rel=0.03)
        assert not lab.smu.output
        # the unselected devices contribute nothing
        assert not np.isclose(expected, 0.1 * lab.die.conductance(array).sum(axis=0)[col])
