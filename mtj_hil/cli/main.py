"""The ``mtj-hil`` root command: its options, the registration of every command group, and
the mapping of errors to one line and an exit code.

Errors become one readable line and a distinct exit code (see ``EXIT_CODES``); ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import sys

import click
from rich.markup import escape

from mtj_hil.calibration.errors import CalibrationError
from mtj_hil.cli.common import (
    console,
)
from mtj_hil.errors import ConfigError, StoreError
from mtj_hil.instruments.errors import InstrumentError, SafetyViolation
from mtj_hil.protocols.errors import ProtocolError

EXIT_CODES: dict[type[BaseException], int] = {
    ConfigError: 3,
    StoreError: 4,
    ProtocolError: 5,
    SafetyViolation: 6,
    InstrumentError: 7,
    CalibrationError: 8,
}
"""Exit code per error family (1 = unexpected error, 2 = bad command line, 130 = Ctrl-C)."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Instrument control, characterisation and measurement-driven training for MTJ
    crossbar test dies. Every command runs on a simulated die by default.

    Units: volts, amperes, siemens, ohms, seconds.
    """
    ctx.obj = {"debug": debug}


def _register_commands() -> None:
    """Attach every command: each measurement kind's (from the kind registry), then the rest."""
    from mtj_hil.cli.calibration import calibrate, calibration
    from mtj_hil.cli.campaign import campaign
    from mtj_hil.cli.characterize import demo
    from mtj_hil.cli.experiments import evaluate, experiment, train
    from mtj_hil.cli.lab import lab
    from mtj_hil.cli.show import profiles, show
    from mtj_hil.cli.station import station
    from mtj_hil.cli.switching import fit_profile_command
    from mtj_hil.kinds import measurement_kinds

    for kind in measurement_kinds().values():
        cli.add_command(kind.piece("command"))
    for command in (
        show,
        demo,
        profiles,
        lab,
        experiment,
        train,
        evaluate,
        calibrate,
        calibration,
        campaign,
        station,
        fit_profile_command,
    ):
        cli.add_command(command)


_register_commands()


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and map errors to one line and an exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="mtj-hil", standalone_mode=False)
    except click.exceptions.Abort:
        console.print("[red]interrupted[/]")
        return 130
    except KeyboardInterrupt:
        console.print(
            "[red]interrupted[/]: the run file (if any) is marked aborted; finish it with --resume"
        )
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except Exception as exc:
        if debug:
            raise
        code = next((c for t, c in EXIT_CODES.items() if isinstance(exc, t)), 1)
        name = type(exc).__name__
        # escaped: messages name profile sections as [section], which rich would eat
        console.print(
            f"[red]error[/] ({name}): {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
