"""Identity, limits and status commands of the virtual board (``IDN``, ``LIM``, ``STAT``),
and the SMU connector's current: parts of :class:`~mtj_hil.sim.lab.board.VirtualBoard`
(mixins using its state, die and timing)."""

from __future__ import annotations

import numpy as np

from mtj_hil.instruments.controller import format_mask, format_seconds, format_volts
from mtj_hil.sim.lab.board_seq import MAX_STEPS

VIRTUAL_BOARD_MODEL = "XBC-1V"
"""The model a virtual board reports (``IDN model``); a real board reports its own
(docs/chip-protocol.md section 3: ``XBC-1``)."""


class BoardInfo:
    """``IDN``, ``LIM`` and ``STAT`` (docs/chip-protocol.md section 3)."""

    def _cmd_idn(self, args: tuple[str, ...]) -> tuple[list[str], float]:
        self._nargs(args, 0, "IDN")
        die = "PASSIVE1R" if self.die.profile.geometry.cell == "passive" else "CMOS1T1R"
        return [
            f"model={getattr(self, 'model', VIRTUAL_BOARD_MODEL)}",
            f"sn={self.serial}",
            f"fw={self.firmware}",
            f"die={die}",
            f"arrays={self.n_arrays}",
            f"rows={self.rows}",
            f"cols={self.cols}",
            f"refs={len(self.reference_true)}",
            *([f"seq={MAX_STEPS}"] if self.has_sequences else []),
        ], 0.0

    def _cmd_lim(self, args: tuple[str, ...]) -> tuple[list[str], float]:
        self._nargs(args, 0, "LIM")
        t = self.timing
        return [
            f"vpulse_max={format_volts(self.vpulse_max)}",
            "width_min=1.000e-08",
            "width_max=1.000e-03",
            "vread_min=0.000",
            f"vread_max={format_volts(3.3)}",
            f"adc_bits={self.ADC_BITS}",
            f"t_cmd={format_seconds(t.t_cmd)}",
            f"t_route={format_seconds(t.t_route)}",
            f"t_pulse={format_seconds(t.t_pulse)}",
            f"t_dac={format_seconds(t.t_dac)}",
            f"t_read={format_seconds(t.t_read)}",
            f"t_int={format_seconds(t.t_int)}",
            *(
                [f"t_step={format_seconds(t.t_step)}", f"t_seqmax={format_seconds(t.t_seq_max)}"]
                if self.has_sequences
                else []
            ),
        ], 0.0

    def _cmd_stat(self, args: tuple[str, ...]) -> tuple[list[str], float]:
        self._nargs(args, 0, "STAT")
        s = self._state
        selected = s.array is not None
        return [
            "busy=0",
            f"err={s.err}",
            f"arr={s.array if selected else '--'}",
            f"route={s.route}",
            f"smu={'--' if s.smu_line is None else s.smu_line}",
            f"src={s.source or '--'}",
            f"rows={format_mask(np.flatnonzero(s.rows), self.rows) if selected else '--'}",
            f"cols={format_mask(np.flatnonzero(s.cols), self.cols) if selected else '--'}",
            "temp=31.5",
            f"flags={(self.FLAG_HOST_WATCHDOG if self.watchdog_fired else 0) | (8 if self.mcu_reset else 0):02X}",
        ], 0.0


class SmuConnector:
    """The SMU connector of the board (routings ``SMU`` and ``REF``)."""

    def smu_current(self, voltage: float) -> float:
        """Current (A) out of the SMU's HI terminal when it sources ``voltage`` (V).

        ``SMU <line> DAC``: HI holds output line ``line`` at ``voltage`` while the DACs drive
        the enabled input lines. ``SMU <line> SMU``: HI drives the enabled input lines, LO
        holds the output line at 0 V. ``REF <k>``: reference resistor ``k`` between HI and
        LO. Any other routing leaves the connector open.

        In SMU routings the disabled input lines are disconnected, so only the cells of
        enabled input lines carry current. The connector path's series resistance R_s is in
        series with everything routed: a load of conductance S carries ``V S / (1 + R_s S)``
        (for a line, S is the sum of its cells' conductances on the enabled input lines).
        """
        with self._lock:
            self.check_watchdog()
            s = self._state
            r_s = self.series_resistance
            if s.route == "REF" and s.ref is not None:
                return voltage / (float(self.reference_true[s.ref]) + r_s)
            if s.route != "SMU" or s.array is None or s.smu_line is None:
                return 0.0
            g_line = float(self.die.conductance(s.array)[s.rows, s.smu_line].sum())
            if s.source == "SMU":
                vector = np.where(s.rows, voltage, 0.0)
                ideal = float(self.die.read(s.array, vector[None, :])[0, s.smu_line])
                return ideal / (1.0 + r_s * g_line)
            vector = np.where(s.rows, s.vread - voltage, 0.0)
            ideal = float(self.die.read(s.array, vector[None, :])[0, s.smu_line])
            return -ideal / (1.0 + r_s * g_line)
