"""Station files: which instruments a bench has, how to reach them, and its safety envelope.

A station file is TOML (see ``stations/*.toml``). :func:`load_station` validates all of it
and raises one :class:`~mtj_hil.errors.ConfigError` naming the file, the key and what is
allowed before any instrument is opened.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mtj_hil.calibration.records import ReferenceResistor
from mtj_hil.instruments.safety import SafetyEnvelope
from mtj_hil.sim.lab.board import FIRMWARE
from mtj_hil.sim.profile import DeviceProfile, as_dict

SMU_DRIVERS = ("keithley2400", "keithley2450", "keithley2600", "keysight_b2900")
SMU_ROLES = ("sense", "drive")
READ_PATHS = ("adc", "smu")
SAFETY_KEYS = (
    "max_read_voltage",
    "min_pulse_amplitude",
    "max_pulse_amplitude",
    "min_pulse_width",
    "max_pulse_width",
    "compliance_current",
    "max_ramp_rate",
)
VIRTUAL = "virtual"
"""Address meaning "served by the in-process virtual lab"."""

VISA_LIBRARIES = ("@py", "@ivi")
"""VISA back ends by name: pyvisa-py, or an installed IVI VISA (NI-VISA, Keysight VISA)."""


@dataclass(frozen=True)
class SmuConfig:
    """One source-measure unit: name, driver, VISA resource, channel, role, NPLC, compliance (A)."""

    name: str
    driver: str
    resource: str
    role: str = "sense"
    channel: str | None = None
    nplc: float = 1.0
    compliance: float = 1e-3
    timeout: float = 5.0
    current_range: float | None = None
    """Fixed current-measurement range (A); ``None`` = autorange (``current_range = "auto"``)."""


@dataclass(frozen=True)
class ControllerConfig:
    """The chip-controller board: pyserial URL or device, baud rate, timeout (s), retries,
    and the serial options of a real port (exclusive access, write timeout in s, RTS/CTS or
    XON/XOFF flow control, DTR and RTS line levels; ``None`` leaves a line as the driver
    opens it)."""

    url: str
    baudrate: int = 115200
    timeout: float = 0.5
    retries: int = 2
    exclusive: bool = True
    write_timeout: float = 1.0
    rtscts: bool = False
    xonxoff: bool = False
    dtr: bool | None = None
    rts: bool | None = None


@dataclass(frozen=True)
class VirtualLabConfig:
    """The die and timing the in-process virtual lab serves (see mtj_hil.sim.lab)."""

    lot_seed: int = 0
    die: int = 0
    smu_latency: float = 2e-3
    smu_start: str = "power-on"
    pace: float = 0.0
    board_firmware: str = FIRMWARE


@dataclass(frozen=True)
class CalibrationSettings:
    """The ``[calibration]`` section: where records live and how to calibrate.

    Attributes:
        directory: folder of this station's calibration records (a relative ``dir`` in the
            file is taken relative to the station file's folder).
        references: the board's reference resistors (listed value in ohm, tolerance).
        array: array whose cells carry the converter-calibration currents.
        rows: input lines driven one at a time for the converter calibration.
        voltages: read voltages (V) of the converter calibration.
        full_scale: converter range (A) calibrated.
        threshold_arrays: arrays measured to derive defect thresholds (empty: none).
    """

    directory: Path
    references: tuple[ReferenceResistor, ...] = ()
    array: int = 0
    rows: tuple[int, ...] = (0, 6, 12, 18, 24)
    voltages: tuple[float, ...] = (0.05, 0.15, 0.3)
    full_scale: float = 1e-4
    threshold_arrays: tuple[int, ...] = (0, 1)


@dataclass(frozen=True)
class Station:
    """A validated station file."""

    name: str
    path: Path | None
    line_frequency: float
    read_path: str
    profile: DeviceProfile
    p_polarity: str
    controller: ControllerConfig
    smus: tuple[SmuConfig, ...]
    envelope: SafetyEnvelope
    virtual_lab: VirtualLabConfig | None = None
    calibration_validity_days: float = 1.0
    calibration: CalibrationSettings | None = None
    visa_library: str = "@py"
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def picks_its_die(self) -> bool:
        """Whether this station's die is one this process simulates and so may choose (a
        ``[virtual_lab]`` section and the controller at ``"virtual"``). With real addresses
        the die is whichever the bench, or a lab served by ``mtj-hil lab serve``, holds."""
        return self.virtual_lab is not None and self.controller.url == "virtual"

    def smu(self, role: str) -> SmuConfig | None:
        """The SMU with ``role`` (``"sense"`` or ``"drive"``), if the station has one."""
        return next((s for s in self.smus if s.role == role), None)

    def snapshot(self) -> dict[str, Any]:
        """Plain-dict provenance record of the station (file contents and derived values).

        ``die_profile_values`` holds every value of the die profile (JSON data), so a resume
        can tell a profile edited since from the one a run began with: the station's name
        and the profile's name stay the same."""
        return {
            "name": self.name,
            "file": str(self.path) if self.path else None,
            "line_frequency": self.line_frequency,
            "visa_library": self.visa_library,
            "read_path": self.read_path,
            "die_profile": self.profile.name,
            "die_profile_values": json.loads(json.dumps(as_dict(self.profile), default=str)),
            "p_polarity": self.p_polarity,
            "controller": asdict(self.controller),
            "smus": [asdict(s) for s in self.smus],
            "safety_envelope": self.envelope.as_dict(),
            "virtual_lab": asdict(self.virtual_lab) if self.virtual_lab else None,
            "calibration_validity_days": self.calibration_validity_days,
            "calibration_dir": str(self.calibration.directory) if self.calibration else None,
        }
