"""Board-side sequences on the host (firmware 1.3, docs/chip-protocol.md section 10): the
``SEQ`` commands of :class:`~mtj_hil.instruments.controller.ChipController`.

The whole sequence is checked against the board's limits and the station's safety envelope
before the first byte goes out (:func:`~mtj_hil.instruments.controller.sequence.check_steps`),
then uploaded (``SEQ NEW``, ``SEQ ADD`` frames of at most 512 bytes) and run (``SEQ RUN``),
collecting one :class:`~mtj_hil.instruments.controller.sequence.SeqResult` per ``DAT`` frame.
"""

from __future__ import annotations

from mtj_hil.instruments.controller.codec import (
    ADC_RANGES,
    MAX_FRAME_BYTES,
    ControllerError,
    Frame,
    FrameError,
    _parse_int,
    _require,
    encode_codes,
    parse_fields,
)
from mtj_hil.instruments.controller.sequence import (
    MAP_FIRMWARE,
    MIN_SEQUENCE_STEPS,
    SEQ_FIRMWARE,
    STEP_TOKEN_MAX,
    Decide,
    Enable,
    Integration,
    PulseStep,
    Range,
    Scan,
    SeqResult,
    SequenceRefused,
    Step,
    WriteVerify,
    check_lines,
    check_steps,
    encode_step,
    first_map_step,
    parse_dat,
)
from mtj_hil.instruments.controller.types import ChipIdentity, HostWatchdogFired
from mtj_hil.instruments.errors import InstrumentError, InstrumentStateLost

__all__ = ["SequenceCommands", "check_frames", "run_duration"]


def run_duration(
    steps: list[Step], ident: ChipIdentity, enabled_rows: int | None, *, worst_reads: bool = False
) -> float:
    """Longest time (s) a run of ``steps`` may take on this board: every write-verify round
    used, every step changing the route, the rows each scan converts following the ``E``
    steps (``enabled_rows`` before the first: ``None`` = unknown, all). The board refuses a
    run above ``t_seqmax`` by the same bound. With ``worst_reads`` (the host's deadline,
    which is twice it) conversions are not overlapped and every row a scan converts is
    converted again on every larger range (saturation, protocol section 10.2), from the
    range the run's ``R`` steps set (the smallest before the first)."""
    lim = ident.limits
    rows = ident.rows if enabled_rows is None else enabled_rows
    t_int = lim.t_int
    larger = len(ADC_RANGES) - 1  # ranges above the one in force: unknown, all of them
    total = 0.0
    for step in steps:
        total += lim.t_step + 2 * lim.t_route
        decide = rows * (lim.t_dac + t_int) + lim.t_read
        if worst_reads:
            decide += (rows - 1) * lim.t_read
        scan = decide + (rows * (lim.t_dac + t_int) * larger if worst_reads else 0.0)
        if isinstance(step, Enable):
            rows = len(step.rows)
        elif isinstance(step, Range):
            fs = min(ADC_RANGES, key=lambda r: abs(r - step.full_scale))
            larger = len(ADC_RANGES) - 1 - ADC_RANGES.index(fs)
        elif isinstance(step, Integration):
            t_int = step.seconds
        elif isinstance(step, PulseStep):
            total += lim.t_pulse + step.width
        elif isinstance(step, Scan):
            total += scan
        elif isinstance(step, Decide):
            total += decide  # a decision converts no row again
        elif isinstance(step, WriteVerify):
            n = len(step.amplitudes)
            each = decide if step.decide else scan
            total += (1 + n) * (each + lim.t_route) + n * lim.t_pulse + sum(step.round_widths())
    return total


