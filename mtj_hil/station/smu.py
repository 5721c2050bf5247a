"""Opening a station's SMUs and controller board: drivers, VISA library, identity, settings.

Kept apart from :mod:`mtj_hil.station.chip` so that ``mtj-hil station check`` opens instruments
exactly as a run does.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from collections.abc import Callable
from typing import Any

from mtj_hil.errors import ConfigError
from mtj_hil.instruments.bus.resource_names import resource_identity
from mtj_hil.instruments.bus.visa_session import (
    VisaLibraryError,
    load_visa_library,
    open_visa_adapter,
)
from mtj_hil.instruments.controller import ChipController
from mtj_hil.instruments.errors import InstrumentError, InstrumentTimeout
from mtj_hil.instruments.safety import SafetyEnvelope
from mtj_hil.instruments.smu import SourceMeter
from mtj_hil.instruments.smu.base import Reading, smu_name
from mtj_hil.instruments.smu.known_state import SmuSettings, SourceCeiling
from mtj_hil.station.config import VIRTUAL, ControllerConfig, SmuConfig, Station

#: What ``*IDN?`` must contain for each station driver name.
IDENTITY = {
    "keithley2400": re.compile(r"MODEL\s*24[0-4]\d", re.IGNORECASE),
    "keithley2450": re.compile(r"MODEL\s*24[5-7]\d", re.IGNORECASE),
    "keithley2600": re.compile(r"MODEL\s*26\d\d", re.IGNORECASE),
    "keysight_b2900": re.compile(r"B29\d\d", re.IGNORECASE),
}

#: Largest single step of the open and shutdown ramps, V.
RAMP_STEP_V = 0.05


def smu_settings(station: Station, config: SmuConfig, envelope: SafetyEnvelope) -> SmuSettings:
    """The known state a station asks of one SMU: the envelope's read-voltage bound as the
    largest source level, the SMU's compliance, NPLC and current range, the mains frequency
    and the envelope's ramp rate."""
    return SmuSettings(
        max_voltage=envelope.max_read_voltage,
        compliance=config.compliance,
        nplc=config.nplc,
        current_range=config.current_range,
        line_frequency=station.line_frequency,
        ramp_rate=envelope.max_ramp_rate,
        ramp_step=RAMP_STEP_V,
    )


def bind_to_envelope(smu: Any, envelope: SafetyEnvelope) -> None:
    """Hold ``smu`` to ``envelope`` whoever calls it: ``configure`` refuses a source bound
    above the envelope's read-voltage limit or a compliance above its current limit, and
    source levels and compliance changes are checked against them even before the first
    ``configure`` (SafetyViolation)."""
    smu.ceiling = SourceCeiling(envelope.max_read_voltage, envelope.compliance_current)


def switch_on_at_zero(smu: Any, role: str) -> None:
    """The SMU's output on at 0 V (its driver refuses unless the known state matched).

    Raises:
        InstrumentError: the output stayed off; the message names the SMU and the errors
            it queued (an over-temperature trip: the 2400's +810, others -200; the 2400's
            enabled interlock open: +802) and what to do.
    """
    smu.source_voltage = 0.0
    smu.enable_output()
    if smu.output_enabled:
        return
    try:
        queued = smu.errors()
    except InstrumentError:
        queued = []
    said = "; ".join(f"{code},{text}" for code, text in queued) or "no error queued"
    who = smu._who() if hasattr(smu, "_who") else f"{role} SMU"  # names its role
    raise InstrumentError(
        f"{who}: its output did not switch on ({said}); an over-temperature "
        "trip or an open interlock keeps it off: let it cool or close the interlock, power "
        "it up again, then run again"
    )


def check_identity(source: str, config: SmuConfig, idn: str, resource: str) -> None:
    """Raise a ConfigError naming the station file and key when ``idn`` is not the model of
    the driver the station names."""
    if not IDENTITY[config.driver].search(idn):
        raise ConfigError(
            f"{source}: smu.{config.name}.driver = {config.driver!r}, but "
            f"the instrument at {resource} identifies as {idn!r}"
        )


