"""The station file's schema: every section and key, its type, range, default and meaning.

Declared once: :mod:`mtj_hil.station.files` validates station files with it, ``mtj-hil
station check`` lists the effective settings from it, and ``docs/file-formats.md`` is
written from it. Defaults come from the dataclasses of :mod:`mtj_hil.station.config`.
Relations between keys (a limit below the die's breakdown, an SMU's compliance within the
envelope, arrays on the die) are checked in :mod:`mtj_hil.station.files`.
"""

from __future__ import annotations

import re
from typing import Any

from mtj_hil.instruments.controller import ADC_RANGES
from mtj_hil.schema import Field, FileSchema, Section, with_defaults
from mtj_hil.schema.ranges import MAX_SEED
from mtj_hil.sim.lab.board import FIRMWARES
from mtj_hil.sim.lab.smu.dialects import START_STATES
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
_VISA_ALLOWED = (
    "a VISA resource string, e.g. TCPIP::host::port::SOCKET, TCPIP::host::INSTR, "
    f"GPIB0::24::INSTR, USB0::...::INSTR, ASRL/dev/ttyUSB0::INSTR, or {VIRTUAL!r}"
)
_SERIAL_ALLOWED = (
    "a serial port or pyserial URL: /dev/tty..., COMn, socket://host:port, "
    f"rfc2217://host:port, loop://, or {VIRTUAL!r}"
)
_LIBRARY_ALLOWED = (
    "'@py' (pyvisa-py), '@ivi' (NI-VISA / Keysight VISA) or the path of a VISA library"
)


def _not_blank(value: str) -> str | None:
    """A name or folder that is not empty or blank (one such would silently mean the
    default: the file's name, the station's own folder)."""
    return None if value.strip() else "must not be empty or blank"


def _visa_resource(value: str) -> str | None:
    if value == VIRTUAL or _VISA.match(value):
        return None
    return f"= {value!r} is not a VISA resource string; allowed: {_VISA_ALLOWED}"


def _serial_url(value: str) -> str | None:
    if value == VIRTUAL or _SERIAL.match(value):
        return None
    return f"= {value!r} is not a serial port or pyserial URL; allowed: {_SERIAL_ALLOWED}"


def _visa_library(value: str) -> str | None:
    if value in VISA_LIBRARIES or (
        not value.startswith("@") and re.search(r"[/\\]|\.(so|dll|dylib)", value)
    ):
        return None
    return f"= {value!r} is not allowed; allowed: {_LIBRARY_ALLOWED}"


def _channel(value: Any) -> str | None:
    if isinstance(value, str) and value or (isinstance(value, int) and not isinstance(value, bool)):
        return None
    return f"= {value!r} is not a channel; allowed: a channel name or number (a, b, 1, 2)"


STATION = Section(
    "station",
    "The bench: its name, mains frequency, read path and VISA library.",
    (
        Field("name", "str", "Name of the station (calibration records are filed under it); "
              "absent: the file's name.", default=None, check=_not_blank,
              allowed="a name that is not blank"),
        Field("line_frequency", "float", "Mains frequency; NPLC integration times follow it.",
              default=50.0, unit="Hz", choices=(50.0, 60.0)),
        Field("read_path", "str", "adc: on-chip converters, all lines at once; smu: the sense "
              "SMU, one line at a time.", default="adc", choices=READ_PATHS),
        Field("visa_library", "str", "VISA back end of the SMUs.", default="@py",
              check=_visa_library, allowed=_LIBRARY_ALLOWED),
        Field("calibration_validity_days", "float", "How long a calibration record stays "
              "valid (at most 100 years).", default=1.0, unit="d", lo=0, lo_open=True,
              hi=36525.0),
    ),
)  # fmt: skip

DIE = Section(
    "die",
    "The die type mounted on the bench.",
    (
        Field("profile", "str", "Die profile: a shipped name or a .toml file (relative: to "
              "the station file's folder)."),
        Field("p_polarity", "str", "Pulse polarity that writes the P (low-resistance) state.",
              default="POS", choices=("POS", "NEG")),
    ),
)  # fmt: skip