class SequenceCommands:
    """``SEQ NEW`` / ``ADD`` / ``RUN`` (a mixin of ChipController; uses its link)."""

    _seq_buffer: tuple[str, ...] | None = None
    """The step tokens last uploaded and run without fault: the board's buffer holds them
    until ``SEQ NEW`` or its own reset, so an identical sequence (the next array's) is run
    again without uploading it (protocol section 10.1). None: unknown, upload."""

    _seq_map: tuple[int, ...] | None = None
    """The threshold map (codes, cell ``row * cols + col``) last sent with ``SEQ MAP`` and
    held since (firmware 1.4): RST, the board's own reset and a failed run clear it on the
    board. None: unknown, send it."""

    def forget_sequence(self) -> None:
        """Forget what the board's sequence buffer and threshold map hold (the next run
        sends them again)."""
        self._seq_buffer = None
        self._seq_map = None

    @property
    def has_threshold_maps(self) -> bool:
        """True when the board runs sequences and holds a per-cell threshold map
        (firmware 1.4: ``SEQ MAP``, steps with ``T`` thresholds; protocol section 10.7)."""
        if not self.has_sequences:
            return False
        version = tuple(int(x) for x in self._id().firmware.split(".")[:2])  # type: ignore[attr-defined]
        return version >= MAP_FIRMWARE

    @property
    def has_sequences(self) -> bool:
        """True when the board's firmware (1.3 or later) runs sequences (``IDN seq`` >= 1)."""
        return self.no_sequences_reason is None

    @property
    def no_sequences_reason(self) -> str | None:
        """Why this board runs no sequences, as a message says it (``None``: it runs them):
        its firmware is older than 1.3, or (from 1.3) its ``IDN`` lists no sequence buffer
        or one too small for a run (:data:`MIN_SEQUENCE_STEPS`), or its ``LIM`` no
        ``t_seqmax``."""
        ident = self._id()  # type: ignore[attr-defined]
        try:
            version = tuple(int(x) for x in ident.firmware.split(".")[:2])
        except ValueError:
            return "they need firmware 1.3, and the board reports no version number"
        if version < SEQ_FIRMWARE:
            return "they need firmware 1.3"
        if ident.sequence_steps < 1:
            return "the board does not list the seq capability in its IDN, seq missing or 0"
        if ident.sequence_steps < MIN_SEQUENCE_STEPS:
            return (
                f"its sequence buffer holds {ident.sequence_steps} steps, and a run needs "
                f"{MIN_SEQUENCE_STEPS}: up to {MIN_SEQUENCE_STEPS - 1} set-up steps and one step"
            )
        if not ident.limits.t_seq_max > 0:
            # without it no run can be timed or split as the board will allow
            return "the board's LIM does not give t_seqmax, the longest run it allows"
        return None

    def check_sequence(
        self,
        steps: list[Step],
        enabled_rows: int | None = None,
        threshold_map: tuple[int, ...] | None = None,
    ) -> float:
        """Check a whole sequence as :meth:`run_sequence` does before it sends anything
        (``enabled_rows``: input lines enabled before its first step, ``None`` = all;
        ``threshold_map``: the map its ``T`` steps compare with); return the longest time
        (s) its run may take. Sends nothing.

        Raises:
            SequenceRefused: a step outside the board's limits or the station's envelope,
                or one the board would not accept as written (or too long for one
                ``SEQ ADD`` frame), or one needing lines the run leaves disabled, naming
                the step.
            InstrumentError: the firmware has no sequences, the sequence is longer than the
                board's buffer, or its run may last longer than the board allows.
        """
        ident: ChipIdentity = self._id()  # type: ignore[attr-defined]
        missing = self.no_sequences_reason
        if missing is not None:
            raise InstrumentError(
                f"{self.port_name}: board firmware {ident.firmware} has no sequences "  # type: ignore[attr-defined]
                f"({missing})"
            )
        lim = ident.limits
        check_steps(
            steps,
            vpulse_max=lim.vpulse_max,
            width_min=lim.width_min,
            width_max=lim.width_max,
            vread_min=lim.vread_min,
            vread_max=lim.vread_max,
            envelope=self.envelope,  # type: ignore[attr-defined]
            geometry=(ident.rows, ident.cols, lim.adc_bits),
        )
        if len(steps) > ident.sequence_steps:
            raise InstrumentError(
                f"{self.port_name}: a sequence of {len(steps)} steps exceeds the board's "  # type: ignore[attr-defined]
                f"buffer of {ident.sequence_steps}"
            )
        duration = run_duration(steps, ident, enabled_rows)
        if lim.t_seq_max and duration > lim.t_seq_max:
            raise InstrumentError(
                f"a sequence that may take {duration:.1f} s exceeds the board's "
                f"{lim.t_seq_max:g} s per run: split it"
            )
        for i, step in enumerate(steps):
            token = encode_step(step, ident.rows, ident.cols, lim.adc_bits)
            if len(token) > STEP_TOKEN_MAX:
                raise SequenceRefused(
                    i,
                    step,
                    f"its token takes {len(token)} bytes, more than the {STEP_TOKEN_MAX} one "
                    "SEQ ADD frame carries (fewer rounds, or rounds of one width)",
                )
        check_lines(steps, enabled_rows)
        self._check_map(steps, threshold_map)
        return duration

    def _check_map(self, steps: list[Step], codes: tuple[int, ...] | None) -> None:
        """Refuse ``T`` steps the board cannot run: no map given, a firmware without maps,
        or a map that is not one code (0 .. 2**bits - 1) per cell.

        Raises:
            SequenceRefused: naming the first step that compares with the map.
        """
        first = first_map_step(steps)
        if first is None:
            return
        ident: ChipIdentity = self._id()  # type: ignore[attr-defined]
        why = None
        if not self.has_threshold_maps:
            why = f"a threshold map needs firmware 1.4; the board runs {ident.firmware}"
        elif codes is None:
            why = "it compares with the threshold map, and no map was given"
        elif len(codes) != ident.rows * ident.cols:
            why = f"the threshold map needs {ident.rows * ident.cols} codes, got {len(codes)}"
        elif not all(0 <= int(c) < 1 << ident.limits.adc_bits for c in codes):
            why = f"threshold map codes must lie in 0..{(1 << ident.limits.adc_bits) - 1}"
        if why is not None:
            raise SequenceRefused(first, steps[first], why)

    def run_sequence(
        self, steps: list[Step], threshold_map: tuple[int, ...] | None = None
    ) -> list[SeqResult]:
        """Upload ``steps`` and run them on the selected array; return the scans in order.
        Every sequence is checked before anything is sent; one identical to the last run
        without fault is run again from the board's buffer without uploading it. An empty
        sequence sends nothing and returns no scans (the buffer is left as it was).
        Steps with ``T`` thresholds compare each cell with ``threshold_map`` (one code per
        cell, ``row * cols + col``; firmware 1.4), sent with ``SEQ MAP`` unless the board
        holds it already.

        Raises:
            SequenceRefused: (a SafetyViolation) a step outside the board's limits or the
                station's envelope, or malformed, naming the step (nothing is sent).
            InstrumentError: the firmware has no sequences, or the sequence is longer than
                the board's buffer or a run may last (nothing is sent).
            ControllerError: the board refused a step or the run (e.g. E10 when aborted:
                the board is then in the safe state and the partial results are dropped).
            InstrumentError: ``DAT`` frames malformed, missing, repeated or out of order
                on every try (a one-off is asked again; the board replays, runs nothing).
            FrameError: the run reports a step count other than the steps sent.
        """
        ident: ChipIdentity = self._id()  # type: ignore[attr-defined]
        lim = ident.limits
        self.check_sequence(steps, self._enabled_rows, threshold_map)  # type: ignore[attr-defined]
        if not steps:
            return []  # nothing to run: no upload, no run (SEQ RUN would need an array)
        # the reply's deadline: the slowest run the steps can make (rows saturating)
        duration = run_duration(steps, ident, self._enabled_rows, worst_reads=True)  # type: ignore[attr-defined]
        tokens = tuple(encode_step(s, ident.rows, ident.cols, lim.adc_bits) for s in steps)
        reused = tokens == self._seq_buffer
        self._seq_buffer = None  # unknown until this run ends without fault
        try:
            if first_map_step(steps) is not None and threshold_map is not None:
                self._send_map(tuple(int(c) for c in threshold_map))
            if not reused:
                self._upload(tokens)
            results, steps_run = self._run(steps, duration)
            if reused and steps_run == 0:
                # the board lost its buffer (its own reset) and ran nothing: upload, run again
                self._upload(tokens)
                results, steps_run = self._run(steps, duration)
        except InstrumentError as exc:
            self._after_failed_run(exc)
            raise
        if steps_run != len(steps):
            raise FrameError(f"SEQ RUN reports steps={steps_run}; sent {len(steps)} steps")
        self._seq_buffer = tokens
        return results

    def _after_failed_run(self, exc: InstrumentError) -> None:
        """A run (or its upload) failed: the board no longer holds a selection the host can
        vouch for (a run that fails leaves the board in its safe state). When ``SEQ RUN``
        was refused for want of a selected array although the host had selected one, the
        board reset itself since: say so (and whether its host watchdog did it).

        Raises:
            HostWatchdogFired: the board's host watchdog had reset it (``STAT`` flag 4).
            InstrumentStateLost: the board reset itself otherwise (its own watchdog, power).
        """
        selected: int | None = self._selected_array  # type: ignore[attr-defined]
        self._selected_array = None
        self._seq_map = None  # a failed run leaves the board as RST does, without its map
        if not (
            isinstance(exc, ControllerError)
            and exc.code == "E06"
            and not exc.message.startswith("step ")  # refused before the run, not in it
            and selected is not None
        ):
            return
        self.check_watchdog()  # type: ignore[attr-defined]
        raise InstrumentStateLost(
            f"{self.port_name}: the board no longer held array {selected} at SEQ RUN "  # type: ignore[attr-defined]
            "(it answers E06, no array selected): it reset itself since the host selected "
            "it, so it is in its safe state; nothing of this run was applied"
        ) from exc

    def _send_map(self, codes: tuple[int, ...]) -> None:
        """``SEQ MAP <start> <codes>`` frames of the whole threshold map, unless the board
        holds this map already.

        Raises:
            ControllerError: the board refused a frame. FrameError: a wrong cell count.
        """
        if codes == self._seq_map:
            return
        self._seq_map = None  # unknown until every frame is acknowledged
        bits = self._id().limits.adc_bits  # type: ignore[attr-defined]
        width = len(encode_codes([0], bits))
        per_frame = (MAX_FRAME_BYTES - len(f"SEQ FF MAP {len(codes)} *FF\n")) // width
        for start in range(0, len(codes), per_frame):
            chunk = codes[start : start + per_frame]
            reply = self._transact("SEQ", ("MAP", str(start), encode_codes(chunk, bits)))  # type: ignore[attr-defined]
            (n_text,) = _require(parse_fields(reply[1:]), "n")
            if _parse_int(n_text) != start + len(chunk):
                raise self._count_wrong(f"SEQ MAP reply n={n_text}, expected {start + len(chunk)}")
        self._seq_map = codes

    def _upload(self, tokens: tuple[str, ...]) -> None:
        """``SEQ NEW`` then ``SEQ ADD`` frames of the step tokens.

        Raises:
            ControllerError: the board refused a step. FrameError: a wrong step count.
        """
        chunks = _frames(list(tokens))  # before SEQ NEW: a refusal leaves the buffer as it was
        self._transact_echo("SEQ", ("NEW",))  # type: ignore[attr-defined]
        n_sent = 0
        for chunk in chunks:
            fields = parse_fields(self._transact("SEQ", ("ADD", *chunk))[1:])  # type: ignore[attr-defined]
            n_sent += len(chunk)
            (n_text,) = _require(fields, "n")
            if _parse_int(n_text) != n_sent:
                raise self._count_wrong(f"SEQ ADD reply n={n_text}, expected {n_sent}")

    def _count_wrong(self, message: str) -> Exception:
        """The error for a reply whose count is not the host's (``message``): a board that
        reset itself between frames (its buffer emptied, protocol section 9.4) is named as
        such from ``STAT``; otherwise a :class:`FrameError`.

        Raises:
            InstrumentStateLost, HostWatchdogFired: the board reset itself.
        """
        try:
            self.check_not_reset()  # type: ignore[attr-defined]
        except (InstrumentStateLost, HostWatchdogFired):
            raise
        except InstrumentError:
            pass  # STAT failed too: the count is the best report left
        return FrameError(f"{self.port_name}: {message}")  # type: ignore[attr-defined]

    def _run(self, steps: list[Step], duration: float) -> tuple[list[SeqResult], int]:
        """``SEQ RUN`` of the buffer: the scans in order and the step count the board ran.

        Raises:
            ControllerError: the board refused or aborted the run. InstrumentError: the
                frames came malformed, missing, repeated or out of order on every try.
        """
        ident: ChipIdentity = self._id()  # type: ignore[attr-defined]
        lim = ident.limits
        n_scans = sum(isinstance(s, Scan | Decide) for s in steps) + sum(
            1 + len(s.amplitudes) for s in steps if isinstance(s, WriteVerify)
        )

        def accept(frames: list[Frame], final: tuple[str, ...]) -> tuple[list[SeqResult], int]:
            # inside the link's retry: a frame lost, repeated or reordered on the way is
            # asked again (the board replays the run's frames; nothing runs twice)
            results = [parse_dat(f.args, ident.cols, lim.adc_bits) for f in frames]
            info = parse_fields(final[1:]) if final[:1] == ("RUN",) else {}
            steps_t, dat_t = _require(info, "steps", "dat")
            if _parse_int(dat_t) != len(results):
                raise FrameError(
                    f"SEQ RUN reports steps={steps_t} dat={dat_t}; "
                    f"received {len(results)} DAT frames"
                )
            if [r.index for r in results] != list(range(len(results))):
                raise FrameError("DAT frames arrived out of order or with gaps")
            steps_run = _parse_int(steps_t)
            if steps_run == len(steps):  # else refused below (or uploaded again: steps=0)
                check_frames(steps, results, rows_before)
            return results, steps_run

        rows_before: int | None = self._enabled_rows  # type: ignore[attr-defined]
        # the run's E steps change the masks: unknown from here on, whatever happens
        self._enabled_rows = self._enabled_cells = None  # type: ignore[attr-defined]
        self._routed = None  # and so is the route  # type: ignore[attr-defined]
        return self._transact_stream(  # type: ignore[attr-defined]
            "SEQ",
            ("RUN",),
            operation_s=duration,
            reply_bytes=64 + n_scans * (80 + 3 * ident.rows * ident.cols),
            accept=accept,
        )


