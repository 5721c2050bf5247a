"""Reading station files: TOML -> a validated :class:`~mtj_hil.station.config.Station`.

Every error is a ConfigError naming the file and the key."""

from __future__ import annotations

import re
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

from mtj_hil.calibration.records import ReferenceResistor
from mtj_hil.errors import ConfigError
from mtj_hil.instruments.controller import ADC_RANGES
from mtj_hil.instruments.errors import SafetyViolation
from mtj_hil.instruments.safety import SafetyEnvelope
from mtj_hil.sim.profile import PROFILE_DIR, DeviceProfile, load_profile
from mtj_hil.station.config import (
    READ_PATHS,
    SAFETY_KEYS,
    SMU_DRIVERS,
    SMU_ROLES,
    VIRTUAL,
    VISA_LIBRARIES,
    CalibrationSettings,
    ControllerConfig,
    SmuConfig,
    Station,
    VirtualLabConfig,
)

_VISA = re.compile(
    r"^(TCPIP\d*::[A-Za-z0-9.\-]+::(\d+::SOCKET|[A-Za-z0-9_]+(::INSTR)?|INSTR)"
    r"|GPIB\d*::\d+(::\d+)?::INSTR|USB\d*::[^:\s]+::[^:\s]+::[^:\s]+(::\d+)?::INSTR"
    r"|ASRL[^:\s]+::INSTR)$",
    re.IGNORECASE,
)
_SERIAL = re.compile(
    r"^(socket://[A-Za-z0-9.\-]+:\d+|rfc2217://[A-Za-z0-9.\-]+:\d+|loop://"
    r"|/dev/[A-Za-z0-9_./:+@=\-]+|COM\d+)$"
)


def profile_source(value: str, station_path: Path | None) -> str:
    """Where a station's ``[die] profile`` is loaded from: a shipped profile name stays a
    name; a path relative to nothing else is taken relative to the station file's folder
    (not the working directory), so a station file and its profile can move together.
    Absolute paths, and every value when the station has no file, are used as given."""
    candidate = Path(value)
    if station_path is None or not value or candidate.is_absolute():
        return value
    if candidate.suffix != ".toml" and (PROFILE_DIR / f"{value}.toml").exists():
        return value
    return str(station_path.parent / candidate)