def used_channels(config: SmuConfig, station: Station | None) -> tuple[str, ...]:
    """Channels of ``config``'s instrument that the station uses: every ``[smu.*]`` entry with
    the same driver and resource, however the address is spelled (a two-channel unit may
    serve two entries)."""
    default = "a" if config.driver == "keithley2600" else "1"
    if station is None:
        return (config.channel or default,)
    same = [
        c.channel or default
        for c in station.smus
        if c.driver == config.driver
        and resource_identity(c.resource) == resource_identity(config.resource)
    ]
    return tuple(dict.fromkeys(same or [config.channel or default]))


def check_visa_library(station: Station) -> None:
    """Refuse, before any instrument is opened, a station whose SMUs' VISA library cannot
    be loaded (no SMU, or only the in-process lab's: nothing to load).

    Raises:
        ConfigError: naming ``station.visa_library`` and why.
    """
    if all(s.resource == VIRTUAL for s in station.smus):
        return
    try:
        load_visa_library(station.visa_library)
    except VisaLibraryError as exc:
        source = str(station.path) if station.path else "<station>"
        raise ConfigError(f"{source}: station.visa_library: {exc}") from exc


def make_smu(
    config: SmuConfig,
    resource: str,
    station: Station | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
    shared: dict[tuple[str, str], Any] | None = None,
    identities: dict[str, str] | None = None,
    time_scale: float = 1.0,
) -> SourceMeter:
    """Open the SMU driver a station names through its VISA library and check its identity.

    Nothing is configured and no output is touched here; see ``SourceMeter.configure``. On a
    two-channel unit the driver knows which channels the station uses (the others are made
    safe by ``configure``); with ``shared`` (a dict kept by the caller) entries naming
    channels of the same unit share one instrument object and session. With
    ``identities`` (a dict kept by the caller: ``*IDN?`` answer -> the entry that gave it)
    an instrument reached again under another address (``localhost`` and ``127.0.0.1``) is
    refused before anything is configured: its two drivers would each reset the channel
    the other one uses. ``time_scale`` (at least 1) stretches the SMU's timeouts, its base
    ``config.timeout`` and every work and recovery timeout, for an instrument slower than
    real time (see :func:`~mtj_hil.station.connect.smu_time_scale`).

    Raises:
        ValueError: a ``time_scale`` below 1 or not finite.
        ConfigError: the VISA library cannot be loaded (names ``station.visa_library``), a
            channel the driver does not have, an identity that is not the driver's model, or
            one already answered by another entry's address.
        InstrumentError: the resource cannot be opened (a missing GPIB/USB extra is named)
            or does not answer.
    """
    from mtj_hil.instruments.smu import (
        Keithley2400SourceMeter,
        Keithley2450,
        Keithley2600,
        KeysightB2900,
    )

    if not 1.0 <= time_scale < math.inf:
        raise ValueError(f"time_scale must be finite and at least 1, not {time_scale!r}")
    label = f"SMU {config.name} ({config.driver})"
    source = str(station.path) if station is not None and station.path else "<station>"
    key = (config.driver, resource_identity(resource))
    if shared is not None and key in shared:
        ch = config.channel or ("a" if config.driver == "keithley2600" else "1")
        prefix = "smu" if config.driver == "keithley2600" else "ch"
        return getattr(shared[key], f"{prefix}{ch}")  # type: ignore[no-any-return]
    library = station.visa_library if station is not None else "@py"
    try:
        adapter = open_visa_adapter(
            resource, name=label, visa_library=library, timeout_s=config.timeout * time_scale
        )
    except VisaLibraryError as exc:
        raise ConfigError(f"{source}: station.visa_library: {exc}") from exc
    inst: Any = None
    try:
        if config.driver == "keithley2400":
            smu = inst = Keithley2400SourceMeter(adapter, name=label, sleep=sleep)
        elif config.driver == "keithley2450":
            smu = inst = Keithley2450(adapter, name=label, sleep=sleep)
        elif config.driver == "keithley2600":
            ch = config.channel or "a"
            if ch not in ("a", "b"):
                raise AttributeError(ch)
            used = used_channels(config, station)
            inst = Keithley2600(adapter, name=label, channels=used, sleep=sleep)
            smu = getattr(inst, f"smu{ch}")
        else:
            ch = config.channel or "1"
            if ch not in ("1", "2"):
                raise AttributeError(ch)
            used = tuple(int(c) for c in used_channels(config, station))
            inst = KeysightB2900(adapter, name=label, channels=used, sleep=sleep)
            smu = getattr(inst, f"ch{ch}")
        inst._init_guard(resource)
        inst.time_scale = time_scale
        idn = identify(smu, label, resource)
        check_identity(source, config, idn, resource)
        if identities is not None and config.resource != VIRTUAL:
            other = identities.setdefault(idn, f"smu.{config.name} at {resource}")
            if not other.startswith(f"smu.{config.name} "):
                raise ConfigError(
                    f"{source}: smu.{config.name} at {resource} answers *IDN? {idn!r}, as "
                    f"{other} does: one instrument under two addresses; give its entries "
                    "one resource (a two-channel unit serves two entries at one address)"
                )
        if station is not None:
            bind_to_envelope(smu, station.envelope)
        if shared is not None and config.driver in ("keithley2600", "keysight_b2900"):
            shared[key] = inst
        return smu
    except AttributeError as exc:
        _close_quietly(adapter)
        raise ConfigError(
            f"smu.{config.name}.channel {config.channel!r} does not exist on a {config.driver}"
        ) from exc
    except BaseException:
        _close_quietly(adapter)
        raise


