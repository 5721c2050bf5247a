"""Trials on one array for the switching characterisation, each batch one sequence.

One *trial* writes the start state to the whole array with write-verify, applies one pulse
towards the direction and reads the array's states; devices whose start state did not verify
do not count. A batch of trials at one point is one sequence (:mod:`mtj_hil.protocols.sequence`),
so a board that runs sequences does the whole batch in one run.

On a chip that can set its converter integration (a board running the sequences), the
runner first chooses decision reads for the array (:mod:`mtj_hil.protocols.switching.decision`):
precision maps of both states and the read noise at a few integrations give the shortest
integration whose misread probability stays below the plan's bound (or, where none does,
one that holds the cells to the plan's precision margin as precision reads would); the state
reads of the trials, their verify reads and the read-disturb reads are then decisions at
that integration. Cells the rule leaves out (too near the threshold for the reads the
trials make; at most the plan's ``decision_exclude`` share, or below its
``precision_margin`` when the reads are held to the precision reads' standard) are never
verified again and never count as a valid outcome, on a board
and on the host alike (the masks are made here, not by the backend).
Where the chip takes one threshold per cell (a board with threshold maps, firmware 1.4),
each device is then judged by the midpoint of its own two levels, and devices the die's
one threshold could not verify but whose levels stand apart count again. Where the host
compares each read itself (the simulator, a chip without its own sequences) the reads stay
precision maps, and each device is judged by its own midpoint all the same (its levels from
eight precision maps of each state). On older boards that run sequences without threshold
maps every read is the precision map it always was against the die's one threshold.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from mtj_hil.protocols.chip import CellState, Chip, Pulse
from mtj_hil.protocols.read import conductance_map
from mtj_hil.protocols.sequence import (
    KnownMap,
    KnownStates,
    PulseAll,
    ReadMap,
    ReadStates,
    SeqStep,
    WriteAll,
    cell_thresholds,
    run_sequence,
    sets_integration,
)
from mtj_hil.protocols.switching.decision import (
    MARGIN_SIGMAS,
    DecisionRule,
    choose_integration,
    margins,
    noise_upper,
    read_noise,
)
from mtj_hil.protocols.write import WriteReport

MIN_CONTRAST = 0.25
"""Least contrast ``G_P / G_AP - 1``, as a share of the die's nominal one, of a device the
die's threshold could not verify that its own midpoint judges (per-cell thresholds)."""
NOISE_READS = 8
"""Reads per integration tried (4 pairs per cell, 100 differences per output line)."""


