"""The command that finishes an unfinished run file, said the same way by every command
that meets one (``mtj-hil show``, an interrupted command, training or fitting refusing it)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mtj_hil.errors import command_line, shell_word

# commands whose run files finish with their own command line plus ``--resume``
_RESUMABLE = ("characterize", "switching")


def resume_command(args: list[str], run: Path) -> str:
    """The command line that finishes ``run``: ``args`` (one command's arguments, after
    ``mtj-hil``), with ``--out run --resume`` added where missing. An ``--out`` naming
    another file (the run file was moved, renamed or copied since the command recorded in it
    ran) is replaced by ``run``."""
    args = list(args)
    for i, arg in enumerate(args):
        if arg == "--out" and i + 1 < len(args):
            if not _same_file(args[i + 1], run):
                args[i + 1] = str(run)
            break
        if arg.startswith("--out="):
            if not _same_file(arg.removeprefix("--out="), run):
                args[i] = f"--out={run}"
            break
    else:
        args += ["--out", str(run)]
    if "--resume" not in args:
        args.append("--resume")
    return command_line(*args)


def _same_file(given: str, run: Path) -> bool:
    try:
        return Path(given).resolve() == Path(run).resolve()
    except (OSError, RuntimeError, ValueError):
        return False


def resume_hint(attrs: Mapping[str, Any], path: str | Path) -> str:
    """The command that finishes the run file at ``path``, from its root attributes
    ``attrs``: its own recorded command line with ``--out`` and ``--resume`` (so the die
    options it was made with come along), or the campaign that made it; when the file
    records no usable command, the bare command and a note to add the die options. A
    training run (kind ``network``) is not resumed: the hint says to delete the unfinished
    file and train again with its recorded command."""
    path = Path(path)
    try:
        tokens = shlex.split(str(attrs.get("command", "")))
    except ValueError:
        tokens = []
    if attrs.get("kind") == "network":  # a training run is saved at its end, never resumed
        again = next(
            (command_line(*tokens[i:]) for i, t in enumerate(tokens) if t == "train"),
            "mtj-hil train ... (the options it was made with)",
        )
        return f"delete {_with_debris(path)} and train again: {again}"
    for i, token in enumerate(tokens):
        if token in _RESUMABLE:
            args = [t for t in tokens[i:] if t != "--debug"]
            return resume_command(args, path)
        if token == "campaign":
            return command_line(*tokens[i:])
    command = "characterize" if attrs.get("kind") == "characterization" else "switching"
    return (
        f"{command_line(command, '--out', path, '--resume')} "
        "(with the die options it was made with)"
    )


REFUSED_DATA = "ProtocolError: refusing to classify"
"""How the status reason of a run whose measured data the classifier refused begins."""


def refused_data(attrs: Mapping[str, Any]) -> bool:
    """Whether the run (its root ``attrs``) failed because its measured data were refused
    (reads at the noise floor, nothing switched): a resume classifies the same data again."""
    reason = str(attrs.get("status_reason", "") or "")
    return str(attrs.get("status", "")) == "failed" and reason.startswith(REFUSED_DATA)


def finish_hint(attrs: Mapping[str, Any], path: str | Path) -> str:
    """How an unfinished run gets finished: ``"finish it with: <resume command>"``; while
    a live process still writes it, that it is being written (its resume would be refused:
    the writer holds the file); for data the classifier refused, to measure again (a resume
    would refuse them again)."""
    from mtj_hil.runs.store.lease import writer_active

    if writer_active(Path(path)):
        return "it is being written now; wait for its writer to finish"
    if refused_data(attrs):
        return (
            "a resume would refuse its data again (they are what its plan measured): measure "
            f"again with other settings into another --out, or remove {shell_word(path)}"
        )
    return f"finish it with: {resume_hint(attrs, path)}"


def _with_debris(path: Path) -> str:
    """``path`` (quoted for a shell) and, when its writer left one, its journal folder of
    flushed parts, which a new file of that name would find and set aside as orphaned."""
    from mtj_hil.runs.store.journal import parts_dir

    parts = parts_dir(path)
    if not parts.exists():
        return shell_word(path)
    return f"{shell_word(path)} and its journal {shell_word(parts)}"
