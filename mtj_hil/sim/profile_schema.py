"""The die profile file's schema: every section and key, its type, unit, range and meaning.

Declared once: :func:`mtj_hil.sim.profile.profile_from_dict` validates with it and
``docs/file-formats.md`` is written from it; defaults come from the profile dataclasses.
Relations between keys (R_AP above R_P, limits below the breakdown floor, the nominal pulse
within the limits) are checked in :mod:`mtj_hil.sim.profile`.
"""

from __future__ import annotations

import dataclasses
import re

from mtj_hil.protocols.chip import BENCH_RESOLUTION, Limits, Pulse
from mtj_hil.schema import Field, FileSchema, Section, with_defaults
from mtj_hil.sim.fit_record import FIT, FIT_RUNS
from mtj_hil.sim.profile_sections import OPTIONAL_FLAWS
from mtj_hil.sim.profile_types import (
    BiasDependence,
    Defects,
    Geometry,
    ReadModel,
    Resistance,
    Switching,
)


def _f(name: str, doc: str, unit: str = "", **kw: object) -> Field:
    return Field(name, "float", doc, unit=unit, **kw)  # type: ignore[arg-type]


def _rate(name: str, doc: str) -> Field:
    return _f(name, doc, lo=0, hi=0.5, hi_open=True)


def _sigma(name: str, doc: str, hi: float = 1.0) -> Field:
    return _f(name, doc, lo=0, hi=hi, hi_open=True)


CEILINGS = {"ohm": 1e12, "V": 100.0, "s": 1.0, "S": 1.0, "A": 1.0}
"""Largest value (by unit) a die parameter may take: far beyond any MTJ or converter, well
inside what the model computes without overflow (a hand-edited 1e308 loaded and then
overflowed in the physics)."""


MIN_V_HALF = 0.1
"""Smallest ``bias.v_half`` (V): half-TMR biases reported run from ~0.2 V (early AlOx
barriers) to ~1 V (0.4-0.6 V typical of CoFeB/MgO); 0.1 V is half the lowest. Below it the
parabolic law makes the AP state outconduct the P state within ordinary read voltages
(0.1-0.3 V), and a v_half near zero overflowed the curvature (divide-by-zero warnings, then
a misleading exit 5)."""


MAX_LINE_RESISTANCE = 1e3
"""Largest ``read.line_resistance`` (ohm per cell segment): a segment of a metal line is
~1-10 ohm in copper lines at 50-100 nm pitch, ~100 ohm in the thinnest; 1 kohm is a hundred
times a typical one and a quarter of a junction. Above it (up to the ohm ceiling, 1e12) the
IR drop swallowed the devices and characterize ended in exit 5 ("currents lost in the read
path's noise") instead of refusing the profile."""


def _positive(name: str, doc: str, unit: str, hi: float | None = None) -> Field:
    return _f(name, doc, unit, lo=0, lo_open=True, hi=CEILINGS[unit] if hi is None else hi)


def _nonnegative(name: str, doc: str, unit: str = "", hi: float | None = None) -> Field:
    return _f(name, doc, unit, lo=0, hi=CEILINGS[unit] if hi is None else hi)


