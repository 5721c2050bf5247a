"""Device profiles: the statistics a simulated die is drawn from, loaded from TOML.

A profile is data, not code: the shipped ones live in ``mtj_hil/sim/profiles/*.toml`` and a
user can point at their own file. Every value is SI (ohms, siemens, volts, seconds).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from mtj_hil.errors import ConfigError
from mtj_hil.protocols.chip import BENCH_RESOLUTION, Layout, Limits, Pulse
from mtj_hil.schema import closest, unknown_key_message
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
from mtj_hil.sim.profile_types import (
    BiasDependence,
    Defects,
    Geometry,
    ReadModel,
    Resistance,
    Switching,
)

PROFILE_DIR = Path(__file__).with_name("profiles")

MAX_TMR_RATIO = 11.0
"""Largest ``r_ap_median / r_p_median`` a profile may state (TMR 1000 %): generously above
the record room-temperature TMR ~600 % (CoFeB/MgO); beyond it the classifier's levels and
the bias law stop meaning anything."""

MAX_DEVICES = 2**24
"""Most devices (``n_arrays * rows * cols``) a die may hold: 16.8 million, some 800 times
the shipped 20,000-device die and far above any crossbar test die (1e3-1e6 devices). A die
is drawn whole in memory at ~100 bytes per device (~1.7 GB at the cap) and simulated on one
machine; the schema's 4096 per dimension would allow 6.9e10 devices (a MemoryError)."""

DEFECT_RATE_KEYS = ("short_rate", "open_rate", "stuck_p_rate", "stuck_ap_rate")
"""The per-device defect rates: fractions of one die's devices, summing to at most 1."""


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
            ConfigError: unknown section or key (closest match named), or a value out of range.
        """
        from mtj_hil.schema import check_unknown

        data = as_dict(self)
        for section, changes in sections.items():
            if section in _OPTIONAL_SECTIONS and changes is None:
                data.pop(section, None)  # drop the optional section
                continue
            if section in _OPTIONAL_SECTIONS and data.get(section) is None:
                data[section] = {}
            elif section not in data or not isinstance(data[section], dict):
                raise ConfigError(
                    unknown_key_message(
                        self.name,
                        "",
                        section,
                        "a die profile",
                        list(_SECTIONS) + list(_OPTIONAL_SECTIONS),
                    )
                )
            allowed = [f.name for f in fields({**_SECTIONS, **_OPTIONAL_SECTIONS}[section])]
            check_unknown(changes or {}, allowed, self.name, section, f"[{section}]")
            data[section] = {**data[section], **(changes or {})}
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
    for key in BENCH_RESOLUTION:  # (a bench's, never set by a profile)
        data["limits"].pop(key, None)
    for name in _OPTIONAL_SECTIONS:
        if data.get(name) is None:
            data.pop(name, None)
        else:
            data[name] = {k: list(v) if isinstance(v, tuple) else v for k, v in data[name].items()}
    return data


def available_profiles() -> list[str]:
    """Names of the profiles shipped with the package."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def is_shipped_profile(name: object) -> bool:
    """Whether ``name`` is a shipped profile's name (a ``str``: a ``Path`` is a file)."""
    return isinstance(name, str) and name in available_profiles()


def shipped_profile_path(name: str) -> Path:
    """The file of the shipped profile ``name``."""
    return PROFILE_DIR / f"{name}.toml"


def load_profile(name_or_path: str | Path) -> DeviceProfile:
    """Load a shipped profile by name (e.g. ``"1t1r-20k"``) or a TOML file by path.

    A shipped profile's name (a ``str``) means that profile whatever the working folder
    holds, as in a station file: a folder named after it (for its runs, say) used to break
    every command that loads it. A file of that very name is loaded only as a path
    (``./1t1r-20k``, or a ``Path``); given the bare name, it is named in a warning.

    Raises:
        ConfigError: unknown name, unreadable, binary or non-UTF-8 file, bad TOML, an
            unknown section or key (closest match named), missing or bad values.
    """
    from mtj_hil.schema import read_toml, refuse_other_kind

    if not str(name_or_path).strip():
        raise ConfigError(
            f"no profile given (an empty name); shipped profiles: {', '.join(available_profiles())}"
            " (or give a path to a .toml file)"
        )
    candidate = Path(name_or_path)
    if is_shipped_profile(name_or_path):
        path = shipped_profile_path(str(name_or_path))
        _warn_if_shadowed(str(name_or_path))
    elif candidate.suffix == ".toml" or _exists(candidate):
        path = candidate
    else:
        path = PROFILE_DIR / f"{name_or_path}.toml"
        if not _exists(path):
            near = closest(str(name_or_path), available_profiles())
            hint = f"; closest match: {near}" if near else ""
            raise ConfigError(
                f"unknown profile {str(name_or_path)!r}{hint}; shipped profiles: "
                f"{', '.join(available_profiles())} (or give a path to a .toml file)"
            )
    _, data = read_toml(path, "profile file")
    refuse_other_kind(data, path, "die profile")
    return profile_from_dict(data, source=str(path))


