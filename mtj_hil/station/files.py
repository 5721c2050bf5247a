"""Reading station files: TOML -> a validated :class:`~mtj_hil.station.config.Station`.

The keys, types and ranges are the schema's (:mod:`mtj_hil.station.schema`); this module
adds what relates keys to each other and to the die. Every error is a ConfigError naming
the file and the key."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from mtj_hil.calibration.records import ReferenceResistor
from mtj_hil.errors import ConfigError, apart
from mtj_hil.instruments.bus.resource_names import resource_identity
from mtj_hil.instruments.errors import SafetyViolation
from mtj_hil.instruments.safety import SafetyEnvelope
from mtj_hil.instruments.smu.model_bounds import model_problem
from mtj_hil.schema import check_section, check_top, read_toml, refuse_other_kind, settings
from mtj_hil.sim.profile import PROFILE_DIR, DeviceProfile, load_profile
from mtj_hil.station.config import (
    SAFETY_KEYS,
    VIRTUAL,
    CalibrationSettings,
    ControllerConfig,
    SmuConfig,
    Station,
    VirtualLabConfig,
)
from mtj_hil.station.schema import (
    CALIBRATION,
    CONTROLLER,
    DIE,
    REFERENCE,
    SAFETY,
    SMU,
    STATION,
    STATION_FILE,
    VIRTUAL_LAB,
)
from mtj_hil.station.wire_limits import wire_limit_problem


def profile_source(value: str, station_path: Path | None) -> str:
    """Where a station's ``[die] profile`` is loaded from: a shipped profile name stays a
    name; a path relative to nothing else is taken relative to the station file's folder
    (not the working directory), so a station file and its profile can move together.
    Absolute paths, and every value when the station has no file, are used as given. A bare
    word that is neither a shipped name nor a file beside the station (no folder, no suffix)
    stays a name, so a misspelt shipped name is reported as written, with its closest match."""
    candidate = Path(value)
    if station_path is None or not value or candidate.is_absolute():
        return value
    if (PROFILE_DIR / f"{value}.toml").exists():
        return value
    beside = station_path.parent / candidate
    if candidate.suffix or len(candidate.parts) > 1 or beside.exists():
        return str(beside)
    return value


def load_station(path: str | Path) -> Station:
    """Read and validate a station file.

    Raises:
        ConfigError: unreadable, binary or non-UTF-8 file, bad TOML, an unknown section or
            key (with the closest allowed one), a wrong type or a value out of range, unknown
            instrument driver, bad resource string or URL, missing safety limit, a limit
            beyond the die profile's breakdown.
    """
    path = Path(path)
    _, data = read_toml(path, "station file")
    refuse_other_kind(data, path, "station file")
    return station_from_dict(data, path)


def _tables(
    data: dict[str, Any], name: str, src: str, parent: str = ""
) -> dict[str, dict[str, Any]]:
    """The named sub-tables of ``[name]`` (``[smu.sense]``, ...), each checked to be a table;
    ``parent`` is the dotted table ``data`` is in (``calibration``), for messages.

    Raises:
        ConfigError: naming the file and the dotted key of what is not a table."""
    value = data.get(name, {})
    name = f"{parent}.{name}" if parent else name
    if not isinstance(value, dict):
        raise ConfigError(f"{src}: {name} must be a table of named tables, e.g. [{name}.sense]")
    for key, sub in value.items():
        if not isinstance(sub, dict):
            raise ConfigError(
                f"{src}: {name}.{key} = {sub!r} is not a table; each entry of [{name}] is "
                f"a named table, e.g. [{name}.sense]"
            )
    return value


def station_from_dict(data: dict[str, Any], path: Path | None = None) -> Station:
    """Validate a station given as nested dicts (the TOML layout). See :func:`load_station`."""
    src = str(path) if path else "<station>"

    def fail(key: str, problem: str) -> ConfigError:
        return ConfigError(f"{src}: {key} {problem}")

    def section(sec: Any) -> dict[str, Any]:
        if sec.name not in data:
            if sec.required:
                raise fail(f"[{sec.name}]", "section is missing")
            return check_section({}, sec, src)
        return check_section(data[sec.name], sec, src)

    check_top(data, STATION_FILE, src)
    station = section(STATION)
    name = station["name"] or (path.stem if path else "station")
    die = section(DIE)
    try:
        profile = load_profile(profile_source(die["profile"], path))
    except ConfigError as exc:
        raise fail("die.profile", f"is not usable: {exc}") from exc

    ctrl = section(CONTROLLER)
    controller = ControllerConfig(**ctrl)
    if controller.rtscts and controller.xonxoff:
        raise fail("controller.xonxoff", "and controller.rtscts cannot both be true")

    smus = []
    for smu_name, sec in _tables(data, "smu", src).items():
        values = check_section(sec, SMU, src, where=f"smu.{smu_name}")
        channel = values["channel"]
        current_range = values["current_range"]
        smus.append(
            SmuConfig(
                **{
                    **values,
                    "channel": None if channel is None else str(channel),
                    "current_range": None if current_range in (None, "auto") else current_range,
                },
                name=smu_name,
            )
        )
    roles = [s.role for s in smus]
    if len(set(roles)) != len(roles):
        raise fail("[smu]", "names a role twice; one SMU per role (sense, drive)")
    problem = smu_wiring_problem(smus)
    if problem is not None:
        raise fail(*problem)
    for smu in smus:  # what the instrument itself would refuse mid-configure
        beyond = model_problem(smu.driver, smu.nplc, smu.compliance, smu.current_range)
        if beyond is not None:
            raise fail(f"smu.{smu.name}.{beyond[0]}", beyond[1])
    if station["read_path"] == "smu" and "sense" not in roles:
        raise fail("station.read_path", "= 'smu' needs an [smu.*] with role = 'sense'")

    limits = section(SAFETY)
    floor = profile.switching.breakdown_floor
    for key in ("max_read_voltage", "max_pulse_amplitude"):
        if limits[key] >= floor:
            raise fail(
                f"safety.{key}",
                f"= {limits[key]:g} V reaches the die's breakdown "
                f"({floor:g} V, profile {profile.name}); allowed: below {floor:g} V",
            )
    problem = wire_limit_problem(limits)
    if problem is not None:
        raise fail(*problem)
    for smu in smus:
        if smu.compliance > limits["compliance_current"]:
            value, limit = apart(smu.compliance, limits["compliance_current"])
            raise fail(
                f"smu.{smu.name}.compliance",
                f"= {value} A exceeds safety.compliance_current ({limit} A)",
            )
    try:
        envelope = SafetyEnvelope(**{k: limits[k] for k in SAFETY_KEYS})
    except SafetyViolation as exc:
        raise fail("[safety]", str(exc)) from exc
    problem = profile_overlap_problem(limits, profile)
    if problem is not None:
        raise fail(*problem)

    lab = None
    if "virtual_lab" in data:
        lab = VirtualLabConfig(**section(VIRTUAL_LAB))
    elif controller.url == VIRTUAL or any(s.resource == VIRTUAL for s in smus):
        raise fail("[virtual_lab]", f"is missing but an address is {VIRTUAL!r}")
    calibration = _calibration_settings(data, path, profile, limits, src)
    return Station(
        name=name,
        path=path,
        line_frequency=station["line_frequency"],
        read_path=station["read_path"],
        profile=profile,
        p_polarity=die["p_polarity"],
        controller=controller,
        smus=tuple(smus),
        envelope=envelope,
        virtual_lab=lab,
        calibration_validity_days=station["calibration_validity_days"],
        calibration=calibration,
        visa_library=station["visa_library"],
        raw=data,
    )


def profile_overlap_problem(
    limits: dict[str, Any], profile: DeviceProfile
) -> tuple[str, str] | None:
    """``(key, problem)`` when a ``[safety]`` pulse range (V, s) and the die profile's
    ``[limits]`` share no value, else None. The station's chip works in the tighter of the
    two (:func:`mtj_hil.station.envelope.die_envelope`); with no overlap it would allow no
    pulse at all, and every command on the station failed only once it built that envelope,
    with an error naming neither the file nor the key."""
    lim = profile.limits
    pairs = (
        ("min_pulse_amplitude", "max_pulse_amplitude", "V"),
        ("min_pulse_width", "max_pulse_width", "s"),
    )
    for low, high, unit in pairs:
        if limits[low] > getattr(lim, high):
            bound, key, side, allowed = getattr(lim, high), low, "above", "at most"
        elif limits[high] < getattr(lim, low):
            bound, key, side, allowed = getattr(lim, low), high, "below", "at least"
        else:
            continue
        other = high if side == "above" else low
        return (
            f"safety.{key}",
            f"= {limits[key]:g} {unit} is {side} the die's limits.{other} ({bound:g} "
            f"{unit}, profile {profile.name}): the envelope would allow no pulse; allowed: "
            f"{allowed} {bound:g} {unit}",
        )
    return None


def _calibration_settings(
    data: dict[str, Any],
    path: Path | None,
    profile: DeviceProfile,
    limits: dict[str, float],
    src: str,
) -> CalibrationSettings | None:
    """Validate the optional ``[calibration]`` section (see :class:`CalibrationSettings`)."""
    if "calibration" not in data:
        return None
    sec = check_section(data["calibration"], CALIBRATION, src)
    geo = profile.geometry
    directory = Path(sec["dir"])
    if not directory.is_absolute() and path is not None:
        directory = path.parent / directory
    if directory.exists() and not directory.is_dir():  # found only after a whole calibration
        raise ConfigError(
            f"{src}: calibration.dir = {sec['dir']!r} is a file ({directory}), not a folder; "
            "give the folder calibration records go to"
        )
    refs = []
    for ref_name, ref in _tables(data["calibration"], "references", src, "calibration").items():
        values = check_section(ref, REFERENCE, src, where=f"calibration.references.{ref_name}")
        refs.append(ReferenceResistor(str(ref_name), **values))
    if len({r.index for r in refs}) != len(refs):
        raise ConfigError(f"{src}: calibration.references names a board reference index twice")

    def on_die(key: str, values: Any, n: int, what: str) -> None:
        values = values if isinstance(values, list | tuple) else [values]
        if any(v >= n for v in values):
            raise ConfigError(
                f"{src}: calibration.{key} = {sec[key]!r} is out of range; allowed: "
                f"{what} in 0..{n - 1}"
            )

    on_die("array", sec["array"], geo.n_arrays, "an array index")
    on_die("rows", sec["rows"], geo.rows, "input lines")
    on_die("threshold_arrays", sec["threshold_arrays"], geo.n_arrays, "array indices")
    # the calibration reads in the die's envelope: the tighter of [safety] and the profile
    vmax, limit = limits["max_read_voltage"], "safety.max_read_voltage"
    if profile.limits.max_read_voltage < vmax:
        vmax = profile.limits.max_read_voltage
        limit = f"the die's limits.max_read_voltage, profile {profile.name}"
    if any(v > vmax for v in sec["voltages"]):
        raise ConfigError(
            f"{src}: calibration.voltages = {sec['voltages']!r} is out of range; allowed: "
            f"read voltages in (0, {vmax:g}] V ({limit})"
        )
    return CalibrationSettings(
        directory=directory,
        references=tuple(refs),
        array=sec["array"],
        rows=tuple(sec["rows"]),
        voltages=tuple(sec["voltages"]),
        full_scale=sec["full_scale"],
        threshold_arrays=tuple(sec["threshold_arrays"]),
    )


def station_settings(station: Station) -> list[tuple[str, Any, str]]:
    """Every effective setting of a station file: ``(dotted key, value, source)`` where the
    source is ``"file"`` (written in it) or ``"default"`` (the schema's default)."""
    data = station.raw
    out: list[tuple[str, Any, str]] = []
    out += settings(data.get("station"), STATION)
    out[0] = ("station.name", station.name, out[0][2])
    for sec in (DIE, CONTROLLER):
        out += settings(data.get(sec.name), sec)
    for smu in station.smus:
        raw = data.get("smu", {}).get(smu.name, {})
        for key, _value, source in settings(raw, SMU, where=f"smu.{smu.name}"):
            field = key.rpartition(".")[2]
            value = getattr(smu, field)
            if field == "current_range" and value is None:
                value = "auto"
            out.append((key, value, source))
    out += settings(data.get("safety"), SAFETY)
    if station.virtual_lab is not None:
        out += settings(data.get("virtual_lab"), VIRTUAL_LAB)
    if station.calibration is not None:
        raw = data.get("calibration", {})
        out += [s for s in settings(raw, CALIBRATION) if s[0] != "calibration.references"]
        for ref in station.calibration.references:
            where = f"calibration.references.{ref.name}"
            out += settings(raw.get("references", {}).get(ref.name), REFERENCE, where=where)
    return out


def with_virtual_die(station: Station, die: int) -> Station:
    """The same virtual-lab station serving another die of its lot."""
    if station.virtual_lab is None:
        raise ConfigError(f"{station.path}: not a virtual-lab station; there is no die to choose")
    return replace(station, virtual_lab=replace(station.virtual_lab, die=die))


CHANNELS = {
    "keithley2400": ("1",),
    "keithley2450": ("1",),
    "keithley2600": ("a", "b"),
    "keysight_b2900": ("1", "2"),
}
"""The channels each SMU driver's instrument has (the first is used when none is given)."""


def smu_wiring_problem(smus: list[SmuConfig]) -> tuple[str, str] | None:
    """``(key, problem)`` when the ``[smu.*]`` entries cannot be wired as written, else None:
    a channel the driver's instrument does not have (a single-channel 2400/2450 has only 1),
    or one channel (or one single-channel instrument) named by two entries, which would give
    one output two roles, two known states and two shutdowns. Entries at the address
    ``"virtual"`` share the virtual lab's instrument when they name the same two-channel
    driver, so their channels must differ too. Addresses are compared as VISA compares
    them (:func:`~mtj_hil.instruments.bus.resource_names.resource_identity`: ``tcpip::h::inst0``
    and ``TCPIP0::h::INSTR`` are one instrument)."""
    used: dict[tuple[str, str], str] = {}
    drivers: dict[str, tuple[str, str, str]] = {}  # address -> driver, entry, its spelling
    for smu in smus:
        channels = CHANNELS.get(smu.driver, ())
        channel = smu.channel if smu.channel is not None else (channels[0] if channels else "")
        if channels and channel not in channels:
            allowed = (
                f"channels {' and '.join(channels)}; allowed: {', '.join(map(repr, channels))}"
                if len(channels) > 1
                else "one channel; leave channel out"
            )
            return f"smu.{smu.name}.channel", f"= {smu.channel!r}: a {smu.driver} has {allowed}"
        if smu.resource == "virtual":
            if len(channels) < 2:
                continue  # each single-channel virtual SMU gets an instrument of its own
            unit, alias = f"the virtual {smu.driver}", ""
        else:
            driver, first, unit = drivers.setdefault(
                resource_identity(smu.resource), (smu.driver, smu.name, smu.resource)
            )  # the address as the first entry spelled it
            alias = (
                f" ({smu.resource!r} and {unit!r} are one VISA address)"
                if smu.resource != unit
                else ""
            )
            if driver != smu.driver:
                return (
                    f"smu.{smu.name}.resource",
                    f"= {smu.resource!r} is smu.{first}'s {driver}{alias}; one address is one "
                    "instrument",
                )
        other = used.setdefault((unit, channel), smu.name)
        if other != smu.name:
            return (
                f"smu.{smu.name}",
                f"uses channel {channel} of {unit}, as smu.{other} does{alias}; one channel "
                "serves one entry (give another channel or instrument address)",
            )
    return None
