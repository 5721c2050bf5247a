"""The ``mtj-hil`` root command: its options, its commands (each imported when first used,
see :mod:`mtj_hil.cli.command_table`), and the mapping of errors to one line and an exit
code.

Errors become one readable line and a distinct exit code (see ``EXIT_CODES``); ``--debug``
shows the traceback before that line, with the same exit code.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import sys
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import click
from rich.text import Text

from mtj_hil.calibration.errors import CalibrationError
from mtj_hil.cli.command_table import COMMANDS, KIND_COMMANDS, LazyCommands, LazyGroup
from mtj_hil.cli.common import console, current_run, forget_run
from mtj_hil.cli.encoding import any_encoding
from mtj_hil.cli.repeated import refuse_conflicting_options
from mtj_hil.cli.run_report import report_missing
from mtj_hil.cli.tables import ReaderGone
from mtj_hil.errors import ConfigError, StoreError, command_line, typed_names_shown
from mtj_hil.instruments.bus.signals import StopSignal, stop_signals_raise
from mtj_hil.instruments.errors import InstrumentError, SafetyViolation
from mtj_hil.protocols.errors import OutsideLimits, ProtocolError
from mtj_hil.runs.store.resume import resume_command
from mtj_hil.training.errors import TrainingError

EXIT_CODES: dict[type[BaseException], int] = {
    OutsideLimits: 6,  # a protocol refusal that is a safety one: before ProtocolError
    ConfigError: 3,
    TrainingError: 3,
    StoreError: 4,
    ProtocolError: 5,
    SafetyViolation: 6,
    InstrumentError: 7,
    CalibrationError: 8,
}
"""Exit code per error family, the first that matches (1 = unexpected error, 2 = bad
command line; 6 = outside the safety envelope, also for a plan setting; a stop signal
gives 128 + its number: 130 Ctrl-C/SIGINT, 129 SIGHUP, 131 SIGQUIT, 143 SIGTERM; 141, as
for SIGPIPE, when the program reading the output closed it)."""


@click.group(
    cls=LazyGroup,
    commands=LazyCommands(COMMANDS, KIND_COMMANDS),
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="mtj-hil", prog_name="mtj-hil", help="Show the version.")
@click.option(
    "--debug",
    is_flag=True,
    help="Show the full traceback before the one-line error, same exit code (accepted "
    "anywhere on the line).",
)
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Instrument control, characterisation and measurement-driven training for MTJ
    crossbar test dies. Every command runs on a simulated die by default.

    Units: volts, amperes, siemens, ohms, seconds.
    """
    ctx.obj = {"debug": debug}


def split_debug(argv: list[str]) -> tuple[list[str], bool]:
    """``argv`` without ``--debug`` wherever it stands (before a ``--``), and whether it was
    there: ``--debug`` is accepted anywhere on the command line."""
    end = argv.index("--") if "--" in argv else len(argv)
    head = [a for a in argv[:end] if a != "--debug"]
    return head + argv[end:], len(head) != end


@contextmanager
def _one_line_warnings(debug: bool) -> Iterator[None]:
    """Warnings print as one ``warning: ...`` line (no source line) unless ``--debug``."""
    if debug:
        yield
        return
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
        console.print(
            Text.assemble(("warning", "yellow"), f" ({category.__name__}): {message}"),
            soft_wrap=True,
        )

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


def _interrupted(args: list[str], signal_name: str) -> None:
    """The one line after Ctrl-C or SIGTERM: what happened to the run file and how to
    finish it."""
    run = current_run()
    how = "interrupted" if signal_name == "SIGINT" else f"stopped by {signal_name}"
    if run is None and args[:2] == ["campaign", "run"]:  # every finished task is kept
        again = command_line(*[a for a in args if a != "--debug"])
        console.print(
            Text.assemble((how, "red"), f": run the campaign again to finish it: {again}"),
            soft_wrap=True,
        )
        return
    if run is None:
        console.print(Text(how, style="red"), soft_wrap=True)
        return
    if not run.exists():
        console.print(
            Text.assemble((how, "red"), f" before the run file {run} was written"), soft_wrap=True
        )
        return
    status = _run_status()
    if status == "completed":  # the signal came after the run's end: nothing to finish
        console.print(
            Text.assemble(
                (how, "red"),
                f" after the run file {run} was completed: its data are all kept "
                f"(see it with: {command_line('show', run)}){_report_hint(args)}",
            ),
            soft_wrap=True,
        )
        return
    if status == "running":  # stopped while the file was being made: nobody writes it now
        status = "interrupted"
    console.print(
        Text.assemble(
            (how, "red"),
            f": the run file {run} is {status}; finish it with: {resume_command(args, run)}",
        ),
        soft_wrap=True,
    )


def _report_hint(args: list[str]) -> str:
    """How to draw the report the command was stopped before drawing (its run completed),
    or ``""`` (no run, the report is there, or none was asked for)."""
    run = current_run()
    if run is None or "--no-report" in args or not report_missing(run):
        return ""
    return f"; draw its missing report with: {resume_command(args, run)}"


def _run_status() -> str | None:
    """The status recorded in the run file this command writes (``None``: no file)."""
    run = current_run()
    if run is None or not run.exists():
        return None
    with suppress(Exception):
        from mtj_hil.runs.store.runfile import RunFile

        with RunFile.open(run) as opened:
            return str(opened.status)
    return "?"


def _resume_after_instrument_error(args: list[str]) -> str:
    """After an instrument error: how to finish the run file this command left aborted, or
    ``""`` (no run file, or not aborted)."""
    run = current_run()
    if run is None or _run_status() != "aborted":
        return ""
    return f"; the run file {run} is aborted: once fixed, finish it with: " + resume_command(
        args, run
    )


