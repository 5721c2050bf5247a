"""A station's exit: the controller board reset, every SMU switched off, and what of it was
confirmed.

:func:`shut_down` tries every step whatever the others did, and a Ctrl-C or stop signal that
arrives during one (a bus transaction holds it until its end, e.g. until a dead board's
``RST`` has timed out) is kept until every step has been tried
(:class:`~mtj_hil.instruments.bus.signals.HeldInterrupt`):

1. the board's ``RST``. Its reply is what confirms the lines: the board sends it only once it
   is in the safe state, routes off, both masks cleared and every read voltage at 0 V
   (``docs/chip-protocol.md`` section 3, RST). A board that does not answer confirms nothing:
   a hung firmware may still hold its routes and read voltages.
2. each SMU's shutdown: ramp to 0 V, output off, output state read back
   (:meth:`~mtj_hil.instruments.smu.lifecycle.SmuLifecycle.shutdown`). The read-back is
   the instrument's own output state: ``:OUTPut[1][:STATe]?`` on the 2400 (*2400 Series
   SourceMeter User's Manual* 2400S-900-01, section 18 "SCPI Command Reference", OUTPut
   subsystem: off is standby, measurements cannot be made) and the 2450 (*Model 2450
   Reference Manual* 2450-901-01, section 6, ``:OUTPut[1][:STATe]``), ``smuX.source.output``
   on the 2600 (*Series 2600B Reference Manual* 2600BS-901-01, TSP command reference). The
   channels of a two-channel unit the station does not use are checked off again.
3. the board's port closed.

:class:`ShutdownReport` keeps what was confirmed; its :meth:`~ShutdownReport.message` is what
the operator reads when the bench could not be confirmed safe: what was and was not
confirmed, and what to check by hand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from mtj_hil.instruments.bus.signals import HeldInterrupt
from mtj_hil.instruments.controller import ControllerError

__all__ = ["ShutdownReport", "shut_down"]

log = logging.getLogger(__name__)

BOARD_CHECK = (
    "Before touching the die or its probes, check the board's power supply and its USB/serial "
    "cable, then power-cycle the board: it powers up with every route off and every line at "
    "0 V (docs/chip-protocol.md section 9.4)"
)
SMU_CHECK = "switch its output off at the instrument (OUTPUT key) and check its cable"


@dataclass
class ShutdownReport:
    """What a station's shutdown confirmed.

    Attributes:
        board: the controller board's port (names it in messages).
        board_problem: ``None`` when the board answered ``RST`` (its lines confirmed at
            0 V, routes off), else why it did not (the error, or ``"interrupted"``).
        smu_off: per SMU role, whether its output (and, on a two-channel unit, the channels
            the station does not use) was read back off.
    """

    board: str
    board_problem: str | None = "not tried"
    smu_off: dict[str, bool] = field(default_factory=dict)

    @property
    def board_safe(self) -> bool:
        """The board confirmed its lines at 0 V (it answered ``RST``)."""
        return self.board_problem is None

    @property
    def safe(self) -> bool:
        """The board confirmed its lines at 0 V and every SMU output was confirmed off."""
        return self.board_safe and all(self.smu_off.values())

    def message(self, during: BaseException | None = None) -> str:
        """One paragraph for the operator: what was not confirmed, what was, what to check
        by hand, and (``during``) the error the shutdown followed."""
        parts: list[str] = []
        on = [role for role, off in self.smu_off.items() if not off]
        off = [role for role, off in self.smu_off.items() if off]
        if not self.board_safe:
            parts.append(
                f"the controller board ({self.board}) did NOT confirm its lines at 0 V at "
                f"shutdown (RST: {self.board_problem}): its input lines may still be enabled "
                "and driven"
            )
        if on:
            parts.append(
                f"the output of SMU {', '.join(on)} was NOT confirmed off at shutdown: " + SMU_CHECK
            )
        if off:
            parts.append(f"the SMU outputs were switched off and read back off ({', '.join(off)})")
        elif not self.smu_off:
            parts.append("the station has no SMU")
        if self.board_safe:
            parts.append("the board confirmed its lines at 0 V (RST answered)")
        text = "; ".join(parts) + "."
        if not self.board_safe:
            text += " " + BOARD_CHECK + "."
        if during is not None:
            reason = " ".join(str(during).split()) or type(during).__name__
            text += f" The shutdown followed: {type(during).__name__}: {reason}"
        return text


def shut_down(controller: Any, smus: dict[str, Any], hold: HeldInterrupt) -> ShutdownReport:
    """Reset the board, shut every SMU down, close the board's port; every step is tried.

    Args:
        controller: the board's driver (``reset``, ``close``, ``port_name``).
        smus: SMU drivers by role.
        hold: keeps a Ctrl-C (or stop signal) arriving meanwhile; the caller releases it.

    Returns:
        what was confirmed (see the module docstring). Failures are logged; nothing is
        raised except what ``hold`` does not keep.
    """
    report = ShutdownReport(str(getattr(controller, "port_name", "controller")))
    report.board_problem = _reset_board(controller, hold, report.board)
    for role, smu in smus.items():
        result: object = None
        try:
            with hold:
                result = smu.shutdown()
        except Exception as exc:  # noqa: BLE001 - a driver that breaks its promise not to raise
            log.warning("SMU %s shutdown failed: %s", role, exc)
        confirmed = (
            bool(result) if result is not None else bool(getattr(smu, "off_confirmed", False))
        )
        report.smu_off[role] = confirmed
        if not confirmed:
            log.warning("SMU %s: output-off NOT confirmed after shutdown", role)
    try:
        with hold:
            controller.close()
    except Exception as exc:  # noqa: BLE001
        log.warning("controller close failed during shutdown: %s", exc)
    return report


def _note(message: str, *args: object) -> None:
    """Log a warning that :meth:`ShutdownReport.message` also says, only when a handler
    takes it (during a run, the run file's timeline). Outside a run there is none, and
    logging's last-resort handler would print it on the terminal beside the error or
    warning that already says it."""
    if log.hasHandlers():
        log.warning(message, *args)


def _reset_board(controller: Any, hold: HeldInterrupt, port: str) -> str | None:
    """``RST``; ``None`` once the board answered, else why not. A reset cut short by Ctrl-C
    (the interrupt held by the bus until the transaction ended, so its answer was never
    read) is sent once more, the interrupt kept: a board that answers is then confirmed.
    A reset that failed is sent once more when the board answered it with an error (it is
    alive and listening: docs/chip-protocol.md section 3, RST aborts whatever runs) or when
    the port itself was lost under it (reopened first, :meth:`ControllerLink.reopen`); not
    after a timeout (a hung board would only make the exit wait longer)."""
    interrupted = 0
    failed = False
    while True:
        try:
            with hold:
                controller.reset()
                return None
        except Exception as exc:  # noqa: BLE001 - shutdown must reach every instrument
            _note("controller reset failed during shutdown: %s", exc)
            text = (" ".join(str(exc).split()) or type(exc).__name__).removeprefix(f"{port}: ")
            if failed or not _try_again(controller, exc, hold):
                return text
            failed = True
            continue
        interrupted += 1
        _note("controller reset interrupted (Ctrl-C) during shutdown")
        if interrupted == 2:
            return "interrupted (Ctrl-C) twice before its answer was read"


def _try_again(controller: Any, exc: Exception, hold: HeldInterrupt) -> bool:
    """Whether a failed ``RST`` is worth a second one: the board refused it (an ``ERR``
    reply), or the port was lost and could be reopened."""
    if isinstance(exc, ControllerError):
        return True
    if not getattr(controller, "link_lost", False) or not hasattr(controller, "reopen"):
        return False
    try:
        with hold:
            controller.reopen()
            return True
    except Exception as reopen_failed:  # noqa: BLE001 - the first failure is what is said
        _note("controller port could not be reopened during shutdown: %s", reopen_failed)
    return False
