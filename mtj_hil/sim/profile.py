"""Device profiles: the statistics a simulated die is drawn from, loaded from TOML.

A profile is data, not code: the shipped ones live in ``mtj_hil/sim/profiles/*.toml`` and a
user can point at their own file. Every value is SI (ohms, siemens, volts, seconds).
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from mtj_hil.errors import ConfigError
from mtj_hil.protocols.chip import Layout, Limits, Pulse
from mtj_hil.sim.profile_sections import (
    OPTIONAL_FLAWS,
    Clock,
    Drift,
    PartialSwitching,
    Pinholes,
    Populations,
    ResistiveOpens,
    Spatial,
    Telegraph,
    cross_checks,
)

PROFILE_DIR = Path(__file__).with_name("profiles")


@dataclass(frozen=True)
class Geometry:
    n_arrays: int
    rows: int
    cols: int
    cell: str


@dataclass(frozen=True)
class Resistance:
    r_p_median: float
    r_p_sigma: float
    r_ap_median: float
    r_ap_sigma: float
    rp_rap_correlation: float


@dataclass(frozen=True)
class Switching:
    vc_to_p: float
    vc_to_ap: float
    vc_sigma: float
    delta: float
    tau0: float
    write_error_floor: float
    half_select: bool
    breakdown_voltage: float
    breakdown_sigma: float
    breakdown_floor: float
    delta_sigma: float = 0.0
    """Relative device-to-device spread of Delta (0: every device has ``delta``)."""


@dataclass(frozen=True)
class Defects:
    short_rate: float
    open_rate: float
    stuck_p_rate: float
    stuck_ap_rate: float
    die_spread: float
    line_open_rate: float
    short_g_median: float
    short_g_sigma: float
    open_g: float
    line_short_rate: float = 0.0
    """Expected input lines per array whose every cell is shorted (optional key)."""


@dataclass(frozen=True)
class ReadModel:
    noise_rel: float
    noise_abs: float
    offset_sigma: float
    adc_bits: int
    adc_full_scale: float
    line_resistance: float
    read_width: float = 1e-7
    """Duration (s) a read voltage stays on an input line per read vector; sets read disturb
    (optional in profile files; 100 ns when absent)."""


@dataclass(frozen=True)
class BiasDependence:
    """Bias dependence of the tunnelling conductance (optional ``[bias]`` profile section).

    Each device follows a parabolic (Brinkman-type) law ``G(V) = G0 (1 + k V**2)`` with its
    own curvature ``k`` (1/V^2) per state: the AP curvature is set so that the TMR of a
    median device halves at ``v_half``; the P curvature is ``p_curvature`` times the AP one.
    Shorts are ohmic (``k = 0``); opens carry no current worth modelling (``k = 0``).
    """

    v_half: float
    """Bias (V) at which the TMR of a device with the median TMR falls to half its zero-bias
    value."""
    v_half_sigma: float
    """Relative device-to-device spread (1 sigma, lognormal) of ``v_half``."""
    p_curvature: float
    """Curvature of the P state as a fraction of the AP state's (0 <= p < 1)."""

    def ap_curvature(self, tmr: float, v_half: np.ndarray | float) -> np.ndarray:
        """AP curvature ``k_AP`` (1/V^2) giving a device of zero-bias ``tmr`` (e.g. 0.3) a TMR
        of ``tmr / 2`` at ``v_half`` (V)."""
        r = self.p_curvature
        return (0.5 * tmr) / (np.square(v_half) * ((1.0 + 0.5 * tmr) - r * (1.0 + tmr)))


