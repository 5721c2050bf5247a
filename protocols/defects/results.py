"""What defect detection hands back: the thresholds it used and the per-device map."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mtj_hil.protocols.defects.codes import DefectCode


@dataclass(frozen=True)
class Thresholds:
    """Conductance thresholds (S) used to classify devices, and how they were obtained.

    Attributes:
        state_g: P above, AP below.
        short_g: a device above this after both writes is a short.
        open_g: a device below this after both writes is open.
        method: how the values were derived (recorded in run files).
        median_g_p, median_g_ap: population medians the thresholds were built from (S).
        sigma_ln_p, sigma_ln_ap: robust spread of ln G in each state.
    """

    state_g: float
    short_g: float
    open_g: float
    method: str
    median_g_p: float = float("nan")
    median_g_ap: float = float("nan")
    sigma_ln_p: float = float("nan")
    sigma_ln_ap: float = float("nan")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DefectMap:
    """Per-device result of defect detection on one array (or a stack of arrays).

    Attributes:
        g_p: mean conductance after P writes (S).
        g_ap: mean conductance after AP writes (S).
        codes: ``DefectCode`` per device (uint8), ``UNCERTAIN`` where unsettled.
        thresholds: the thresholds used (for the evidence classifier: a summary of its fit).
        confidence: posterior (0..1) of the reported class, or of the best guess where
            UNCERTAIN (None for the fixed-threshold classifier).
        best_guess: most probable class even where ``codes`` is UNCERTAIN.
        posterior: ``(..., 5)`` posterior over GOOD, SHORT, OPEN, STUCK_P, STUCK_AP.
        model: the fitted model and how it was derived.
        warnings: overlaps (by how much), missing or saturated readings, assumptions.
        overlap: the overlap figures the warnings quote.
        remeasured: what targeted re-measurement did (empty if none).
        bias_p, bias_ap: per-device bias signature ``ln(G(V_high) / G(V_low))`` after P and
            after AP writes (dimensionless), when a second read voltage was measured.
        resistive_open: OPEN devices that still conduct (above the hard open level): the
            resistive-open sub-class of OPEN (None for the fixed-threshold classifier).
    """

    g_p: np.ndarray
    g_ap: np.ndarray
    codes: np.ndarray
    thresholds: Thresholds
    confidence: np.ndarray | None = None
    best_guess: np.ndarray | None = None
    posterior: np.ndarray | None = None
    model: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    overlap: dict[str, float] = field(default_factory=dict)
    remeasured: dict[str, Any] = field(default_factory=dict)
    bias_p: np.ndarray | None = None
    bias_ap: np.ndarray | None = None
    resistive_open: np.ndarray | None = None

    def counts(self) -> dict[str, int]:
        """Number of devices per defect code name."""
        return {c.name: int((self.codes == c).sum()) for c in DefectCode}
