"""Source-measure-unit drivers sharing one interface, :class:`SourceMeter`.

* :class:`Keithley2400SourceMeter` - Keithley 2400 family (SCPI, extends pymeasure's driver)
* :class:`Keithley2450` - Keithley 2450 in native SCPI
* :class:`Keithley2600` - Keithley 2600/2600B over TSP; channels ``.smua``/``.smub``
* :class:`KeysightB2900` - Keysight B2901A/B2902A (SCPI); channels ``.ch1``/``.ch2``
"""

from mtj_hil.instruments.smu.base import OVERFLOW_THRESHOLD, Reading, SourceMeter
from mtj_hil.instruments.smu.keithley2400 import Keithley2400SourceMeter
from mtj_hil.instruments.smu.keithley2450 import Keithley2450
from mtj_hil.instruments.smu.keithley2600 import Keithley2600, Keithley2600Channel
from mtj_hil.instruments.smu.keysight_b2900 import KeysightB2900, KeysightB2900Channel

__all__ = [
    "OVERFLOW_THRESHOLD",
    "Keithley2400SourceMeter",
    "Keithley2450",
    "Keithley2600",
    "Keithley2600Channel",
    "KeysightB2900",
    "KeysightB2900Channel",
    "Reading",
    "SourceMeter",
]
