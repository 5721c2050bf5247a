"""Board-side sequences of the virtual board (firmware 1.3, docs/chip-protocol.md section 10).

``SEQ NEW`` clears the buffer, ``SEQ ADD <step>...`` validates and appends steps (a refused
frame appends nothing), ``SEQ RUN`` runs the buffer on the selected array and answers with one
``DAT`` frame per scan followed by the final ``OK .. SEQ RUN`` (or ``ERR``). From firmware 1.4
``SEQ MAP <start> <codes>`` sets per-cell threshold codes that steps with ``T`` thresholds
compare with (section 10.7). The modelled time
of a run follows the board's timing: route changes cost ``t_route``, each step ``t_step``,
pulses ``t_pulse`` plus their width, scans ``t_dac + t_int`` per row with the conversion of
one row overlapping the next (``t_read`` once at the end), and frames are transmitted while
later steps run, so only the transfer that cannot hide behind them adds.

Faults a test can inject (:class:`~mtj_hil.sim.lab.board_setup.BoardFaults`):
``abort_run_at_step`` (an ``RST`` arrives during step k: the run stops, the board goes to the
safe state, the final frame is ``ERR .. E10``), ``drop_run_at_step`` (the link is lost
during step k: safe state, connection dropped), ``reset_run_at_step`` (the board's own
watchdog resets it during step k: power-up state, flag bit 3, no reply) and ``dat_fault``
(a DAT frame repeated, lost or reordered on the wire; :func:`damage_stream`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mtj_hil.instruments.controller import ADC_RANGES, FrameError
from mtj_hil.instruments.controller.codec import decode_codes
from mtj_hil.instruments.controller.sequence import (
    CheckMask,
    Decide,
    Enable,
    Integration,
    Known,
    PulseStep,
    Range,
    Scan,
    Step,
    WriteVerify,
    dat_fields,
    decision_fields,
    decode_step,
)
from mtj_hil.protocols.chip import CellState
from mtj_hil.sim.lab.board_args import Refused, clean
from mtj_hil.sim.lab.server import DropConnection

MAX_STEPS = 1024
"""Steps the reference board's sequence buffer holds (``IDN seq``)."""


def damage_stream(reply: bytes, faults: Any) -> bytes:
    """The streamed ``reply`` as the host receives it under ``faults.dat_fault`` (see
    :class:`~mtj_hil.sim.lab.board_setup.BoardFaults`); counts the reply damaged."""
    lines = reply.splitlines(keepends=True)
    dat = [i for i, line in enumerate(lines) if line.startswith(b"DAT ")]
    kind = faults.dat_fault
    if kind == "duplicated":
        lines.insert(dat[0], lines[dat[0]])
    elif kind == "dropped":
        del lines[dat[0]]
    elif kind == "swapped" and len(dat) > 1:
        lines[dat[0]], lines[dat[1]] = lines[dat[1]], lines[dat[0]]
    else:
        raise ValueError(f"dat_fault {kind!r}: duplicated, dropped or swapped (two frames)")
    faults.dat_fault_replies -= 1
    if faults.dat_fault_replies <= 0:
        faults.dat_fault, faults.dat_fault_replies = None, 1
    return b"".join(lines)


class BoardReset(Exception):
    """The board reset itself (its MCU watchdog) while running: power-up state, nothing more
    sent for the frame in progress."""


@dataclass
class Streamed:
    """A reply of several frames: ``frames`` (encoded DAT frames), then the final OK with
    ``final`` fields or the ERR ``error`` (code, message); ``duration`` (s) from the end of
    the request (after ``t_cmd``) to the end of the final frame."""

    frames: list[bytes]
    final: list[str] | None
    error: tuple[str, str] | None
    duration: float


@dataclass
class _Run:
    """Time line of one run: execution time ``t`` and when the link is free ``tx_free``."""

    byte_time: float
    t_int: float
    t: float = 0.0
    check: np.ndarray | None = None
    tx_free: float = 0.0
    frames: list[bytes] = field(default_factory=list)
    last: dict[float, tuple[str, np.ndarray]] = field(default_factory=dict)

    def send(self, frame: bytes, first_ready: float, last_row_bytes: int) -> None:
        """Queue a frame whose first row is ready at ``first_ready`` (its last row at the
        current time): it streams as rows become available."""
        start = max(self.tx_free, first_ready)
        end = max(start + len(frame) * self.byte_time, self.t + last_row_bytes * self.byte_time)
        self.tx_free = end
        self.frames.append(frame)