MAX_TIMEOUT = 3600.0
"""Longest bus timeout a station may give (s): no single command waits an hour (sweeps get
their own, computed from their points and integration time)."""
MAX_BAUDRATE = 12_000_000
"""Serial baud rate: the fastest USB-serial bridges (12 Mbaud)."""
MAX_SMU_LATENCY = 10.0
"""s: a modelled SMU bus transaction longer than this models no instrument."""
MAX_PACE = 100.0
"""Wall seconds per modelled lab second: slower than this no run would finish to watch."""

CONTROLLER = Section(
    "controller",
    "The chip-controller board on a serial port.",
    with_defaults(
        ControllerConfig,
        (
            Field("url", "str", "Serial device or pyserial URL of the board.",
                  check=_serial_url, allowed=_SERIAL_ALLOWED),
            Field("baudrate", "int", "Serial baud rate.", lo=1, hi=MAX_BAUDRATE),
            Field("timeout", "float", "Reply timeout for commands of unknown duration.",
                  unit="s", lo=0, hi=MAX_TIMEOUT, lo_open=True),
            Field("retries", "int", "Retries of a transaction that got no reply.", lo=0, hi=100),
            Field("exclusive", "bool", "Lock the port so no second program can open it."),
            Field("write_timeout", "float", "How long a write may block before it fails.",
                  unit="s", lo=0, hi=MAX_TIMEOUT, lo_open=True),
            Field("rtscts", "bool", "Hardware (RTS/CTS) flow control."),
            Field("xonxoff", "bool", "Software (XON/XOFF) flow control."),
            Field("dtr", "bool", "DTR level after opening (absent: as the driver opens it)."),
            Field("rts", "bool", "RTS level after opening (absent: as the driver opens it)."),
        ),
    ),
)  # fmt: skip

SMU = Section(
    "smu.<name>",
    "One source-measure unit per table, named freely (e.g. [smu.sense]).",
    with_defaults(
        SmuConfig,
        (
            Field("driver", "str", "Instrument driver (model family).", choices=SMU_DRIVERS),
            Field("resource", "str", "VISA resource string of the instrument.",
                  check=_visa_resource, allowed=_VISA_ALLOWED),
            Field("role", "str", "sense: holds an output line at 0 V and measures its current; "
                  "drive: drives the input lines.", choices=SMU_ROLES),
            Field("channel", "any", "Channel of a multi-channel SMU (a / b on a 26xx, 1 / 2 on "
                  "a B2902); absent: the first.", check=_channel,
                  allowed="a channel name or number"),
            Field("nplc", "float", "Integration time in power-line cycles.", lo=0, hi=100,
                  lo_open=True),
            Field("compliance", "float", "Current compliance; at most "
                  "safety.compliance_current.", unit="A", lo=0, hi=3, lo_open=True),
            Field("timeout", "float", "Timeout of one bus transaction.", unit="s", lo=0,
                  hi=MAX_TIMEOUT, lo_open=True),
            Field("current_range", "float", 'Fixed current-measurement range, or "auto".',
                  unit="A", lo=0, hi=3, lo_open=True, also=("auto",)),
        ),
        skip=("name",),
    ),
    required=False,
    named=True,
)  # fmt: skip

_SAFETY_DOCS = {
    "max_read_voltage": ("Largest voltage on any input line during a read.", "V"),
    "min_pulse_amplitude": ("Smallest write pulse amplitude.", "V"),
    "max_pulse_amplitude": ("Largest write pulse amplitude (below the die's breakdown).", "V"),
    "min_pulse_width": ("Shortest write pulse.", "s"),
    "max_pulse_width": ("Longest write pulse.", "s"),
    "compliance_current": ("The most current any SMU may be allowed to source.", "A"),
    "max_ramp_rate": ("Fastest DC source change.", "V/s"),
}
MIN_RAMP_RATE = 0.01
"""Slowest ``safety.max_ramp_rate`` (V/s): a shutdown ramps the outputs down at it and holds
stop signals meanwhile, so it must end in minutes (1.35 V, a die's breakdown, in 135 s)."""
SAFETY = Section(
    "safety",
    "The safety envelope: every key required; checked against the die's breakdown.",
    tuple(
        Field(
            key,
            "float",
            _SAFETY_DOCS[key][0],
            unit=_SAFETY_DOCS[key][1],
            lo=MIN_RAMP_RATE if key == "max_ramp_rate" else 0,
            lo_open=key != "max_ramp_rate",
        )
        for key in SAFETY_KEYS
    ),
)