def _warn_if_shadowed(name: str) -> None:
    """Warn that the file ``name`` in the working folder is not the shipped profile
    ``name`` that is loaded (a folder of that name is no profile: nothing is said)."""
    if Path(name).is_file():
        warnings.warn(
            f"profile {name!r} is the shipped profile; the file {name} in the working folder "
            f"is not read (give ./{name} to load that file)",
            UserWarning,
            stacklevel=3,
        )


def _exists(path: Path) -> bool:
    """``path.exists()``, False where the name cannot be a file (e.g. longer than the file
    system allows)."""
    try:
        return path.exists()
    except OSError:
        return False


def profile_from_dict(data: dict[str, Any], source: str = "<dict>") -> DeviceProfile:
    """Build and validate a profile from nested dicts (the TOML layout), by its schema
    (:data:`mtj_hil.sim.profile_schema.PROFILE_FILE`) and the relations between keys.

    Raises:
        ConfigError: naming ``source``, the key and what is allowed.
    """
    from mtj_hil.schema import check_section, check_top
    from mtj_hil.sim.fit_record import check_fit
    from mtj_hil.sim.profile_schema import PROFILE_FILE
    from mtj_hil.sim.profile_tables import check_placement

    own = [PROFILE_FILE.section(name) for name in {**_SECTIONS, **_OPTIONAL_SECTIONS}]
    check_placement(data, PROFILE_FILE, own, source)
    check_top(data, PROFILE_FILE, source)
    top_keys = PROFILE_FILE.section("").keys
    top = check_section(
        {k: v for k, v in data.items() if k in top_keys}, PROFILE_FILE.section(""), source
    )
    sections: dict[str, Any] = {}
    for section, cls in {**_SECTIONS, **_OPTIONAL_SECTIONS}.items():
        schema = PROFILE_FILE.section(section)
        raw = data.get(section)
        if raw is None:
            if not schema.required:
                continue
            raise ConfigError(f"{source}: section [{section}] is missing")
        values = check_section(raw, schema, source)
        sections[section] = cls(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        )
    check_fit(data.get("fit"), source, own)
    profile = DeviceProfile(name=top["name"], description=top["description"], **sections)
    _check_ranges(profile, source)
    return profile