@dataclass(frozen=True)
class DeviceProfile:
    """Everything needed to draw and simulate a die. See the shipped TOML files for units."""

    name: str
    description: str
    geometry: Geometry
    resistance: Resistance
    switching: Switching
    defects: Defects
    read: ReadModel
    limits: Limits
    nominal_pulse: Pulse
    bias: BiasDependence | None = None
    """Bias-dependent conductance; None (no ``[bias]`` section) = ohmic devices."""
    clock: Clock | None = None
    spatial: Spatial | None = None
    drift: Drift | None = None
    telegraph: Telegraph | None = None
    resistive_opens: ResistiveOpens | None = None
    pinholes: Pinholes | None = None
    populations: Populations | None = None
    partial_switching: PartialSwitching | None = None
    """The optional flaw sections (:mod:`mtj_hil.sim.profile_sections`); None = absent."""

    @property
    def layout(self) -> Layout:
        """The die geometry and limits as the Chip interface reports them."""
        return Layout(
            n_arrays=self.geometry.n_arrays,
            rows=self.geometry.rows,
            cols=self.geometry.cols,
            cell=self.geometry.cell,  # type: ignore[arg-type]
            limits=self.limits,
            nominal_g_p=1.0 / self.resistance.r_p_median,
            nominal_g_ap=1.0 / self.resistance.r_ap_median,
            nominal_pulse=self.nominal_pulse,
        )

    def replace(self, **sections: dict[str, Any] | None) -> DeviceProfile:
        """A copy with some fields of some sections changed, e.g.
        ``profile.replace(defects={"short_rate": 0.0})``; an optional section given as None
        is removed (``profile.replace(bias=None)``).

        Raises:
            ConfigError: unknown section or key, or a value out of range.
        """
        data = as_dict(self)
        for section, changes in sections.items():
            if section in _OPTIONAL_SECTIONS and changes is None:
                data.pop(section, None)  # drop the optional section
                continue
            if section in _OPTIONAL_SECTIONS and data.get(section) is None:
                data[section] = {}
            elif section not in data or not isinstance(data[section], dict):
                raise ConfigError(f"unknown profile section {section!r}")
            for key in changes:
                allowed = [f.name for f in fields({**_SECTIONS, **_OPTIONAL_SECTIONS}[section])]
                if key not in allowed:
                    raise ConfigError(f"unknown key {section}.{key}; allowed: {', '.join(allowed)}")
            data[section] = {**data[section], **changes}
        return profile_from_dict(data, source=f"{self.name} (modified)")


_SECTIONS: dict[str, type] = {
    "geometry": Geometry,
    "resistance": Resistance,
    "switching": Switching,
    "defects": Defects,
    "read": ReadModel,
    "limits": Limits,
    "nominal_pulse": Pulse,
}
_OPTIONAL_SECTIONS: dict[str, type] = {"bias": BiasDependence, **OPTIONAL_FLAWS}


def as_dict(profile: DeviceProfile) -> dict[str, Any]:
    """The profile as nested plain dicts (the TOML layout), for provenance records.

    An absent optional section (e.g. ``bias``) is left out, as in the TOML file."""
    data = dataclasses.asdict(profile)
    for name in _OPTIONAL_SECTIONS:
        if data.get(name) is None:
            data.pop(name, None)
        else:
            data[name] = {k: list(v) if isinstance(v, tuple) else v for k, v in data[name].items()}
    return data