class SequenceCommands:
    """The ``SEQ`` command of :class:`~mtj_hil.sim.lab.board.VirtualBoard` (a mixin: it
    uses the board's state, die, timing, converter and fault injection)."""

    def _seq_init(self) -> None:
        self._seq_steps: list[Step] = []

    def _cmd_seq(self, args: tuple[str, ...]):  # noqa: ANN202 - (fields | Streamed, extra)
        if not self.has_sequences:  # type: ignore[attr-defined]
            raise Refused("E02", "unknown command SEQ")
        sub = args[0] if args else ""
        if sub == "NEW":
            self._nargs(args, 1, "SEQ NEW")  # type: ignore[attr-defined]
            self._seq_steps = []
            return ["NEW"], 0.0
        if sub == "ADD":
            if len(args) < 2:
                raise Refused("E03", "SEQ ADD needs at least one step")
            start = len(self._seq_steps)
            if start + len(args) - 1 > MAX_STEPS:
                raise Refused("E04", f"sequence longer than {MAX_STEPS} steps")
            new = [self._seq_parse(tok, start + i) for i, tok in enumerate(args[1:])]
            self._seq_steps.extend(new)
            return ["ADD", f"n={len(self._seq_steps)}"], 0.0
        if sub == "RUN":
            self._nargs(args, 1, "SEQ RUN")  # type: ignore[attr-defined]
            return self._seq_run(), 0.0
        if sub == "MAP" and self.has_threshold_map:  # type: ignore[attr-defined]
            return self._seq_map(args), 0.0
        subs = "NEW, ADD, RUN or MAP" if self.has_threshold_map else "NEW, ADD or RUN"  # type: ignore[attr-defined]
        raise Refused("E03", f"SEQ takes {subs}, got {sub or 'nothing'}")

    def _seq_map(self, args: tuple[str, ...]) -> list[str]:
        """``SEQ MAP <start> <codes>``: threshold codes of cells ``start, start + 1, ...``
        (a refused frame sets none); the reply counts the cells set from 0 up to here."""
        self._nargs(args, 3, "SEQ MAP")  # type: ignore[attr-defined]
        n_cells = self.rows * self.cols  # type: ignore[attr-defined]
        width = (self.ADC_BITS + 3) // 4  # hex digits per code  # type: ignore[attr-defined]
        text = args[2]
        if not args[1].isdigit() or not text or len(text) % width:
            raise Refused("E03", "SEQ MAP takes <start> (decimal) and whole codes")
        start, count = int(args[1]), len(text) // width
        if start + count > n_cells:
            raise Refused("E04", f"SEQ MAP cells {start}..{start + count - 1} beyond {n_cells}")
        try:
            codes = decode_codes(text, count, self.ADC_BITS)  # type: ignore[attr-defined]
        except FrameError as exc:
            raise Refused("E03", clean(f"SEQ MAP: {exc}")) from None
        s = self._state  # type: ignore[attr-defined]
        if s.thr_map is None:
            s.thr_map = np.full(n_cells, -1, np.int64)
        s.thr_map[start : start + count] = codes
        return ["MAP", f"n={start + count}"]

    def _seq_parse(self, token: str, index: int) -> Step:
        rows, cols = self.rows, self.cols  # type: ignore[attr-defined]
        try:
            step = decode_step(token, rows, cols, self.ADC_BITS)  # type: ignore[attr-defined]
        except FrameError as exc:
            raise Refused("E03", clean(f"step {index}: {exc}")) from None
        except ValueError as exc:
            raise Refused("E04", clean(f"step {index}: {exc}")) from None
        pulses = []
        if isinstance(step, PulseStep):
            pulses = [(step.amplitude, step.width)]
        elif isinstance(step, WriteVerify):
            pulses = list(zip(step.amplitudes, step.round_widths(), strict=True))
            pulses.append((step.amplitudes[0], step.width))  # its own width, as written
        for amp, width in pulses:
            if not 0 <= amp <= self.vpulse_max:  # type: ignore[attr-defined]
                raise Refused("E05", f"step {index}: amplitude {amp:.3f} V above the limit")
            if not 1e-8 <= width <= 1e-3:
                raise Refused("E05", f"step {index}: width {width:.3e} s outside limits")
        thresholds = getattr(step, "thresholds", ())
        if thresholds is None and not self.has_threshold_map:  # type: ignore[attr-defined]
            raise Refused("E03", f"step {index}: thresholds must be {cols} codes")
        if thresholds is not None and len(thresholds) not in (0, cols):
            raise Refused("E04", f"step {index}: needs {cols} threshold codes")
        volts = getattr(step, "volts", None)
        if volts is not None and not 0 <= volts <= 3.3:
            raise Refused("E05", f"step {index}: read voltage {volts:.3f} V outside 0..3.3 V")
        if isinstance(step, Known) and len(step.high) != rows * cols:
            raise Refused("E04", f"step {index}: K step needs {rows * cols} bits")
        if isinstance(step, CheckMask) and len(step.cells) != rows * cols:
            raise Refused("E04", f"step {index}: M step needs {rows * cols} bits")
        return step

    # -- running ----------------------------------------------------------------------

    def _seq_worst_case(self) -> float:
        """Longest duration (s) the buffer can take: every write-verify round used, every
        step changing the route (the host computes the same bound)."""
        t = self.timing  # type: ignore[attr-defined]
        rows = int(self._state.rows.sum())  # type: ignore[attr-defined]
        t_int = t.t_int
        total = 0.0
        for step in self._seq_steps:
            total += t.t_step + 2 * t.t_route
            scan = rows * (t.t_dac + t_int) + t.t_read
            if isinstance(step, Enable):
                rows = len(step.rows)
            elif isinstance(step, Integration):
                t_int = step.seconds
            elif isinstance(step, PulseStep):
                total += t.t_pulse + step.width
            elif isinstance(step, Scan | Decide):
                total += scan
            elif isinstance(step, WriteVerify):
                n = len(step.amplitudes)
                total += (1 + n) * (scan + t.t_route) + n * t.t_pulse + sum(step.round_widths())
        return total

    def _seq_run(self) -> Streamed:
        t = self.timing  # type: ignore[attr-defined]
        self._selected()  # type: ignore[attr-defined]
        worst = self._seq_worst_case()
        if worst > t.t_seq_max:
            raise Refused(
                "E05",
                f"sequence may take {worst:.1f} s, above the {t.t_seq_max:g} s a run may last",
            )
        missing = self._seq_map_missing()
        if missing is not None:
            raise Refused("E06", f"step {missing[0]} compares cell {missing[1]} with the "
                          "threshold map, which holds no code for it")  # fmt: skip
        run = _Run(byte_time=10.0 / t.baudrate, t_int=t.t_int)
        faults = self.faults  # type: ignore[attr-defined]
        error = None
        for index, step in enumerate(self._seq_steps):
            if faults.reset_run_at_step == index:
                faults.reset_run_at_step = None
                raise BoardReset(f"injected: the board's own watchdog reset it at step {index}")
            if faults.drop_run_at_step == index:
                faults.drop_run_at_step = None
                self._seq_safe_state()
                raise DropConnection("injected: link lost during a sequence run")
            if faults.abort_run_at_step == index:
                faults.abort_run_at_step = None
                self._seq_safe_state()
                error = ("E10", f"run aborted at step {index} (RST); board in the safe state")
                break
            run.t += t.t_step
            try:
                self._seq_step(run, index, step)
            except Refused as refused:
                self._seq_safe_state()
                error = (refused.code, f"step {index}: {refused.message}")
                break
        final_bytes = 64
        end = max(run.t, run.tx_free) + final_bytes * run.byte_time
        final = (
            None
            if error
            else [
                "RUN",
                f"steps={len(self._seq_steps)}",
                f"dat={len(run.frames)}",
            ]
        )
        return Streamed(run.frames, final, error, end)

    def _seq_map_missing(self) -> tuple[int, int] | None:
        """``(step, cell)`` of the first cell a ``T`` step of the buffer would compare with
        a threshold map code not set (the cells of the lines its ``E`` steps enable), or
        None: checked before the run, so nothing is applied."""
        s = self._state  # type: ignore[attr-defined]
        rows, cols = s.rows, s.cols
        held = s.thr_map
        for index, step in enumerate(self._seq_steps):
            if isinstance(step, Enable):
                rows = np.isin(np.arange(self.rows), step.rows)  # type: ignore[attr-defined]
                cols = np.isin(np.arange(self.cols), step.cols)  # type: ignore[attr-defined]
            elif isinstance(step, Decide | WriteVerify) and step.thresholds is None:
                cells = np.flatnonzero(np.outer(rows, cols).ravel())
                unset = cells if held is None else cells[held[cells] < 0]
                if unset.size:
                    return index, int(unset[0])
        return None

    def _seq_safe_state(self) -> None:
        """What RST does: routes off, lines disconnected, read voltages 0 V."""
        self._state = self._reset_state()  # type: ignore[attr-defined]

    def _seq_route(self, run: _Run, mode: str) -> None:
        s = self._state  # type: ignore[attr-defined]
        if s.route != mode:
            run.t += self.timing.t_route  # type: ignore[attr-defined]
            s.route, s.smu_line, s.source, s.ref = mode, None, None, None

    def _seq_step(self, run: _Run, index: int, step: Step) -> None:
        s = self._state  # type: ignore[attr-defined]
        if isinstance(step, Enable):
            s.rows = np.isin(np.arange(self.rows), step.rows)  # type: ignore[attr-defined]
            s.cols = np.isin(np.arange(self.cols), step.cols)  # type: ignore[attr-defined]
        elif isinstance(step, Range):
            s.full_scale = min(ADC_RANGES, key=lambda r: abs(r - step.full_scale))
        elif isinstance(step, PulseStep):
            self._seq_pulse(run, step.polarity, step.amplitude, step.width)
        elif isinstance(step, Scan):
            self._seq_scan(run, index, 0, step.volts)
        elif isinstance(step, Integration):
            run.t_int = step.seconds
        elif isinstance(step, CheckMask):
            run.check = np.array(step.cells, bool).reshape(self.rows, self.cols)  # type: ignore[attr-defined]
        elif isinstance(step, Decide):
            self._seq_decide(run, index, 0, step.volts, step.thresholds)
        elif isinstance(step, Known):
            high = np.array(step.high, bool).reshape(self.rows, self.cols)  # type: ignore[attr-defined]
            run.last[step.volts] = ("high", high)
        elif isinstance(step, WriteVerify):
            self._seq_write(run, index, step)

    def _seq_pulse(self, run: _Run, polarity: str, amplitude: float, width: float) -> None:
        s = self._state  # type: ignore[attr-defined]
        if not (s.rows.any() and s.cols.any()):
            raise Refused("E06", "a pulse needs at least one enabled row and column")
        self._seq_route(run, "WRITE")
        width = round(width / 1e-8) * 1e-8
        cells = np.outer(s.rows, s.cols)
        state = CellState.P if polarity == self.p_polarity else CellState.AP  # type: ignore[attr-defined]
        self.die.apply_pulse(s.array, cells, state, amplitude, width)  # type: ignore[attr-defined]
        self.pulses.append((s.array, int(cells.sum()), polarity, amplitude, width))  # type: ignore[attr-defined]
        run.t += self.timing.t_pulse + width  # type: ignore[attr-defined]
        run.last.clear()  # states may have changed: earlier scans no longer tell them

    def _seq_scan(self, run: _Run, index: int, rnd: int, volts: float) -> np.ndarray:
        """Scan the enabled rows at ``volts``; queue the DAT frame; return the currents (A)
        of the whole array (rows not scanned are NaN)."""
        t = self.timing  # type: ignore[attr-defined]
        s = self._state  # type: ignore[attr-defined]
        rows = np.flatnonzero(s.rows)
        if rows.size == 0:
            raise Refused("E06", "a scan needs at least one enabled input line")
        self._seq_route(run, "ADC")
        start = run.t
        per_row = t.t_dac + run.t_int
        vectors = np.zeros((rows.size, self.rows))  # type: ignore[attr-defined]
        vectors[np.arange(rows.size), rows] = volts
        codes = self._converted(vectors, None, run.t_int)  # type: ignore[attr-defined]
        run.t += rows.size * per_row
        ranges = [ADC_RANGES.index(s.full_scale)] * rows.size
        full = (1 << self.ADC_BITS) - 1  # type: ignore[attr-defined]
        for i in range(rows.size):  # a saturated row is converted again on larger ranges
            while ((codes[i] == 0) | (codes[i] == full))[s.cols].any() and ranges[i] < 3:
                ranges[i] += 1
                fs = ADC_RANGES[ranges[i]]
                codes[i] = self._converted(vectors[i : i + 1], fs, run.t_int)[0]  # type: ignore[attr-defined]
                run.t += per_row
        run.t += t.t_read
        self.read_levels.append(volts)  # type: ignore[attr-defined]
        zero = 1 << (self.ADC_BITS - 1)  # type: ignore[attr-defined]
        fields = dat_fields(len(run.frames), index, rnd, zero, ranges, codes, self.ADC_BITS)  # type: ignore[attr-defined]
        frame = self._dat_frame(fields)  # type: ignore[attr-defined]
        run.send(frame, start + per_row, 3 * self.cols)  # type: ignore[attr-defined]
        lsb = np.array([2.0 * ADC_RANGES[r] / (1 << self.ADC_BITS) for r in ranges])  # type: ignore[attr-defined]
        currents = np.full((self.rows, self.cols), np.nan)  # type: ignore[attr-defined]
        currents[rows] = (codes - zero) * lsb[:, None]
        run.last[volts] = ("currents", currents)
        return currents

    def _seq_thresholds(self, thresholds: tuple[int, ...] | None) -> np.ndarray:
        """Threshold codes ``(rows, cols)``: the line's code for every cell of its line, or
        (``None``, a ``T`` step) each cell's own code in the map."""
        shape = (self.rows, self.cols)  # type: ignore[attr-defined]
        if thresholds is None:
            return self._state.thr_map.reshape(shape)  # type: ignore[attr-defined]
        return np.broadcast_to(np.asarray(thresholds), shape)

    def _seq_decide(
        self, run: _Run, index: int, rnd: int, volts: float, thresholds: tuple[int, ...] | None
    ) -> np.ndarray:
        """A decision scan: one bit per cell (code above its threshold code) in the DAT
        frame; returns the cells that read high (rows not scanned read low)."""
        t = self.timing  # type: ignore[attr-defined]
        s = self._state  # type: ignore[attr-defined]
        rows = np.flatnonzero(s.rows)
        if rows.size == 0:
            raise Refused("E06", "a scan needs at least one enabled input line")
        self._seq_route(run, "ADC")
        start = run.t
        vectors = np.zeros((rows.size, self.rows))  # type: ignore[attr-defined]
        vectors[np.arange(rows.size), rows] = volts
        codes = self._converted(vectors, None, run.t_int)  # type: ignore[attr-defined]
        run.t += rows.size * (t.t_dac + run.t_int) + t.t_read
        self.read_levels.append(volts)  # type: ignore[attr-defined]
        bits = codes > self._seq_thresholds(thresholds)[rows]
        frame = self._dat_frame(decision_fields(len(run.frames), index, rnd, bits))  # type: ignore[attr-defined]
        run.send(frame, start + t.t_dac + run.t_int, 1)
        high = np.zeros((self.rows, self.cols), bool)  # type: ignore[attr-defined]
        high[rows] = bits
        run.last[volts] = ("high", high)
        return high

    def _seq_write(self, run: _Run, index: int, step: WriteVerify) -> None:
        s = self._state  # type: ignore[attr-defined]
        lsb = 2.0 * s.full_scale / (1 << self.ADC_BITS)  # type: ignore[attr-defined]
        zero = 1 << (self.ADC_BITS - 1)  # type: ignore[attr-defined]
        thr = (self._seq_thresholds(step.thresholds) - zero) * lsb  # A per cell
        cells = np.outer(s.rows, s.cols)
        if run.check is not None:
            cells = cells & run.check

        def wrong() -> np.ndarray:
            kind, value = run.last[step.volts]
            high = value if kind == "high" else value > thr
            return cells & (high != step.high)

        def scan(rnd: int) -> None:
            if step.decide:
                self._seq_decide(run, index, rnd, step.volts, step.thresholds)
            else:
                self._seq_scan(run, index, rnd, step.volts)

        if step.volts not in run.last:
            scan(0)
        rounds = zip(step.amplitudes, step.round_widths(), strict=True)
        for rnd, (amp, width) in enumerate(rounds, start=1):
            if not wrong().any():
                break
            self._seq_pulse(run, step.polarity, amp, width)
            scan(rnd)