def load_station(path: str | Path) -> Station:
    """Read and validate a station file.

    Raises:
        ConfigError: unreadable file, bad TOML, unknown instrument driver, bad resource
            string or URL, missing safety limit, a limit beyond the die profile's breakdown.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read station file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"station file {path} is not valid TOML: {exc}") from exc
    return station_from_dict(data, path)


def station_from_dict(data: dict[str, Any], path: Path | None = None) -> Station:
    """Validate a station given as nested dicts (the TOML layout). See :func:`load_station`."""
    src = str(path) if path else "<station>"

    def fail(key: str, problem: str) -> ConfigError:
        return ConfigError(f"{src}: {key} {problem}")

    def section(name: str, required: bool = True) -> dict[str, Any]:
        value = data.get(name)
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            raise fail(f"[{name}]", "section is missing")
        return value

    def number(
        sec: dict[str, Any],
        prefix: str,
        key: str,
        default: float | None = None,
        positive: bool = True,
    ) -> float:
        if key not in sec:
            if default is None:
                raise fail(f"{prefix}.{key}", "is missing")
            return default
        value = sec[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail(f"{prefix}.{key}", f"must be a number, got {value!r}")
        if positive and not value > 0:
            raise fail(f"{prefix}.{key}", f"must be > 0, got {value!r}")
        return float(value)

    def choice(
        sec: dict[str, Any],
        prefix: str,
        key: str,
        allowed: tuple[str, ...],
        default: str | None = None,
    ) -> str:
        value = sec.get(key, default)
        if value not in allowed:
            raise fail(
                f"{prefix}.{key}", f"= {value!r} is not allowed; allowed: {', '.join(allowed)}"
            )
        return str(value)

    station = section("station")
    name = str(station.get("name", path.stem if path else "station"))
    line_frequency = number(station, "station", "line_frequency", 50.0)
    if line_frequency not in (50.0, 60.0):
        raise fail(
            "station.line_frequency", f"= {line_frequency:g} is not allowed; allowed: 50, 60"
        )
    read_path = choice(station, "station", "read_path", READ_PATHS, "adc")
    visa_library = station.get("visa_library", "@py")
    if not isinstance(visa_library, str) or not (
        visa_library in VISA_LIBRARIES
        or (not visa_library.startswith("@") and re.search(r"[/\\]|\.(so|dll|dylib)", visa_library))
    ):
        raise fail(
            "station.visa_library",
            f"= {visa_library!r} is not allowed; allowed: '@py' (pyvisa-py), '@ivi' "
            "(NI-VISA / Keysight VISA) or the path of a VISA library",
        )
    validity = number(station, "station", "calibration_validity_days", 1.0)

    die = section("die")
    try:
        profile = load_profile(profile_source(str(die.get("profile", "")), path))
    except ConfigError as exc:
        raise fail("die.profile", f"is not usable: {exc}") from exc
    p_polarity = choice(die, "die", "p_polarity", ("POS", "NEG"), "POS")

    ctrl = section("controller")
    url = str(ctrl.get("url", ""))
    if url != VIRTUAL and not _SERIAL.match(url):
        raise fail(
            "controller.url",
            f"= {url!r} is not a serial port or pyserial URL; allowed: "
            "/dev/tty..., COMn, socket://host:port, rfc2217://host:port, loop://, "
            f"or {VIRTUAL!r}",
        )

    def flag(key: str, default: bool | None) -> bool | None:
        value = ctrl.get(key, default)
        if value is not None and not isinstance(value, bool):
            raise fail(f"controller.{key}", f"must be true or false, got {value!r}")
        return value

    known_ctrl = {"url", "baudrate", "timeout", "retries", "exclusive", "write_timeout"}
    known_ctrl |= {"rtscts", "xonxoff", "dtr", "rts"}
    unknown_ctrl = set(ctrl) - known_ctrl
    if unknown_ctrl:
        raise fail(
            "[controller]",
            f"has unknown key(s) {', '.join(sorted(unknown_ctrl))}; "
            f"allowed: {', '.join(sorted(known_ctrl))}",
        )
    controller = ControllerConfig(
        url=url,
        baudrate=int(number(ctrl, "controller", "baudrate", 115200)),
        timeout=number(ctrl, "controller", "timeout", 0.5),
        retries=int(number(ctrl, "controller", "retries", 2, positive=False)),
        exclusive=bool(flag("exclusive", True)),
        write_timeout=number(ctrl, "controller", "write_timeout", 1.0),
        rtscts=bool(flag("rtscts", False)),
        xonxoff=bool(flag("xonxoff", False)),
        dtr=flag("dtr", None),
        rts=flag("rts", None),
    )
    if controller.rtscts and controller.xonxoff:
        raise fail("controller.xonxoff", "and controller.rtscts cannot both be true")

    smus = []
    for smu_name, sec in section("smu", required=False).items():
        prefix = f"smu.{smu_name}"
        if not isinstance(sec, dict):
            raise fail(f"[{prefix}]", "must be a table")
        resource = str(sec.get("resource", ""))
        if resource != VIRTUAL and not _VISA.match(resource):
            raise fail(
                f"{prefix}.resource",
                f"= {resource!r} is not a VISA resource string; "
                "allowed e.g. TCPIP::host::port::SOCKET, TCPIP::host::INSTR, "
                f"GPIB0::24::INSTR, USB0::...::INSTR, ASRL/dev/ttyUSB0::INSTR, or {VIRTUAL!r}",
            )
        current_range = sec.get("current_range", "auto")
        if current_range != "auto" and (
            isinstance(current_range, bool)
            or not isinstance(current_range, int | float)
            or not 0 < current_range <= 3.0
        ):
            raise fail(
                f"{prefix}.current_range",
                f'= {current_range!r} is not allowed; allowed: "auto" or a range in A (0 < r <= 3)',
            )
        smus.append(
            SmuConfig(
                name=smu_name,
                driver=choice(sec, prefix, "driver", SMU_DRIVERS),
                resource=resource,
                role=choice(sec, prefix, "role", SMU_ROLES, "sense"),
                channel=str(sec["channel"]) if "channel" in sec else None,
                nplc=number(sec, prefix, "nplc", 1.0),
                compliance=number(sec, prefix, "compliance", 1e-3),
                timeout=number(sec, prefix, "timeout", 5.0),
                current_range=None if current_range == "auto" else float(current_range),
            )
        )
    roles = [s.role for s in smus]
    if len(set(roles)) != len(roles):
        raise fail("[smu]", "names a role twice; one SMU per role (sense, drive)")
    if read_path == "smu" and "sense" not in roles:
        raise fail("station.read_path", "= 'smu' needs an [smu.*] with role = 'sense'")

    safety = section("safety")
    unknown = set(safety) - set(SAFETY_KEYS)
    if unknown:
        raise fail(
            "[safety]",
            f"has unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(SAFETY_KEYS)}",
        )
    limits = {key: number(safety, "safety", key) for key in SAFETY_KEYS}
    floor = profile.switching.breakdown_floor
    for key in ("max_read_voltage", "max_pulse_amplitude"):
        if limits[key] >= floor:
            raise fail(
                f"safety.{key}",
                f"= {limits[key]:g} V reaches the die's breakdown "
                f"({floor:g} V, profile {profile.name}); allowed: below {floor:g} V",
            )
    for smu in smus:
        if smu.compliance > limits["compliance_current"]:
            raise fail(
                f"smu.{smu.name}.compliance",
                f"= {smu.compliance:g} A exceeds "
                f"safety.compliance_current ({limits['compliance_current']:g} A)",
            )
    try:
        envelope = SafetyEnvelope(**limits)
    except SafetyViolation as exc:
        raise fail("[safety]", str(exc)) from exc

    lab = None
    if "virtual_lab" in data:
        sec = section("virtual_lab")
        lab = VirtualLabConfig(
            lot_seed=int(number(sec, "virtual_lab", "lot_seed", 0, positive=False)),
            die=int(number(sec, "virtual_lab", "die", 0, positive=False)),
            smu_latency=number(sec, "virtual_lab", "smu_latency", 2e-3, positive=False),
            smu_start=_smu_start(sec, fail),
        )
    elif url == VIRTUAL or any(s.resource == VIRTUAL for s in smus):
        raise fail("[virtual_lab]", f"is missing but an address is {VIRTUAL!r}")
    calibration = _calibration_settings(data, path, profile, limits, fail)
    return Station(
        name=name,
        path=path,
        line_frequency=line_frequency,
        read_path=read_path,
        profile=profile,
        p_polarity=p_polarity,
        controller=controller,
        smus=tuple(smus),
        envelope=envelope,
        virtual_lab=lab,
        calibration_validity_days=validity,
        calibration=calibration,
        visa_library=visa_library,
        raw=data,
    )


def _calibration_settings(
    data: dict[str, Any],
    path: Path | None,
    profile: DeviceProfile,
    limits: dict[str, float],
    fail: Any,
) -> CalibrationSettings | None:
    """Validate the optional ``[calibration]`` section (see :class:`CalibrationSettings`)."""
    sec = data.get("calibration")
    if sec is None:
        return None
    if not isinstance(sec, dict):
        raise fail("[calibration]", "must be a table")
    known = {"dir", "references", "array", "rows", "voltages", "full_scale", "threshold_arrays"}
    unknown = set(sec) - known
    if unknown:
        raise fail(
            "[calibration]",
            f"has unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(known))}",
        )
    geo = profile.geometry
    directory = Path(str(sec.get("dir", "calibrations")))
    if not directory.is_absolute() and path is not None:
        directory = path.parent / directory
    refs = []
    ref_sec = sec.get("references", {})
    if not isinstance(ref_sec, dict):
        raise fail("calibration.references", "must be a table of name = {index, ohms, tolerance}")
    for ref_name, ref in ref_sec.items():
        key = f"calibration.references.{ref_name}"
        if not isinstance(ref, dict) or set(ref) - {"index", "ohms", "tolerance"}:
            raise fail(key, "must be {index = k, ohms = R, tolerance = t}")
        index, ohms, tol = ref.get("index"), ref.get("ohms"), ref.get("tolerance")
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise fail(f"{key}.index", f"must be a board reference index >= 0, got {index!r}")
        if isinstance(ohms, bool) or not isinstance(ohms, int | float) or not ohms > 0:
            raise fail(f"{key}.ohms", f"must be a resistance > 0 ohm, got {ohms!r}")
        if isinstance(tol, bool) or not isinstance(tol, int | float) or not 0 < tol < 0.1:
            raise fail(f"{key}.tolerance", f"must be a relative tolerance in (0, 0.1), got {tol!r}")
        refs.append(ReferenceResistor(str(ref_name), index, float(ohms), float(tol)))
    if len({r.index for r in refs}) != len(refs):
        raise fail("calibration.references", "names a board reference index twice")

    def ints(key: str, default: tuple[int, ...], n: int) -> tuple[int, ...]:
        value = sec.get(key, list(default))
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v < n for v in value
        ):
            raise fail(f"calibration.{key}", f"must be a list of integers in 0..{n - 1}")
        return tuple(value)

    array = sec.get("array", 0)
    if isinstance(array, bool) or not isinstance(array, int) or not 0 <= array < geo.n_arrays:
        raise fail("calibration.array", f"must be an array index in 0..{geo.n_arrays - 1}")
    rows = ints("rows", CalibrationSettings.rows, geo.rows)
    if not rows:
        raise fail("calibration.rows", "must name at least one input line")
    volts = sec.get("voltages", list(CalibrationSettings.voltages))
    vmax = limits["max_read_voltage"]
    if (
        not isinstance(volts, list)
        or not volts
        or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and 0 < v <= vmax for v in volts
        )
    ):
        raise fail("calibration.voltages", f"must be read voltages in (0, {vmax:g}] V")
    full_scale = sec.get("full_scale", CalibrationSettings.full_scale)
    if not any(full_scale == r for r in ADC_RANGES):
        raise fail(
            "calibration.full_scale",
            f"= {full_scale!r} is not a converter range; allowed: "
            + ", ".join(f"{r:g}" for r in ADC_RANGES),
        )
    return CalibrationSettings(
        directory=directory,
        references=tuple(refs),
        array=int(array),
        rows=rows,
        voltages=tuple(float(v) for v in volts),
        full_scale=float(full_scale),
        threshold_arrays=ints(
            "threshold_arrays", CalibrationSettings.threshold_arrays, geo.n_arrays
        ),
    )


def _smu_start(sec: dict[str, Any], fail: Any) -> str:
    """``[virtual_lab] smu_start``: the state the virtual SMUs are found in."""
    from mtj_hil.sim.lab.smu.dialects import START_STATES

    value = str(sec.get("smu_start", "power-on"))
    if value not in START_STATES:
        raise fail(
            "virtual_lab.smu_start",
            f"= {value!r} is not allowed; allowed: {', '.join(START_STATES)}",
        )
    return value


def with_virtual_die(station: Station, die: int) -> Station:
    """The same virtual-lab station serving another die of its lot."""
    if station.virtual_lab is None:
        raise ConfigError(f"{station.path}: not a virtual-lab station; there is no die to choose")
    return replace(station, virtual_lab=replace(station.virtual_lab, die=die))
