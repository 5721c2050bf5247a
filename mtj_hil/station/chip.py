"""InstrumentChip: the Chip interface served by a real station (controller board + SMUs).

The same protocols that run on :class:`~mtj_hil.sim.SimulatedChip` run here unchanged. Every
request is validated and checked against the station's safety envelope as a whole before the
first byte goes out; on every exit the board is reset to its safe state (routes off) and
every SMU touched gets output-off, even when other commands fail.

Read paths:
- ``adc`` (fast): all output lines at once through the on-chip converters. A block of
  one-hot vectors at a common voltage (a conductance map) is one ``SCAN``; any other vector
  is ``VREAD`` + ``READ``. The converter range is chosen per request and stepped up when a
  line saturates.
- ``smu`` (precise): the sense SMU holds one output line at 0 V and measures its current,
  one line and one vector at a time; only the input lines a vector drives are enabled.

Calibration: :func:`open_station` applies the newest valid calibration record of the station
(``calibration`` package) to every read: the converters' per-line gain and offset on the
``adc`` path, the SMU's gain and offset and the connector's series resistance on the ``smu``
path. ``describe()`` names the record used, so run files carry it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import numpy as np

from mtj_hil.calibration.correction import ReadPathCorrection
from mtj_hil.calibration.records import controller_identity, smu_identity
from mtj_hil.errors import ConfigError, FallbackWarning, UnsafeShutdownWarning, tell_user
from mtj_hil.instruments.bus.signals import HeldInterrupt
from mtj_hil.instruments.controller import ADC_RANGES, ChipController
from mtj_hil.instruments.errors import (
    InstrumentError,
    InstrumentStateLost,
    SafetyViolation,
    UnsafeShutdown,
)
from mtj_hil.instruments.smu import SourceMeter
from mtj_hil.instruments.smu.base import scpi_number, sent_number
from mtj_hil.station.config import VIRTUAL, Station
from mtj_hil.station.envelope import die_envelope, envelope_limits
from mtj_hil.station.smu import (
    bind_to_envelope,
    smu_call,
    smu_settings,
    switch_on_at_zero,
    untrusted_reading,
)

__all__ = ["InstrumentChip", "rectangles"]
from mtj_hil.protocols.chip import (
    CellState,
    Layout,
    Pulse,
    cell_mask,
    cell_state,
    check_array,
    checked_pulse,
    read_voltages,
)
from mtj_hil.protocols.errors import InvalidRequest
from mtj_hil.protocols.sequence import run_on_host
from mtj_hil.station.chip_seq import run_on_board
from mtj_hil.station.chip_seq_util import check_envelope
from mtj_hil.station.rectangles import rectangles
from mtj_hil.station.shutdown import ShutdownReport, shut_down

log = logging.getLogger(__name__)

DIE_TYPES = {"CMOS1T1R": "1T1R", "PASSIVE1R": "passive"}


class InstrumentChip:
    """A die on a real (or virtual-lab) station behind the Chip interface.

    Args:
        controller: an opened controller-board driver (identified).
        station: the validated station description.
        smus: drivers by role (``"sense"``, ``"drive"``) as the station lists them.
        correction: read-path calibration applied to every read (``None``: raw reads).
            May be replaced later through the attribute of the same name.

    Raises:
        ConfigError: the board's die does not match the station's die profile.
    """

    def __init__(
        self,
        controller: ChipController,
        station: Station,
        smus: dict[str, SourceMeter] | None = None,
        correction: ReadPathCorrection | None = None,
    ) -> None:
        self.controller = controller
        self.correction = correction
        self.calibration: dict[str, Any] = {"applied": None}
        self.calibration_record: Any = None
        """The calibration record in use (``mtj_hil.calibration.records.CalibrationRecord``)."""
        """Provenance of the calibration in use (see :func:`open_station`)."""
        self.station = station
        self.smus = dict(smus or {})
        ident = controller.identity
        if ident is None:
            raise InstrumentError("the controller has not been identified")
        prof = station.profile
        geometry = (prof.geometry.n_arrays, prof.geometry.rows, prof.geometry.cols)
        if (ident.arrays, ident.rows, ident.cols) != geometry or DIE_TYPES.get(
            ident.die
        ) != prof.geometry.cell:
            raise ConfigError(
                f"{station.path}: the board reports a {ident.die} die with {ident.arrays} arrays "
                f"of {ident.rows} x {ident.cols}, but die.profile {prof.name!r} describes "
                f"{prof.geometry.cell} {geometry}"
            )
        self.envelope = die_envelope(station, ident.limits)
        controller.envelope = self.envelope
        """The driver checks the same envelope, so a request that bypasses this class (a
        script calling ``chip.controller`` directly) is refused at the driver too."""
        self._layout = Layout(
            n_arrays=ident.arrays,
            rows=ident.rows,
            cols=ident.cols,
            cell=DIE_TYPES[ident.die],  # type: ignore[arg-type]
            limits=envelope_limits(self.envelope),
            nominal_g_p=1.0 / prof.resistance.r_p_median,
            nominal_g_ap=1.0 / prof.resistance.r_ap_median,
            nominal_pulse=prof.nominal_pulse,
        )
        self._array: int | None = None
        self._route: tuple[Any, ...] | None = None
        self._enabled: tuple[bytes, bytes] | None = None
        self._range: float | None = None
        self._vread: np.ndarray | None = None
        self._typical_g = self._layout.nominal_g_p
        self._v11 = controller.has_v11_commands
        self.use_sequences = True
        """Run protocol sequences on the board when its firmware can (1.3); False forces
        one command at a time (for comparisons)."""
        self._said_no_sequences = False
        self._smu_unconfirmed = False
        """SMU readings taken since the board was last asked whether it reset itself."""
        self.closed = False
        self.shutdown: ShutdownReport | None = None
        """What :meth:`close` confirmed (``None`` while open): ``board_safe`` only when the
        board answered its reset, ``smu_off`` per SMU role."""
        self.identities = {"controller": f"{ident.model} sn {ident.serial} fw {ident.firmware}"}
        self.parts = {"controller": controller_identity(ident.model, ident.serial, ident.firmware)}
        """Model and serial number per part, as calibration records store them."""
        for role, smu in self.smus.items():
            self.identities[f"smu:{role}"] = smu.idn
            self.parts[f"smu:{role}"] = smu_identity(self.identities[f"smu:{role}"])
        # before any SMU output goes on: a board left routed and driven by a killed host
        controller.reset()
        for role, smu in self.smus.items():
            cfg = station.smu(role)
            assert cfg is not None
            self.envelope.check_compliance(cfg.compliance)
            if sent_number(cfg.compliance) != cfg.compliance:  # as the SMU will receive it
                try:
                    self.envelope.check_compliance(sent_number(cfg.compliance))
                except SafetyViolation as exc:
                    raise SafetyViolation(
                        f"{role} SMU: compliance {cfg.compliance!r} A goes to the instrument "
                        f"as {scpi_number(cfg.compliance)} A (6 significant digits): {exc}"
                    ) from None
            bind_to_envelope(smu, self.envelope)  # the die's envelope, tighter than the station's
            state = smu.configure(smu_settings(station, cfg, self.envelope))
            if not state.ok:
                log.error("%s SMU: known state not reached: %s", role, state.problems())
        sense = self.smus.get("sense")
        if sense is not None:
            switch_on_at_zero(sense, "sense")

    @property
    def layout(self) -> Layout:
        return self._layout

    # -- board state, with redundant commands skipped ----------------------------------------

    def verify_instruments(self) -> None:
        """Re-check the board (``STAT``: it did not reset itself, see
        ``ChipController.check_not_reset``) and every SMU mid-run (power-on bit, identity,
        output state, interlock and temperature status, every steady setting; see
        :mod:`mtj_hil.instruments.smu.health`). Runs at each array boundary and before a
        job records an array.

        Raises:
            InstrumentStateLost: the board reset itself, or an SMU left its known state
                (the message names the SMU role and what happened).
        """
        self._check_open()
        if self._smu_unconfirmed:  # SMU readings through a route only the board held
            with self._board_may_change():
                self.controller.check_not_reset()
            self._smu_unconfirmed = False
        for role, smu in self.smus.items():
            check = getattr(smu, "check_health", None)
            if check is None:
                continue
            try:
                check()
            except InstrumentStateLost as exc:
                text = str(exc)  # the drivers' own messages name the SMU by its role
                raise InstrumentStateLost(
                    text if f"SMU {role}" in text else f"{role} SMU: {text}"
                ) from exc

    def _select(self, array: int) -> None:
        if self._array != array:
            self.verify_instruments()  # an array boundary: nothing is trusted blindly
            # nor is the board's picture: one that reset itself (or whose host watchdog
            # fired) since the last array takes SEL, but holds 0 V read voltages
            self.forget_board_state()
            self.controller.select_array(array)
            self._array = array

    def _route_to(self, *route: Any) -> None:
        if self._route != route:
            mode, *rest = route
            if mode == "SMU":
                self.controller.route("SMU", smu_line=rest[0], input_source=rest[1])
            else:
                self.controller.route(mode)
            self._route = route

    def _enable(self, rows: np.ndarray, cols: np.ndarray) -> None:
        key = (rows.tobytes(), cols.tobytes())
        if self._enabled != key:
            self.controller.enable_lines(rows, cols)
            self._enabled = key

    def _set_vread(self, volts: np.ndarray) -> None:
        if self._vread is None or not np.array_equal(self._vread, volts):
            self.controller.set_read_voltages(volts)
            self._vread = volts.copy()

    def forget_board_state(self) -> None:
        """Forget the cached board state (selection, routing, masks, read voltages, range),
        e.g. after a calibration procedure drove the controller directly."""
        self._array, self._route, self._enabled = None, None, None
        self._range, self._vread = None, None

    def _check_open(self) -> None:
        if self.closed:
            raise InvalidRequest("this chip has been closed")

    @contextmanager
    def _board_may_change(self) -> Iterator[None]:
        """Around commands to the board: when one fails the host no longer knows what the
        board holds (a command whose reply was lost may have been executed; a board that
        reset itself holds nothing), so it forgets its picture and sends every command again
        instead of skipping one it believes redundant (e.g. an ``EN`` before a ``PULSE``)."""
        try:
            yield
        except BaseException:
            self.forget_board_state()
            raise

    # -- the Chip interface -------------------------------------------------------------------

    def program(self, array: int, cells: np.ndarray, state: CellState, pulse: Pulse) -> None:
        """One write pulse towards ``state`` on the selected cells (one rectangle per pulse).

        Raises:
            InvalidRequest: bad array, cells or state. SafetyViolation: pulse outside the
            envelope (nothing sent). InstrumentError: the board refused or stopped answering.
        """
        self._check_open()
        array = check_array(self._layout, array)
        mask = cell_mask(self._layout, cells)
        state = cell_state(state)
        pulse = checked_pulse(pulse)
        self.envelope.check_pulse(pulse.amplitude, pulse.width)
        if not mask.any():
            return
        plan = rectangles(mask)
        polarity = (
            self.station.p_polarity
            if state == CellState.P
            else ("NEG" if self.station.p_polarity == "POS" else "POS")
        )
        with self._board_may_change():
            self._select(array)
            self._route_to("WRITE")
            for rows, cols in plan:
                self._enable(rows, cols)
                self.controller.pulse(abs(pulse.amplitude), pulse.width, polarity)

    def read(self, array: int, voltages: np.ndarray) -> np.ndarray:
        """Output-line currents (A) for input-line voltages (V); see the module docstring.

        Raises:
            InvalidRequest: bad array or voltages. SafetyViolation: a voltage outside the
            envelope (checked for the whole batch before anything is sent). InstrumentError:
            a converter saturated on its largest range, or the instruments failed.
        """
        self._check_open()
        array = check_array(self._layout, array)
        v = read_voltages(self._layout, voltages)
        self.envelope.check_read_voltages(v)
        if np.any(v < 0):
            raise InvalidRequest("this station's DACs drive 0..+V only; got a negative voltage")
        with self._board_may_change():
            self._select(array)
            if self.station.read_path == "smu":
                return self._read_smu(v)
            currents = self._read_adc(v)
        if self.correction is not None:
            currents = self.correction.correct(array, currents)
        return currents

    def _read_adc(self, v: np.ndarray) -> np.ndarray:
        rows, cols = self._layout.rows, self._layout.cols
        out = np.empty((v.shape[0], cols))
        self._route_to("ADC")
        b = 0
        while b < v.shape[0]:
            block = v[b : b + rows]
            level = block.max() if block.size else 0.0
            if (
                self._v11
                and block.shape[0] == rows
                and level > 0
                and np.array_equal(block, level * np.eye(rows))
            ):
                self._enable(np.ones(rows, bool), np.ones(cols, bool))
                out[b : b + rows] = self._converted(partial(self.controller.scan, level), level)
                b += rows
            else:
                self._enable(np.ones(rows, bool), np.ones(cols, bool))
                self._set_vread(v[b])
                out[b] = self._converted(self.controller.read_raw, float(v[b].sum()))
                b += 1
        return out

    def _converted(self, convert: Any, volts_sum: float) -> np.ndarray:
        """Run a conversion at the smallest suitable range; step up while lines saturate."""
        expected = 1.5 * volts_sum * self._typical_g
        start = next((i for i, r in enumerate(ADC_RANGES) if r >= expected), len(ADC_RANGES) - 1)
        if not self._v11:  # firmware 1.0: one fixed range
            result = convert()
            if result.saturated.any():
                raise InstrumentError("on-chip converter saturated (firmware 1.0 has one range)")
            return result.currents_a
        for full_scale in ADC_RANGES[start:]:
            if self._range != full_scale:
                self.controller.set_adc_range(full_scale)
                self._range = full_scale
            result = convert()
            if not result.saturated.any():
                return result.currents_a
        raise InstrumentError(f"on-chip converter saturated even on its {ADC_RANGES[-1]:g} A range")

    def _read_smu(self, v: np.ndarray) -> np.ndarray:
        sense = self.smus.get("sense")
        if sense is None:
            raise ConfigError("read_path 'smu' needs a sense SMU in the station file")
        cols = self._layout.cols
        out = np.empty((v.shape[0], cols))
        corr = self.correction
        for b in range(v.shape[0]):
            self._enable(v[b] != 0, np.ones(cols, bool))
            self._set_vread(v[b])
            for j in range(cols):
                self._route_to("SMU", j, "DAC")
                reading = smu_call("sense", sense.measure_current)
                # a long measurement through a held route: keep the board's host watchdog
                # from firing, and refuse the reading if it already had (routes were off;
                # HostWatchdogFired, and read() forgets the stale board state)
                self.controller.keepalive()
                self._smu_unconfirmed = True  # until STAT shows the board held its route
                if not reading.trustworthy:
                    raise untrusted_reading("sense", sense, f"on output line {j}", reading)
                hi = reading.current if corr is None else corr.correct_smu_reading(reading.current)
                out[b, j] = -hi  # current out of HI is minus the line current
        if corr is not None:
            out = corr.correct_series(out, v)
        return out

    @property
    def sets_integration(self) -> bool:
        """True when protocol sequences run on the board (firmware 1.3, converter read path),
        whose converters take the integration time a step asks for."""
        return bool(
            self.station.read_path == "adc"
            and self.use_sequences
            and self._v11
            and self.controller.has_sequences
        )

    @property
    def cell_thresholds(self) -> bool:
        """True when steps may decide per cell: a board with threshold maps (firmware 1.4)
        runs them, or the host does (one command at a time)."""
        return not self.sets_integration or self.controller.has_threshold_maps

    def run_sequence(self, array: int, steps: list[Any]) -> list[Any]:
        """Run a protocol sequence (:mod:`mtj_hil.protocols.sequence`) on ``array``: on the
        board when its firmware runs sequences (1.3) and reads go through the converters,
        else one command at a time (a board too old says so once per session: a
        :class:`~mtj_hil.errors.FallbackWarning`, in the run file when a run records).

        Raises:
            InvalidRequest: bad array. SafetyViolation: a step outside the envelope (nothing
            sent). InstrumentError: the board refused, aborted or stopped answering.
        """
        self._check_open()
        array = check_array(self._layout, array)
        check_envelope(self, steps)  # the whole sequence, before any step of it runs
        if self.station.read_path == "adc" and self.use_sequences:
            if self._v11 and self.controller.has_sequences:
                with self._board_may_change():
                    return run_on_board(self, array, steps)
            if not self._said_no_sequences:  # once per session, i.e. per run
                self._said_no_sequences = True
                ctrl = self.controller
                # named as the station file names it, not by the port it opened: a virtual
                # lab's loopback port differs per run, and a campaign says a warning once
                # for all its tasks only when the text is the same
                url = self.station.controller.url
                board = "the virtual lab's board" if url == VIRTUAL else f"controller {url}"
                tell_user(
                    log,
                    f"station {self.station.name!r} ({board}): controller firmware "
                    f"{ctrl.identity.firmware} runs no board-side sequences "
                    f"({ctrl.no_sequences_reason or 'they need firmware 1.3'})"
                    ": running them one command at a time, slower",
                    FallbackWarning,
                )
        return run_on_host(self, array, steps)

    def describe(self) -> dict[str, Any]:
        """Provenance: station snapshot, instrument identities, effective envelope, layout."""
        return {
            "backend": "instruments",
            "station": self.station.snapshot(),
            "instruments": self.identities,
            "safety_envelope": self.envelope.as_dict(),
            "layout": self._layout.as_dict(),
            "calibration": dict(self.calibration),
        }

    def close(self) -> ShutdownReport:
        """Best effort, every step tried (:func:`~mtj_hil.station.shutdown.shut_down`):
        board reset (routes off, lines at 0 V), each SMU shut down (0 V, output off, read
        back), ports closed. The host forgets its picture of the board: after a reset the
        board holds nothing, after a failed one what it holds is unknown. A second call
        returns the first one's report.

        Returns:
            what was confirmed (also kept in :attr:`shutdown`); failures are logged. The
            exit of a ``with`` block (:meth:`__exit__`) raises when it is not all safe.

        Raises:
            KeyboardInterrupt: Ctrl-C or a stop signal arrived during the shutdown; raised
                only once every step has been tried. Nothing else is raised.
        """
        if self.shutdown is not None:
            return self.shutdown
        self.closed = True
        self.forget_board_state()
        hold = HeldInterrupt()
        self.shutdown = shut_down(self.controller, self.smus, hold)
        hold.release()
        return self.shutdown

    def __enter__(self) -> InstrumentChip:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        """Close (:meth:`close`). When the bench was not confirmed safe (the board did not
        answer its reset, or an SMU output was not read back off) the operator is told what
        was and was not confirmed and what to check by hand, once: as :class:`UnsafeShutdown`
        (chained to the exception the block raised, if any), or, when Ctrl-C or a stop
        signal is ending the block, as an :class:`UnsafeShutdownWarning` and a note on the
        interrupt, which goes on.

        Raises:
            UnsafeShutdown: the bench was not confirmed safe.
            KeyboardInterrupt: one arrived during the shutdown.
        """
        first = self.shutdown is None
        held: KeyboardInterrupt | None = None
        try:
            report = self.close()
        except KeyboardInterrupt as interrupt:
            held, report = interrupt, self.shutdown  # type: ignore[assignment]
        if first and not report.safe:
            if held is None and (exc is None or isinstance(exc, Exception)):
                raise UnsafeShutdown(report.message(exc), during=exc) from exc
            text = report.message()
            tell_user(log, text, UnsafeShutdownWarning)
            (held or exc).add_note(text)  # type: ignore[union-attr]
        if held is not None:
            raise held