class Trials:
    """Runs trials on one array, remembering the last read so no read is wasted.

    ``known`` is the last map (S) or, after decision reads, the last states (bool, True: P).
    """

    def __init__(self, chip: Chip, array: int, plan: Any) -> None:
        """``plan``: the :class:`~mtj_hil.protocols.switching.procedure.SwitchingPlan`."""
        self.chip, self.array, self.plan = chip, array, plan
        layout = chip.layout
        self.shape = (layout.rows, layout.cols)
        self.threshold: float | np.ndarray = layout.threshold_g
        """Conductance (S) above which a device reads P: the die's, or per device once
        decisions are chosen on a chip that takes one threshold per cell."""
        self.set_pulse = plan.set_pulse or layout.nominal_pulse
        self.known: np.ndarray | None = None
        self.rule: DecisionRule | None = None
        self.t_dec: float | None = None
        """Integration (s) of decision reads; ``None``: precision reads."""
        self.unresponsive: dict[CellState, np.ndarray] = {}
        """Per start state, the devices the first write towards it could not verify: with
        ``plan.skip_unresponsive`` later writes do not verify them (they count invalid)."""
        self.left_out = np.zeros(self.shape, bool)
        """Cells the decision rule left out (``DecisionRule.left_out``: too near the
        threshold for the reads the trials make): never verified, never a valid outcome."""

    # -- building blocks ---------------------------------------------------------------

    def _write(self, state: CellState, decide: bool = True) -> WriteAll:
        d = decide and self.t_dec is not None
        skip = self.unresponsive.get(state) if self.plan.skip_unresponsive else None
        if self.left_out.any():
            skip = self.left_out if skip is None else skip | self.left_out
        return WriteAll(
            state,
            self.set_pulse,
            self.plan.verify_rounds,
            read_voltage=self.plan.read_voltage,
            threshold=self._per_cell(),
            decide=d,
            integration=self.t_dec if d else None,
            cells=None if skip is None or not skip.any() else ~skip,
        )

    def _verified(self, state: CellState, report: WriteReport) -> np.ndarray:
        """Devices a write towards ``state`` verified (the first such write of the array
        also decides which devices do not respond)."""
        skip = self.unresponsive.setdefault(state, report.residual.copy())
        return ~report.residual & ~skip & ~self.left_out

    def _read(self, volts: float | None = None) -> SeqStep:
        v = self.plan.read_voltage if volts is None else volts
        if self.t_dec is None:
            return ReadMap(v)
        return ReadStates(v, threshold=self._per_cell(), integration=self.t_dec)

    def _per_cell(self) -> np.ndarray | None:
        """The per-device thresholds (S) steps carry, or None for the die's one."""
        return self.threshold if np.ndim(self.threshold) else None

    def _states(self, result: np.ndarray) -> np.ndarray:
        """True where a device reads P, from a :meth:`_read` result."""
        return result[0] > self.threshold if self.t_dec is None else result

    def _known(self) -> list[SeqStep]:
        if self.known is None:
            return []
        if self.known.dtype == bool:
            return [KnownStates(self.plan.read_voltage, self.known)]
        if np.ndim(self.threshold):  # a board judges a known map by the die's threshold
            return [KnownStates(self.plan.read_voltage, self.known > self.threshold)]
        return [KnownMap(self.plan.read_voltage, self.known)]

    def _remember(self, result: np.ndarray) -> None:
        self.known = result[0] if self.t_dec is None else result

    # -- what the procedure asks for ---------------------------------------------------

    def set_all(self, state: CellState) -> np.ndarray:
        """Write every device to ``state`` with (precision) verify; return the mask that
        verified."""
        report = run_sequence(
            self.chip, self.array, [*self._known(), self._write(state, decide=False)]
        )[-1]
        self.known = report.conductance
        return self._verified(state, report)

    def read_state(self) -> np.ndarray:
        """Read the array's map; True where a device reads P."""
        g = conductance_map(self.chip, self.array, self.plan.read_voltage)[0]
        self.known = g
        return g > self.threshold

    def run(self, direction: CellState, pulse: Pulse, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` trials, as one sequence; returns (valid trials, switches) per device."""
        start = CellState.AP if direction == CellState.P else CellState.P
        trial = [self._write(start), PulseAll(direction, pulse), self._read()]
        head = self._known()
        results = run_sequence(self.chip, self.array, head + trial * n)[len(head) :]
        trials = np.zeros(self.shape, np.int64)
        switched = np.zeros(self.shape, np.int64)
        for k in range(n):
            valid = self._verified(start, results[3 * k])
            is_p = self._states(results[3 * k + 2])
            trials += valid
            switched += valid & (is_p == (direction == CellState.P))
            self._remember(results[3 * k + 2])
        return trials, switched

    def disturb(self, state: CellState, volts: float, reads: int) -> tuple[np.ndarray, np.ndarray]:
        """Write ``state``, read every device ``reads`` times at ``volts``, read the states
        again; return (devices that verified, devices that changed state)."""
        head = self._known()
        steps: list[SeqStep] = [*head, self._write(state)]
        if self.t_dec is None:
            left = reads
            while left > 0:
                steps.append(ReadMap(volts, min(left, 400)))
                left -= 400
        else:
            steps += [ReadStates(volts, integration=self.t_dec)] * reads
        steps.append(self._read())
        results = run_sequence(self.chip, self.array, steps)
        valid = self._verified(state, results[len(head)])
        self._remember(results[-1])
        is_p = self._states(results[-1])
        return valid, valid & (is_p != (state == CellState.P))

    # -- decision reads ----------------------------------------------------------------

    def _own_thresholds(
        self, maps_p: np.ndarray, maps_ap: np.ndarray, verified: np.ndarray
    ) -> np.ndarray:
        """Judge each device by the midpoint of its own two levels (S; ``maps_p`` /
        ``maps_ap``: precision maps ``(reads, rows, cols)`` after writing P and AP) and return
        the devices that now count: those verified, and those the die's one threshold could
        not verify whose levels still stand apart, by more than ``2 MARGIN_SIGMAS`` standard
        errors of their own reads and by at least :data:`MIN_CONTRAST` of the die's nominal
        contrast (a short or a stuck device has none, however noisy its reads). On a die
        whose devices spread more than their contrast no single threshold has every device
        on its side; such a device switched, one of its levels lying across the die's
        threshold, so it is no longer counted unresponsive."""
        g_p, g_ap = maps_p.mean(axis=0), maps_ap.mean(axis=0)
        layout = self.chip.layout
        nominal = layout.nominal_g_p / layout.nominal_g_ap - 1.0
        with np.errstate(invalid="ignore", divide="ignore"):
            error = np.sqrt(
                (maps_p.var(axis=0, ddof=1) + maps_ap.var(axis=0, ddof=1)) / len(maps_p)
            )
            apart = (g_p - g_ap > 2 * MARGIN_SIGMAS * error) & (
                g_p / g_ap - 1.0 > MIN_CONTRAST * nominal
            )
        use = verified | (apart & ~self.left_out)
        self.threshold = np.where(use, 0.5 * (g_p + g_ap), self.threshold)
        for state, skip in self.unresponsive.items():
            self.unresponsive[state] = skip & ~use
        return use

    def _levels(self) -> tuple[list[Any], np.ndarray]:
        """Write AP and read the map :data:`NOISE_READS` times, then the same for P: the
        results of the four steps, and the devices both writes verified."""
        v = self.plan.read_voltage
        head = self._known()
        steps = [
            *head,
            self._write(CellState.AP, decide=False),
            ReadMap(v, NOISE_READS),
            self._write(CellState.P, decide=False),
            ReadMap(v, NOISE_READS),
        ]
        res = run_sequence(self.chip, self.array, steps)[len(head) :]
        verified = self._verified(CellState.AP, res[0]) & self._verified(CellState.P, res[2])
        self.known = res[3][-1]
        return res, verified

    def choose_decisions(self) -> DecisionRule | None:
        """Choose decision reads for this array (see the module docstring); ``None`` and
        precision reads where the chip cannot set its integration or the plan asks for none.
        """
        bound = self.plan.decision_bound
        if not bound or not sets_integration(self.chip):
            if cell_thresholds(self.chip):  # precision reads, each cell judged on its own
                res, verified = self._levels()
                self._own_thresholds(res[3], res[1], verified)
            return None
        v = self.plan.read_voltage
        res, verified = self._levels()
        use = verified
        g_ap, g_p = res[1].mean(axis=0), res[3].mean(axis=0)
        noise_p, n_p = read_noise(res[3] * v, use)
        noise_ap, n_ap = read_noise(res[1] * v, use)
        sigma_read = np.maximum(noise_p, noise_ap)  # one precision read, per line
        sigma_prec = sigma_read / np.sqrt(NOISE_READS)  # of the means
        if cell_thresholds(self.chip):
            use = self._own_thresholds(res[3], res[1], verified)

        def noise_at(t: float) -> tuple[np.ndarray, int]:
            maps = run_sequence(self.chip, self.array, [ReadMap(v, NOISE_READS, integration=t)])[0]
            self.known = maps[-1]
            return read_noise(maps * v, verified)

        cell_margins = margins(g_p, g_ap, use, self.threshold, v, sigma_prec)
        allowed = int(np.floor(self.plan.decision_exclude * use.size + 1e-9))
        self.rule = choose_integration(
            cell_margins,
            noise_at,
            bound=bound,
            allowed=allowed,
            precision_sigma=noise_upper(sigma_read, np.minimum(n_p, n_ap)),
            precision_margin=self.plan.precision_margin,
        )
        if np.ndim(self.threshold):
            self.rule = replace(self.rule, thresholds="per device")
        self.t_dec = self.rule.integration
        if self.rule.left_out:
            self.left_out[tuple(np.array(self.rule.left_out).T)] = True
        return self.rule