def _check_ranges(p: DeviceProfile, source: str) -> None:
    """What relates keys to each other (single-key types and ranges are the schema's)."""

    def need(ok: bool, key: str, allowed: str, value: Any) -> None:
        if not ok:
            shown = list(value) if isinstance(value, tuple) else value  # as the TOML wrote it
            raise ConfigError(f"{source}: {key} = {shown!r} is out of range; allowed {allowed}")

    g, r, s, lim = p.geometry, p.resistance, p.switching, p.limits
    need(r.r_ap_median > r.r_p_median, "resistance.r_ap_median", "> r_p_median", r.r_ap_median)
    _check_physics(p, need)
    need(
        lim.min_pulse_amplitude <= lim.max_pulse_amplitude,
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
        lim.min_pulse_width <= lim.max_pulse_width,
        "limits.min_pulse_width",
        "0 < min <= max_pulse_width",
        lim.min_pulse_width,
    )
    if p.bias is not None:
        b = p.bias
        need(
            g.cell == "1T1R", "[bias]", "only for 1T1R cells (passive arrays: not modelled)", g.cell
        )
        tmr = r.r_ap_median / r.r_p_median - 1.0
        need(
            0 <= b.p_curvature < (1.0 + 0.5 * tmr) / (1.0 + tmr),
            "bias.p_curvature",
            f"0 <= p < (1 + TMR/2) / (1 + TMR) = {(1.0 + 0.5 * tmr) / (1.0 + tmr):.3g}",
            b.p_curvature,
        )
        shortest = b.min_v_half(tmr, lim.max_read_voltage)
        need(
            b.v_half > shortest,
            "bias.v_half",
            f"> {shortest:.3g} V: below it the median device's TMR turns negative (AP "
            f"conducting more than P) under limits.max_read_voltage ({lim.max_read_voltage:g} V), "
            "where the parabolic bias law no longer describes a junction",
            b.v_half,
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
            if p.clock is not None:  # a clock that never advances froze them silently
                need(
                    p.clock.read_vector_time > 0 or p.clock.pulse_time > 0,
                    "clock.read_vector_time",
                    f"> 0 (or clock.pulse_time > 0): [{name}] runs on the simulated clock, "
                    "and a clock both of whose steps are 0 never moves",
                    p.clock.read_vector_time,
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


def _check_physics(p: DeviceProfile, need: Callable[[bool, str, str, Any], None]) -> None:
    """What a real die cannot be: a die too big to hold, an absurd TMR, defect rates over 1,
    an open conducting like a device or a short less than one, a breakdown floor above the
    median, line-resistance or half-select keys on cells that have neither, resistive opens
    conducting more than a short."""
    g, r, s, d, rd = p.geometry, p.resistance, p.switching, p.defects, p.read
    n = g.n_arrays * g.rows * g.cols
    need(
        n <= MAX_DEVICES,
        "geometry.n_arrays * rows * cols",
        f"<= {MAX_DEVICES:,} devices (a die is held whole in memory)",
        n,
    )
    need(
        r.r_ap_median <= MAX_TMR_RATIO * r.r_p_median,
        "resistance.r_ap_median",
        f"<= {MAX_TMR_RATIO:g} x r_p_median = {MAX_TMR_RATIO * r.r_p_median:g} ohm (TMR at most "
        f"{(MAX_TMR_RATIO - 1) * 100:.0f} %; record room-temperature TMR ~600 % (CoFeB/MgO))",
        r.r_ap_median,
    )
    total = sum(getattr(d, key) for key in DEFECT_RATE_KEYS)
    need(
        total <= 1.0,
        "defects." + " + ".join(DEFECT_RATE_KEYS),
        "a sum <= 1 (each device has at most one defect class)",
        round(total, 12),
    )
    need(
        d.open_g < 1.0 / r.r_ap_median,
        "defects.open_g",
        f"< 1 / resistance.r_ap_median = {1.0 / r.r_ap_median:.4g} S (an open conducts less "
        "than the AP state)",
        d.open_g,
    )
    need(
        d.short_g_median > 1.0 / r.r_p_median,
        "defects.short_g_median",
        f"> 1 / resistance.r_p_median = {1.0 / r.r_p_median:.4g} S (a short conducts more "
        "than the P state)",
        d.short_g_median,
    )
    need(
        s.breakdown_floor <= s.breakdown_voltage,
        "switching.breakdown_floor",
        f"<= switching.breakdown_voltage ({s.breakdown_voltage} V, the median)",
        s.breakdown_floor,
    )
    need(
        g.cell == "passive" or rd.line_resistance == 0,
        "read.line_resistance",
        "0 for 1T1R cells (ideal access transistors: no nodal solve; passive arrays only)",
        rd.line_resistance,
    )
    need(
        g.cell == "passive" or not s.half_select,
        "switching.half_select",
        "false for 1T1R cells (the access transistor isolates unselected cells; passive "
        "arrays only)",
        s.half_select,
    )
    if p.resistive_opens is not None:
        need(
            p.resistive_opens.g_high <= d.short_g_median,
            "resistive_opens.g_high",
            f"<= defects.short_g_median = {d.short_g_median:.4g} S (an open conducts no more "
            "than a short: above it the opens are measured as shorts)",
            p.resistive_opens.g_high,
        )
    if p.spatial is not None:
        need(
            p.spatial.grid_cols <= g.n_arrays,
            "spatial.grid_cols",
            f"0..geometry.n_arrays = {g.n_arrays} (arrays per row of the die's array grid; "
            "0 = squarest grid)",
            p.spatial.grid_cols,
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