def available_profiles() -> list[str]:
    """Names of the profiles shipped with the package."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def load_profile(name_or_path: str | Path) -> DeviceProfile:
    """Load a shipped profile by name (e.g. ``"1t1r-20k"``) or a TOML file by path.

    Raises:
        ConfigError: unknown name, unreadable or malformed file, missing or bad values.
    """
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.exists():
        path = candidate
    else:
        path = PROFILE_DIR / f"{name_or_path}.toml"
        if not path.exists():
            raise ConfigError(
                f"unknown profile {str(name_or_path)!r}; shipped profiles: "
                f"{', '.join(available_profiles())} (or give a path to a .toml file)"
            )
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read profile file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"profile file {path} is not valid TOML: {exc}") from exc
    return profile_from_dict(data, source=str(path))


def profile_from_dict(data: dict[str, Any], source: str = "<dict>") -> DeviceProfile:
    """Build and validate a profile from nested dicts (the TOML layout).

    Raises:
        ConfigError: naming ``source``, the key and what is allowed.
    """
    if not isinstance(data.get("name"), str):
        raise ConfigError(f"{source}: key 'name' (a string) is missing")
    sections: dict[str, Any] = {}
    for section, cls in {**_SECTIONS, **_OPTIONAL_SECTIONS}.items():
        raw = data.get(section)
        if section in _OPTIONAL_SECTIONS and raw is None:
            continue
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: section [{section}] is missing")
        expected = {f.name: f for f in fields(cls)}
        unknown = set(raw) - set(expected)
        if unknown:
            raise ConfigError(
                f"{source}: unknown key(s) "
                f"{', '.join(f'{section}.{k}' for k in sorted(unknown))} in [{section}]; "
                f"allowed: {', '.join(expected)}"
            )
        values: dict[str, Any] = {}
        for name, field in expected.items():
            if name not in raw and field.default is not dataclasses.MISSING:
                values[name] = field.default
                continue
            if name not in raw:
                if field.default is not dataclasses.MISSING:
                    values[name] = field.default
                    continue
                raise ConfigError(f"{source}: key {section}.{name} is missing")
            values[name] = _coerce(source, f"{section}.{name}", raw[name], field.type)
        sections[section] = cls(**values)
    profile = DeviceProfile(
        name=data["name"], description=str(data.get("description", "")), **sections
    )
    _check_ranges(profile, source)
    return profile


def _coerce(source: str, key: str, value: Any, type_name: Any) -> Any:
    type_name = type_name if isinstance(type_name, str) else type_name.__name__
    if type_name.startswith("tuple"):
        if not isinstance(value, list | tuple) or not value:
            raise ConfigError(f"{source}: {key} must be a list of numbers, got {value!r}")
        return tuple(_coerce(source, key, v, "float") for v in value)
    if type_name == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {key} must be true or false, got {value!r}")
        return value
    if type_name == "str":
        if not isinstance(value, str):
            raise ConfigError(f"{source}: {key} must be a string, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{source}: {key} must be a number, got {value!r}")
    if type_name == "int":
        if int(value) != value:
            raise ConfigError(f"{source}: {key} must be an integer, got {value!r}")
        return int(value)
    return float(value)


def _check_ranges(p: DeviceProfile, source: str) -> None:
    def need(ok: bool, key: str, allowed: str, value: Any) -> None:
        if not ok:
            raise ConfigError(f"{source}: {key} = {value!r} is out of range; allowed {allowed}")

    g, r, s, d, rd, lim = p.geometry, p.resistance, p.switching, p.defects, p.read, p.limits
    need(g.cell in ("1T1R", "passive"), "geometry.cell", "'1T1R' or 'passive'", g.cell)
    for key in ("n_arrays", "rows", "cols"):
        need(1 <= getattr(g, key) <= 4096, f"geometry.{key}", "1..4096", getattr(g, key))
    need(r.r_p_median > 0, "resistance.r_p_median", "> 0", r.r_p_median)
    need(r.r_ap_median > r.r_p_median, "resistance.r_ap_median", "> r_p_median", r.r_ap_median)
    for key in ("r_p_sigma", "r_ap_sigma"):
        need(0 <= getattr(r, key) < 1, f"resistance.{key}", "0 <= sigma < 1", getattr(r, key))
    need(
        -1 <= r.rp_rap_correlation <= 1,
        "resistance.rp_rap_correlation",
        "-1..1",
        r.rp_rap_correlation,
    )
    for key in ("vc_to_p", "vc_to_ap", "delta", "tau0", "breakdown_voltage", "breakdown_floor"):
        need(getattr(s, key) > 0, f"switching.{key}", "> 0", getattr(s, key))
    need(0 <= s.vc_sigma < 0.5, "switching.vc_sigma", "0..0.5", s.vc_sigma)
    need(0 <= s.delta_sigma < 0.5, "switching.delta_sigma", "0..0.5", s.delta_sigma)
    need(0 <= s.breakdown_sigma < 0.5, "switching.breakdown_sigma", "0..0.5", s.breakdown_sigma)
    need(
        0 <= s.write_error_floor < 1,
        "switching.write_error_floor",
        "0 <= p < 1",
        s.write_error_floor,
    )
    for key in ("short_rate", "open_rate", "stuck_p_rate", "stuck_ap_rate"):
        need(0 <= getattr(d, key) < 0.5, f"defects.{key}", "0 <= rate < 0.5", getattr(d, key))
    need(d.die_spread >= 0, "defects.die_spread", ">= 0", d.die_spread)
    need(d.line_open_rate >= 0, "defects.line_open_rate", ">= 0", d.line_open_rate)
    need(d.line_short_rate >= 0, "defects.line_short_rate", ">= 0", d.line_short_rate)
    need(d.short_g_median > 0, "defects.short_g_median", "> 0", d.short_g_median)
    need(d.open_g >= 0, "defects.open_g", ">= 0", d.open_g)
    need(
        rd.noise_rel >= 0 and rd.noise_abs >= 0,
        "read.noise_rel/noise_abs",
        ">= 0",
        (rd.noise_rel, rd.noise_abs),
    )
    need(
        rd.adc_bits == 0 or 4 <= rd.adc_bits <= 24, "read.adc_bits", "0 (off) or 4..24", rd.adc_bits
    )
    need(rd.adc_full_scale > 0, "read.adc_full_scale", "> 0", rd.adc_full_scale)
    need(rd.line_resistance >= 0, "read.line_resistance", ">= 0", rd.line_resistance)
    need(rd.read_width >= 0, "read.read_width", ">= 0 (0 = no read disturb)", rd.read_width)
    need(lim.max_read_voltage > 0, "limits.max_read_voltage", "> 0", lim.max_read_voltage)
    need(
        0 < lim.min_pulse_amplitude <= lim.max_pulse_amplitude,
        "limits.min_pulse_amplitude",
        "0 < min <= max_pulse_amplitude",
        lim.min_pulse_amplitude,
    )
    need(
        lim.max_pulse_amplitude < s.breakdown_floor,
        "limits.max_pulse_amplitude",
        f"< switching.breakdown_floor ({s.breakdown_floor} V)",
        lim.max_pulse_amplitude,
    )
    need(
        lim.max_read_voltage < s.breakdown_floor,
        "limits.max_read_voltage",
        f"< switching.breakdown_floor ({s.breakdown_floor} V)",
        lim.max_read_voltage,
    )
    need(
        0 < lim.min_pulse_width <= lim.max_pulse_width,
        "limits.min_pulse_width",
        "0 < min <= max_pulse_width",
        lim.min_pulse_width,
    )
    if p.bias is not None:
        b = p.bias
        need(
            g.cell == "1T1R", "[bias]", "only for 1T1R cells (passive arrays: not modelled)", g.cell
        )
        need(b.v_half > 0, "bias.v_half", "> 0", b.v_half)
        need(0 <= b.v_half_sigma < 0.5, "bias.v_half_sigma", "0..0.5", b.v_half_sigma)
        tmr = r.r_ap_median / r.r_p_median - 1.0
        need(
            0 <= b.p_curvature < (1.0 + 0.5 * tmr) / (1.0 + tmr),
            "bias.p_curvature",
            f"0 <= p < (1 + TMR/2) / (1 + TMR) = {(1.0 + 0.5 * tmr) / (1.0 + tmr):.3g}",
            b.p_curvature,
        )
    for name in OPTIONAL_FLAWS:
        section = getattr(p, name)
        if section is not None:
            _check_section(name, section, need)
    for name in ("drift", "telegraph"):
        if getattr(p, name) is not None:
            need(
                g.cell == "1T1R",
                f"[{name}]",
                "only for 1T1R cells (passive arrays: the nodal solve is cached per state)",
                g.cell,
            )
    pulse = p.nominal_pulse
    need(
        lim.min_pulse_amplitude <= pulse.amplitude <= lim.max_pulse_amplitude,
        "nominal_pulse.amplitude",
        "within the limits",
        pulse.amplitude,
    )
    need(
        lim.min_pulse_width <= pulse.width <= lim.max_pulse_width,
        "nominal_pulse.width",
        "within the limits",
        pulse.width,
    )


def _check_section(name: str, section: Any, need: Any) -> None:
    """Range checks of one optional flaw section from its ``RANGES`` table."""
    for key, (low, high, allowed) in type(section).RANGES.items():
        value = getattr(section, key)
        if isinstance(low, str):
            need(value in (low, high), f"{name}.{key}", allowed, value)
            continue
        for v in value if isinstance(value, tuple) else (value,):
            need(low <= v <= high, f"{name}.{key}", allowed, value)
    for ok, key, allowed, value in cross_checks(name, section):
        need(ok, f"{name}.{key}", allowed, value)
