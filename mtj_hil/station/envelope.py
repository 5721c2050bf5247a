"""The envelope and layout a station's die works in: the tighter of the station file's
``[safety]`` limits, the die profile's limits and, once the board has answered, the board's
own (``LIM``). One function for the station's chip at open and for the checks a campaign
makes when it loads (before any instrument is opened)."""

from __future__ import annotations

import dataclasses
from typing import Any

from mtj_hil.instruments.controller.wire import VOLTAGE_STEP, WIDTH_DIGITS
from mtj_hil.instruments.safety import SafetyEnvelope
from mtj_hil.protocols.chip import Layout, Limits, check_write_pulse
from mtj_hil.protocols.errors import InvalidRequest
from mtj_hil.protocols.read import DEFAULT_READ_VOLTAGE
from mtj_hil.station.config import Station


def die_envelope(station: Station, board: Any | None = None) -> SafetyEnvelope:
    """The station's envelope tightened to its die profile's limits and, when given, to the
    board's limits (``board``: the controller's identity limits, with ``vread_max`` (V),
    ``vpulse_max`` (V), ``width_min`` and ``width_max`` (s)). Compliance (A) and ramp rate
    (V/s) are the station's."""
    env, lim = station.envelope, station.profile.limits
    inf = float("inf")
    return SafetyEnvelope(
        max_read_voltage=min(
            env.max_read_voltage, lim.max_read_voltage, board.vread_max if board else inf
        ),
        min_pulse_amplitude=max(env.min_pulse_amplitude, lim.min_pulse_amplitude),
        max_pulse_amplitude=min(
            env.max_pulse_amplitude, lim.max_pulse_amplitude, board.vpulse_max if board else inf
        ),
        min_pulse_width=max(
            env.min_pulse_width, lim.min_pulse_width, board.width_min if board else 0.0
        ),
        max_pulse_width=min(
            env.max_pulse_width, lim.max_pulse_width, board.width_max if board else inf
        ),
        compliance_current=env.compliance_current,
        max_ramp_rate=env.max_ramp_rate,
    )


def envelope_limits(envelope: SafetyEnvelope) -> Limits:
    """The :class:`~mtj_hil.protocols.chip.Limits` a layout reports for ``envelope``."""
    e = envelope
    return Limits(
        e.max_read_voltage,
        e.min_pulse_amplitude,
        e.max_pulse_amplitude,
        e.min_pulse_width,
        e.max_pulse_width,
        voltage_step=VOLTAGE_STEP,  # as the controller's commands carry them
        width_digits=WIDTH_DIGITS,
    )


def planned_layout(station: Station) -> Layout:
    """The layout a station's die will report, as far as it is known before the board is
    opened: the profile's geometry with the limits of :func:`die_envelope` (the board may
    tighten them further when it answers)."""
    layout = station.profile.layout
    return dataclasses.replace(layout, limits=envelope_limits(die_envelope(station)))


def envelope_notes(station: Station) -> list[str]:
    """What the station's envelope refuses that the commands would use by default: the
    die's nominal write pulse (characterisation, switching and the defect thresholds of a
    calibration write with it unless given a pulse) and the default read voltage (V).
    Empty when the envelope allows both."""
    layout = planned_layout(station)
    lim = layout.limits
    notes = []
    try:
        check_write_pulse(layout, None)
    except InvalidRequest:
        nominal = layout.nominal_pulse
        notes.append(
            f"the die's nominal write pulse ({abs(nominal.amplitude):g} V, {nominal.width:g} s) "
            f"lies outside the envelope ({lim.min_pulse_amplitude:g}..{lim.max_pulse_amplitude:g}"
            f" V, {lim.min_pulse_width:g}..{lim.max_pulse_width:g} s): characterize needs "
            "--pulse-amplitude / --pulse-width within it, calibrate --no-thresholds, and "
            "switching (which writes its start state with it) cannot run, unless [safety] "
            "allows it"
        )
    if lim.max_read_voltage < DEFAULT_READ_VOLTAGE:
        notes.append(
            f"the default read voltage {DEFAULT_READ_VOLTAGE:g} V is above the envelope's "
            f"{lim.max_read_voltage:g} V: give --read-voltage (campaigns: read_voltage)"
        )
    return notes
