"""``mtj-hil station check`` stopped by Ctrl-C while it shuts the instruments down: the
interrupt is held until every SMU of the station was shut down, so no virtual SMU channel
is left on (the SMUs are found with their output on)."""

from __future__ import annotations

import pytest

from mtj_hil.instruments.controller.link import ControllerLink
from mtj_hil.instruments.smu import Keithley2400SourceMeter
from mtj_hil.station.check import check_station
from mtj_hil.station.files import station_from_dict

from .test_dead_board import _channels_on, _station

pytestmark = pytest.mark.slow


def _interrupt_once(monkeypatch, cls: type, name: str) -> list[int]:
    """``cls.name`` raises KeyboardInterrupt on its first call (after doing its work)."""
    real = getattr(cls, name)
    calls: list[int] = []

    def wrapped(self, *args, **kwargs):
        result = real(self, *args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return result

    monkeypatch.setattr(cls, name, wrapped)
    return calls


#: layout, and the class whose method is interrupted: the board's port closed, or the first
#: SMU's session closed (the last step of its shutdown; the 2400 is the sense SMU)
CASES = [
    ("two instruments", ControllerLink, "close"),
    ("2600, both channels", ControllerLink, "close"),
    ("two instruments", Keithley2400SourceMeter, "_close_session"),
]


@pytest.mark.parametrize(("layout", "cls", "method"), CASES)
def test_ctrl_c_during_station_check_shutdown_leaves_every_smu_channel_off(
    monkeypatch, layout, cls, method, made_smus
):
    made = made_smus
    data = _station(layout)
    data["virtual_lab"]["smu_start"] = "output-on"
    station = station_from_dict(data)
    calls = _interrupt_once(monkeypatch, cls, method)
    with pytest.raises(KeyboardInterrupt):
        check_station(station)
    assert calls, "the interrupt was never injected"
    assert made and _channels_on(made) == []