def check_frames(steps: list[Step], results: list[SeqResult], rows: int | None) -> None:
    """Check that the ``DAT`` frames of a run are the scans its steps make, in step order:
    one frame (round 0) per ``S`` and ``D`` step; per write-verify an optional round 0,
    then rounds 1, 2, ... (at most one per amplitude); decision bits from ``D`` and ``V``
    steps, codes from ``S`` and ``W``; as many rows as are enabled when the step runs
    (``rows`` before the first ``E`` step, ``None``: unknown).

    Raises:
        FrameError: naming the first frame that does not fit the steps sent.
    """
    enabled: list[int | None] = []
    for step in steps:
        rows = len(step.rows) if isinstance(step, Enable) else rows
        enabled.append(rows)
    rounds: dict[int, int] = {}  # step index -> its last round seen
    last = -1
    for r in results:
        what = f"DAT frame k={r.index} (step {r.step}, round {r.round})"
        step = steps[r.step] if 0 <= r.step < len(steps) else None
        if not isinstance(step, Scan | Decide | WriteVerify):
            kind = "no step of the run" if step is None else type(step).__name__
            raise FrameError(f"{what} names {kind}, which makes no scan")
        if r.step < last:
            raise FrameError(f"{what} comes after a frame of step {last}")
        if isinstance(step, WriteVerify):
            prev = rounds.get(r.step)
            ok = (r.round in (0, 1) if prev is None else r.round == prev + 1) and r.round <= len(
                step.amplitudes
            )
            decides = step.decide
        else:
            ok, decides = r.step not in rounds and r.round == 0, isinstance(step, Decide)
        if not ok:
            raise FrameError(f"{what} is not the next scan of that step")
        if (r.high is not None) != decides:
            raise FrameError(f"{what} carries {'bits' if r.high is not None else 'codes'}")
        n = (r.high if r.high is not None else r.codes).shape[0]  # type: ignore[union-attr]
        if enabled[r.step] is not None and n != enabled[r.step]:
            raise FrameError(f"{what} scans {n} rows, not the {enabled[r.step]} enabled")
        rounds[r.step], last = r.round, r.step
    for i, step in enumerate(steps):
        if isinstance(step, Scan | Decide) and i not in rounds:
            raise FrameError(f"no DAT frame for the scan of step {i}")


def _frames(tokens: list[str]) -> list[list[str]]:
    """Pack step tokens into ``SEQ ADD`` frames of at most :data:`MAX_FRAME_BYTES` bytes
    (:func:`check_steps` has refused a token longer than one frame carries)."""
    budget = MAX_FRAME_BYTES - len("SEQ FF ADD *FF\n")
    out: list[list[str]] = [[]]
    used = 0
    for tok in tokens:
        if len(tok) + 1 > budget:
            raise InstrumentError(f"sequence step too long for one frame: {tok[:40]}...")
        if used + len(tok) + 1 > budget:
            out.append([])
            used = 0
        out[-1].append(tok)
        used += len(tok) + 1
    return [c for c in out if c]