def _name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a profile (None: it can): it is the NAME of die ids
    ``sim:NAME:lot0:die3``, which are colon-separated."""
    if not name.strip():
        return f"must be a non-empty name (it names the dies, sim:NAME:lot0:die3), got {name!r}"
    if ":" in name:
        return (
            f"must not contain ':' (die ids sim:NAME:lot0:die3 are colon-separated), got {name!r}"
        )
    return None


TOP = Section(
    "",
    "Top-level keys.",
    (
        Field("name", "str", "Name of the profile (recorded in die ids, e.g. sim:NAME:lot0:die3).",
              check=_name_problem),
        Field("description", "str", "One line for people.", default=""),
    ),
)  # fmt: skip

GEOMETRY = Section(
    "geometry",
    "The die's layout.",
    with_defaults(
        Geometry,
        (
            Field("n_arrays", "int", "Crossbar arrays on the die.", lo=1, hi=4096),
            Field("rows", "int", "Input lines per array.", lo=1, hi=4096),
            Field("cols", "int", "Output lines per array.", lo=1, hi=4096),
            Field("cell", "str", "Cell type.", choices=("1T1R", "passive")),
        ),
    ),
)

RESISTANCE = Section(
    "resistance",
    "Device resistances (lognormal per state).",
    with_defaults(
        Resistance,
        (
            _positive("r_p_median", "Median parallel-state resistance.", "ohm"),
            _sigma("r_p_sigma", "Lognormal sigma of R_P."),
            _positive("r_ap_median", "Median antiparallel-state resistance (> r_p_median).",
                      "ohm"),
            _sigma("r_ap_sigma", "Lognormal sigma of R_AP."),
            _f("rp_rap_correlation", "Correlation of ln R_P and ln R_AP of one device.",
               lo=-1, hi=1),
        ),
    ),
)  # fmt: skip

SWITCHING = Section(
    "switching",
    "Thermally activated switching: tau = tau0 exp(delta (1 - V / Vc)).",
    with_defaults(
        Switching,
        (
            _positive("vc_to_p", "Median critical voltage AP -> P.", "V"),
            _positive("vc_to_ap", "Median critical voltage P -> AP.", "V"),
            _sigma("vc_sigma", "Relative device-to-device spread of the critical voltage.", 0.5),
            _positive("delta", "Thermal stability factor of the median device.", "", hi=500.0),
            _positive("tau0", "Attempt time.", "s"),
            _sigma("write_error_floor", "Probability that a pulse fails whatever its amplitude."),
            Field("half_select", "bool", "Passive arrays: V/2 disturb of half-selected cells."),
            _positive("breakdown_voltage", "Median barrier breakdown voltage.", "V"),
            _sigma("breakdown_sigma", "Relative spread of the breakdown voltage.", 0.5),
            _positive("breakdown_floor", "No device breaks down below this voltage.", "V"),
            _sigma("delta_sigma", "Relative device-to-device spread of delta (0: all alike).",
                   0.5),
        ),
    ),
)  # fmt: skip

DEFECTS = Section(
    "defects",
    "Defect rates (expected fraction of devices per class) and the defects' conductances.",
    with_defaults(
        Defects,
        (
            _rate("short_rate", "Fraction of shorted devices."),
            _rate("open_rate", "Fraction of open devices."),
            _rate("stuck_p_rate", "Fraction of devices stuck in P."),
            _rate("stuck_ap_rate", "Fraction of devices stuck in AP."),
            _f("die_spread", "Coefficient of variation of the per-die rate factor.", lo=0,
               hi=100.0),
            _f("line_open_rate", "Expected whole-open output lines per array.", lo=0,
               hi=1e4),
            _positive("short_g_median", "Median conductance of a short.", "S"),
            _nonnegative("short_g_sigma", "Lognormal sigma of the short conductance.", hi=10.0),
            _nonnegative("open_g", "Conductance of an open device.", "S"),
            _f("line_short_rate", "Expected input lines per array whose every cell is shorted.",
               lo=0, hi=1e4),
        ),
    ),
)  # fmt: skip

READ = Section(
    "read",
    "The read path: noise, converters, line resistance.",
    with_defaults(
        ReadModel,
        (
            _nonnegative("noise_rel", "Relative read noise per output line per read (1 sigma).", hi=10.0),
            _nonnegative("noise_abs", "Additive read noise per output line per read (1 sigma).",
                         "A"),
            _nonnegative("offset_sigma", "Spread of a fixed sense offset per output line.", "A"),
            Field("adc_bits", "int", "Converter resolution (0 = no quantisation).", lo=0, hi=24,
                  check=lambda v: None if v == 0 or v >= 4 else "must be 0 (off) or 4..24"),
            _positive("adc_full_scale", "Full scale of the output-line converter.", "A"),
            _nonnegative("line_resistance", "Resistance per cell segment (nodal solve when > 0).",
                         "ohm", hi=MAX_LINE_RESISTANCE),
            _nonnegative("read_width", "Duration of a read voltage per read vector (read "
                         "disturb; 0 = none).", "s"),
        ),
    ),
)  # fmt: skip

LIMITS = Section(
    "limits",
    "What the die accepts without harm (below switching.breakdown_floor).",
    with_defaults(
        Limits,
        (
            _positive("max_read_voltage", "Largest voltage on an input line during a read.", "V"),
            _positive("min_pulse_amplitude", "Smallest write pulse amplitude.", "V"),
            _positive("max_pulse_amplitude", "Largest write pulse amplitude.", "V"),
            _positive("min_pulse_width", "Shortest write pulse.", "s"),
            _positive("max_pulse_width", "Longest write pulse.", "s"),
        ),
        skip=BENCH_RESOLUTION,  # the bench's, not the die's
    ),
)  # fmt: skip

NOMINAL_PULSE = Section(
    "nominal_pulse",
    "The write pulse used by default (within the limits).",
    with_defaults(
        Pulse,
        (
            _positive("amplitude", "Pulse amplitude (magnitude).", "V"),
            _positive("width", "Pulse width.", "s"),
        ),
    ),
)

BIAS = Section(
    "bias",
    "Optional: bias-dependent conductance G(V) = G0 (1 + k V^2) (1T1R only; absent: ohmic).",
    with_defaults(
        BiasDependence,
        (
            _f("v_half", "Bias at which the median device's TMR falls to half.", "V",
               lo=MIN_V_HALF, hi=CEILINGS["V"]),
            _sigma("v_half_sigma", "Relative device-to-device spread of v_half.", 0.5),
            _f("p_curvature", "Curvature of the P state as a fraction of the AP state's.",
               lo=0, hi=1, hi_open=True),
        ),
    ),
    required=False,
)  # fmt: skip


def _attribute_docs(cls: type) -> dict[str, str]:
    """``key -> sentence`` from the ``Attributes:`` block of ``cls``'s docstring."""
    docs: dict[str, str] = {}
    text = (cls.__doc__ or "").split("Attributes:", 1)
    if len(text) < 2:
        return docs
    names: list[str] = []
    for line in text[1].splitlines():
        head = re.match(r"^\s{8}([a-z_][a-z_0-9, ]*): (.*)$", line)
        if head:
            names = [n.strip() for n in head.group(1).split(",")]
            for n in names:
                docs[n] = head.group(2).strip()
        elif line.strip() and names:
            for n in names:
                docs[n] += " " + line.strip()
    return docs