VIRTUAL_LAB = Section(
    "virtual_lab",
    "The simulated die the in-process virtual lab serves (needed when an address is "
    f"{VIRTUAL!r}).",
    with_defaults(
        VirtualLabConfig,
        (
            Field("lot_seed", "int", "Seed of the simulated lot.", lo=0, hi=MAX_SEED),
            Field("die", "int", "Index of the die in the lot.", lo=0, hi=MAX_SEED),
            Field("smu_latency", "float", "Modelled time per SMU bus transaction.", unit="s",
                  lo=0, hi=MAX_SMU_LATENCY),
            Field("smu_start", "str", "State the virtual SMU is found in.",
                  choices=tuple(START_STATES)),
            Field("pace", "float", "Wall seconds waited per modelled lab second (0: as fast "
                  "as the computer goes; 1: real time, to watch a run).", lo=0, hi=MAX_PACE),
            Field("board_firmware", "str", "Firmware the virtual controller board runs (an "
                  "older one rehearses a station whose board has not been updated).",
                  choices=FIRMWARES),
        ),
    ),
    required=False,
)  # fmt: skip

CALIBRATION = Section(
    "calibration",
    "Where this station's calibration records live and how to calibrate.",
    (
        Field("dir", "str", "Folder of the calibration records (relative: to the station "
              "file's folder).", default="calibrations", check=_not_blank,
              allowed="a folder that is not blank"),
        Field("references", "table", "The board's reference resistors, one "
              "[calibration.references.<name>] entry each.", default={}),
    )
    + with_defaults(
        CalibrationSettings,
        (
            Field("array", "int", "Array whose cells carry the converter-calibration "
                  "currents (on the die).", lo=0),
            Field("rows", "int list", "Input lines driven one at a time for the converter "
                  "calibration (on the die).", lo=0, nonempty=True, distinct=True),
            Field("voltages", "float list", "Read voltages of the converter calibration, at "
                  "most safety.max_read_voltage and the die profile's "
                  "limits.max_read_voltage.", unit="V", lo=0, lo_open=True,
                  nonempty=True, distinct=True),
            Field("full_scale", "float", "Converter range calibrated.", unit="A",
                  choices=tuple(float(r) for r in ADC_RANGES)),
            Field("threshold_arrays", "int list", "Arrays measured for the defect thresholds "
                  "([] = none).", lo=0, distinct=True),
        ),
        skip=("directory", "references"),
    ),
    required=False,
)  # fmt: skip

REFERENCE = Section(
    "calibration.references.<name>",
    "One on-board reference resistor (ROUTE REF <index>), e.g. r1k = {index = 0, ohms = "
    "1000.0, tolerance = 1e-3}.",
    (
        Field("index", "int", "Its reference index on the board.", lo=0),
        Field("ohms", "float", "Listed value.", unit="ohm", lo=0, lo_open=True),
        Field("tolerance", "float", "Relative tolerance of the listed value.", lo=0, hi=0.1,
              lo_open=True, hi_open=True),
    ),
    required=False,
    named=True,
)  # fmt: skip

STATION_FILE = FileSchema(
    "station file",
    "Which instruments a bench has, how to reach them, and its safety envelope "
    "(stations/*.toml). Everything is checked before any instrument is opened.",
    (STATION, DIE, CONTROLLER, SMU, SAFETY, VIRTUAL_LAB, CALIBRATION, REFERENCE),
)