def identify(smu: SourceMeter, label: str, resource: str) -> str:
    """The instrument's ``*IDN?`` answer, asked once more when the first reply is lost (a
    query that changes nothing; the session resynchronises before it). Before this, an SMU
    whose first reply was lost was refused, and a channel it had on stayed on.

    Raises:
        InstrumentTimeout: no answer to either, saying that nothing else was sent, so an
            output the instrument had on is still on.
    """
    try:
        return str(smu.idn)
    except InstrumentTimeout:
        pass
    try:
        return str(smu.idn)
    except InstrumentTimeout as exc:
        raise InstrumentTimeout(
            f"{exc} (asked twice); nothing else was sent to {label} at {resource}, so an "
            "output it had on is still on: check it at the instrument"
        ) from exc


def _close_quietly(adapter: Any) -> None:
    with contextlib.suppress(Exception):  # already failing
        adapter.close()


def open_controller(config: ControllerConfig, url: str, time_scale: float = 1.0) -> ChipController:
    """Open and identify the controller board with the station's serial options;
    ``time_scale`` stretches its reply timeouts for a board slower than real time (see
    :func:`~mtj_hil.station.connect.board_time_scale`).

    Raises:
        InstrumentError: the port cannot be opened (e.g. held by another process) or the
            board does not answer.
    """
    return ChipController(
        url,
        baudrate=config.baudrate,
        timeout=config.timeout,
        retries=config.retries,
        exclusive=config.exclusive,
        write_timeout=config.write_timeout,
        rtscts=config.rtscts,
        xonxoff=config.xonxoff,
        dtr=config.dtr,
        rts=config.rts,
        time_scale=time_scale,
    )


__all__ = [
    "IDENTITY",
    "check_identity",
    "make_smu",
    "open_controller",
    "smu_settings",
    "used_channels",
]


def untrusted_reading(role: str, smu: Any, where: str, reading: Reading) -> InstrumentError:
    """The error for a reading of the ``role`` SMU (taken ``where``, e.g. "on output line
    3") that is not a measurement: the instrument, why in plain words, and what to do."""
    return InstrumentError(
        f"{smu_name(smu, role)}: its reading {where} is not a measurement: "
        + "; ".join(reading.untrusted_because())
        + "; nothing from it was kept. Check the instrument's settings and the probe "
        "contacts, then run the command again (a measurement run: with --resume)"
    )


def smu_call(role: str, call: Any) -> Any:
    """Run one SMU call, turning a malformed reply (ValueError) into InstrumentError; wire
    failures already arrive as InstrumentError from the drivers' guarded sessions."""
    try:
        return call()
    except InstrumentError:
        raise
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InstrumentError(f"{role} SMU: {type(exc).__name__}: {exc}") from exc
