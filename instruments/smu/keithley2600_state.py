"""The known state of a Keithley 2600B channel: the settings sent and what is read back.

Kept apart from the driver (``keithley2600.py``) so each module has one job: this one lists,
from the *Series 2600B Reference Manual* (2600BS-901-01), TSP command reference, what a channel
must be set to and how each setting is verified; the driver sends and reads.
"""

from __future__ import annotations

from typing import Protocol

from mtj_hil.instruments.smu.base import scpi_number
from mtj_hil.instruments.smu.known_state import (
    Setting,
    SmuSettings,
    check_number,
    check_range,
    smallest_covering,
)
from mtj_hil.instruments.smu.tsp_replies import CURRENT_RANGES, source_ranges_for

#: Significant digits print() sends for a number (format.asciiprecision, 1 to 16).
ASCII_PRECISION = 12


class TspChannel(Protocol):
    """What the known-state list needs of a channel."""

    @property
    def smu_name(self) -> str:
        """The TSP name of the channel (``smua``, ``smub``)."""

    @property
    def unit_idn(self) -> str:
        """The unit's ``*IDN?``-style identity (selects the source ranges)."""

    def print_value(self, expression: str) -> str:
        """The unit's ``print()`` of a TSP expression."""


def tsp_known_state(channel: TspChannel, st: SmuSettings) -> list[Setting]:
    """2600B known state (reference manual 2600BS-901-01, section 7/9 "TSP command
    reference"; see the module docstring).

    ``smuX.reset()`` (each attribute's "Default value", "Affected by: SMU reset") puts in
    place, and each is read back: DC voltage source at 0 V, local (2-wire) sense
    (``smuX.sense = SENSE_LOCAL``), digital filter off (``smuX.measure.filter.enable``),
    relative offset off (``smuX.measure.rel.enablei``), automatic autozero
    (``smuX.measure.autozero = AUTOZERO_AUTO``, 2), measure count 1, arm count 1
    (``smuX.trigger.arm.count``), source delay off (``smuX.source.delay``), current
    autorange. ``format.*`` is not a channel setting (``smuX.reset()`` keeps it):
    ``format.data = format.ASCII`` goes before any query and is checked here, and
    ``format.asciiprecision`` is sent: print() of a
    number has that many significant digits (1 to 16), and a unit left at 1 or 2 digits
    reads 1e-05 A for 1.35e-05 A. The mains frequency (``localnode.linefreq``) is
    checked against the station, not changed.
    """
    s = channel.smu_name
    p = channel.print_value
    ranges = source_ranges_for(channel.unit_idn)
    expected = smallest_covering(st.max_voltage, ranges) if ranges else None
    reset_checks = [
        lambda: check_number("source function (1 = DC volts)", 1, p(f"{s}.source.func")),
        lambda: check_number("sense (0 = local, 2-wire)", 0, p(f"{s}.sense")),
        lambda: check_number("filter (0 = off)", 0, p(f"{s}.measure.filter.enable")),
        lambda: check_number("relative offset (0 = off)", 0, p(f"{s}.measure.rel.enablei")),
        lambda: check_number("autozero (2 = auto)", 2, p(f"{s}.measure.autozero")),
        lambda: check_number("measure count", 1, p(f"{s}.measure.count")),
        lambda: check_number("arm count", 1, p(f"{s}.trigger.arm.count")),
        lambda: check_number("source delay (s)", 0, p(f"{s}.source.delay")),
    ]
    if st.current_range is None:
        reset_checks.append(
            lambda: check_number("current autorange (1 = on)", 1, p(f"{s}.measure.autorangei"))
        )
    steps = [
        Setting("reset", (f"{s}.reset()",), tuple(reset_checks)),
        Setting(
            "source level",
            checks=(lambda: check_number("source level (V)", 0.0, p(f"{s}.source.levelv")),),
            steady=False,
        ),
        Setting(
            "source range",
            (f"{s}.source.rangev = {scpi_number(st.max_voltage)}",),
            (
                lambda: check_number("source autorange (0 = off)", 0, p(f"{s}.source.autorangev")),
                lambda: check_range(
                    "source range (V)", st.max_voltage, expected, p(f"{s}.source.rangev")
                ),
            ),
        ),
        Setting(
            "source voltage limit",
            (f"{s}.source.limitv = {scpi_number(st.max_voltage)}",),
            (
                lambda: check_number(
                    "source voltage limit (V)", st.max_voltage, p(f"{s}.source.limitv")
                ),
            ),
        ),
        Setting(
            "current limit",
            (f"{s}.source.limiti = {scpi_number(st.compliance)}",),
            (lambda: check_number("current limit (A)", st.compliance, p(f"{s}.source.limiti")),),
        ),
        Setting(
            "NPLC",
            (f"{s}.measure.nplc = {scpi_number(st.nplc)}",),
            (lambda: check_number("NPLC", st.nplc, p(f"{s}.measure.nplc")),),
        ),
        Setting(  # sent before any query (_prepare_dialect); checked here
            "data format",
            checks=(lambda: check_number("data format (1 = ASCII)", 1, p("format.data")),),
        ),
        Setting(
            "ASCII precision",
            (f"format.asciiprecision = {ASCII_PRECISION}",),
            (
                lambda: check_number(
                    "ASCII precision (digits)", ASCII_PRECISION, p("format.asciiprecision")
                ),
            ),
        ),
        Setting(
            "line frequency",
            checks=(
                lambda: check_number(
                    "mains frequency (Hz)", st.line_frequency, p("localnode.linefreq")
                ),
            ),
        ),
    ]
    if st.current_range is not None:
        want = smallest_covering(st.current_range, CURRENT_RANGES)
        steps.append(
            Setting(
                "current range",
                (f"{s}.measure.rangei = {scpi_number(st.current_range)}",),
                (
                    lambda: check_range(
                        "current range (A)", st.current_range, want, p(f"{s}.measure.rangei")
                    ),
                ),
            )
        )
    return steps