_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EIO)
"""Errors of a write that failed for want of space or of a working disk."""


def _from_hdf5(exc: BaseException) -> bool:
    """Whether ``exc`` was raised inside h5py or the JSON decoder (a damaged or unreadable
    HDF5 file, or JSON stored in one)."""
    tb = exc.__traceback__
    last = ""
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return "h5py" in last or f"{os.sep}json{os.sep}" in last


def _load_command(args: list[str]) -> None:
    """Import the command ``args`` name (its module loads numpy, h5py, scipy ...: a second or
    two), before the stop signals raise (:func:`stop_signals_raise`): a stop meanwhile ends
    the process quietly (:mod:`mtj_hil.launch`), as one while ``mtj-hil`` loaded did when every
    command was imported with this module. An unknown name is left for click to refuse."""
    name = next((a for a in args if not a.startswith("-")), None)  # the root's options are flags
    if name is not None:
        cli.commands.get(name)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and map errors to one line and an exit code.

    Every message is printed as written (never read as markup); a traceback is shown only
    with ``--debug`` (anywhere on the command line).
    """
    args, debug = split_debug(list(sys.argv[1:] if argv is None else argv))
    if debug:
        args = ["--debug", *args]
    _load_command(args)
    if sys.stdout is None:
        # started with its output closed (``>&-``): Python then drops every line unseen, so
        # a listing or a summary would be lost behind exit 0
        console.print("error: the standard output is closed; send it to a file or /dev/null")
        return 4
    any_encoding()  # a die id 'wafer-µ1' on an ASCII terminal: escaped, not a crash
    forget_run()
    with stop_signals_raise(), _one_line_warnings(debug):
        try:
            refuse_conflicting_options(cli, args)
            code = cli.main(args=args, prog_name="mtj-hil", standalone_mode=False)
        except (click.exceptions.Abort, KeyboardInterrupt) as exc:
            # click turns KeyboardInterrupt (StopSignal is one) into Abort, keeping the cause
            cause = exc if isinstance(exc, KeyboardInterrupt) else exc.__cause__ or exc.__context__
            stop = cause if isinstance(cause, StopSignal) else None
            _interrupted(args, stop.name if stop else "SIGINT")
            return stop.exit_code if stop else 130
        except SystemExit:
            # click's own answer to a closed pipe (help text, click.echo): it wraps stdout
            # to keep it quiet and exits 1; that is a reader gone, not an error
            if "PacifyFlushWrapper" not in type(sys.stdout).__name__:
                raise
            return 128 + signal.SIGPIPE
        except (ReaderGone, BrokenPipeError):
            with suppress(OSError, ValueError):  # nothing more reaches the closed pipe
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 128 + signal.SIGPIPE  # as a command the signal stopped: 141, no message
        except click.ClickException as exc:
            exc = _missing_choice(exc)
            exc.show()
            return exc.exit_code
        except Exception as exc:
            if debug:  # the traceback as well, and the same exit code as without --debug
                traceback.print_exc()
            code = next((c for t, c in EXIT_CODES.items() if isinstance(exc, t)), 1)
            text = str(exc) if str(exc).strip() else repr(exc)
            if code == 1 and isinstance(exc, OSError) and exc.filename and not _from_hdf5(exc):
                # a file the command reads or writes (an output folder that cannot be made,
                # a file that cannot be written): named, with the system's reason
                code = 4
                text = f"cannot use {exc.filename}: {exc.strerror or text}{_report_hint(args)}"
            if code == 1 and isinstance(exc, OSError) and exc.errno in _FULL and not exc.filename:
                # the output (stdout to a full disk, a quota) or a file that names itself not
                code, text = 4, f"cannot write: {exc.strerror or text}"
            if code == 1 and _from_hdf5(exc):
                # an HDF5 read or write that failed outside a reader that names its file
                run = current_run()
                code, text = 4, f"{run or 'a run file'}: HDF5 error: {text}"
            if code == 7:
                text += _resume_after_instrument_error(args)
            text = one_line(typed_names_shown(text, args))  # a typed line break: as '\n'
            line = Text.assemble(("error", "red"), f" ({type(exc).__name__}): {text}")
            declared = getattr(type(exc), "exit_code", None)
            if isinstance(declared, int):
                code = declared
            elif code == 1 and not debug:
                line.append(" (unexpected; --debug shows the traceback)")
            console.print(line, highlight=False, soft_wrap=True)
            return code
        finally:
            forget_run()
    return code if isinstance(code, int) else 0


def _missing_choice(exc: click.ClickException) -> click.ClickException:
    """A missing option of fixed choices as a one-line usage error, ``Missing option
    '--format' (choose from netcdf, csv, nexus)`` (click lists the choices one a line);
    any other error as it is."""
    param = getattr(exc, "param", None)
    if not isinstance(exc, click.MissingParameter) or param is None:
        return exc
    if not isinstance(param.type, click.Choice):
        return exc
    kind = exc.param_type or param.param_type_name
    choices = ", ".join(str(c) for c in param.type.choices)
    hint = param.get_error_hint(exc.ctx)
    return click.UsageError(f"Missing {kind} {hint} (choose from {choices})", exc.ctx)


def one_line(text: str) -> str:
    """``text`` on one line: each run of whitespace holding a line break or a tab becomes one
    space (a multi-line message stays one error line); runs of plain spaces, as in a file
    name, are kept as written."""
    return re.sub(r"\s*[^\S ]\s*", " ", text).strip()


if __name__ == "__main__":
    sys.exit(main())