def _flaw_section(name: str, cls: type) -> Section:
    """The schema of an optional flaw section from its dataclass: types from the field
    declarations, bounds from its ``RANGES`` table, meanings from its docstring."""
    docs = _attribute_docs(cls)
    out = []
    for f in dataclasses.fields(cls):
        low, high, allowed = cls.RANGES.get(f.name, (None, None, ""))  # type: ignore[attr-defined]
        typ = f.type if isinstance(f.type, str) else f.type.__name__
        kind = "float list" if typ.startswith("tuple") else typ
        doc = docs.get(f.name, f.name.replace("_", " ") + ".")
        if isinstance(low, str):
            out.append(Field(f.name, kind, doc, choices=(low, high)))
            continue
        lo = None if low is None or low == float("-inf") else float(low)
        hi = None if high is None or high == float("inf") else float(high)
        out.append(
            Field(f.name, kind, doc, lo=lo, hi=hi, allowed=allowed, nonempty=kind.endswith("list"))
        )
    first = (cls.__doc__ or name).strip().splitlines()[0]
    return Section(name, f"Optional: {first}", with_defaults(cls, out), required=False)


FLAWS = tuple(_flaw_section(name, cls) for name, cls in OPTIONAL_FLAWS.items())
"""The optional flaw sections (issue 22), in :data:`OPTIONAL_FLAWS` order."""

PROFILE_FILE = FileSchema(
    "die profile",
    "The statistics a simulated die is drawn from (mtj_hil/sim/profiles/*.toml, or your own "
    "file given as --profile FILE). Every value is SI.",
    (
        TOP,
        GEOMETRY,
        RESISTANCE,
        SWITCHING,
        DEFECTS,
        READ,
        LIMITS,
        NOMINAL_PULSE,
        BIAS,
        *FLAWS,
        FIT,
        FIT_RUNS,
    ),  # fmt: skip
)
