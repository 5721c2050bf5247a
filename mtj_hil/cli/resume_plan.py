"""What a ``--resume`` compares with its run file: the plan and layout stored in it, and
the options given now that would change that plan (refused, naming each as it is typed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mtj_hil.errors import StoreError, blank_edge_hint


def stored_run(out: Path, kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The plan and the layout recorded in the ``kind`` run file ``out`` (its datasets read
    and checked first).

    Raises:
        StoreError: the file does not exist, another process writes it now, it is damaged,
            is not a run file of ``kind``, or holds no usable plan.
    """
    import json

    from mtj_hil.runs.store.lease import refuse_if_written
    from mtj_hil.runs.store.runfile import RunFile
    from mtj_hil.runs.store.verify import verify_run_file

    if not out.exists() and not out.is_symlink():
        raise StoreError(
            f"{out} does not exist{blank_edge_hint(out)}: --resume finishes an interrupted run file (check the "
            "path); to start a new run there, leave out --resume"
        )
    refuse_if_written(out)  # another process finishes it now
    # a damaged file is named before anything is resumed; journal parts that do not verify
    # are not damage of the file: the resume sets them aside and measures their arrays again
    verify_run_file(out, parts=False)
    with RunFile.open(out, kind=kind) as run:
        raw_plan, raw_layout = run.h5.attrs.get("plan"), run.h5.attrs.get("layout")
        for key in ("station", "resumed"):
            try:
                json.loads(run.h5.attrs.get(key, "{}") or "{}")
            except (TypeError, ValueError) as exc:
                raise StoreError(f"{out}: its {key} attribute is malformed ({exc})") from exc
    try:
        plan = json.loads(raw_plan) if raw_plan else None
        layout = json.loads(raw_layout) if raw_layout else {}
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{out}: its plan or layout attribute is malformed ({exc})") from exc
    if not plan or not isinstance(plan, dict) or not isinstance(layout, dict):
        raise StoreError(f"{out} records no usable plan; it cannot be resumed")
    _stored_plan(kind).refuse_resume(out, plan)
    if "n_arrays" not in layout:
        raise StoreError(f"{out} records no die layout (n_arrays); it cannot be resumed")
    return plan, layout


def _stored_plan(kind: str) -> Any:
    """What a stored plan of ``kind`` holds (its store's ``PLAN``, a ``PlanRecord``)."""
    from mtj_hil.kinds import file_kind
    from mtj_hil.runs.store.sink import RunSink

    measurement = file_kind(kind)
    store = measurement.piece("store") if measurement is not None else None
    return getattr(store, "PLAN", RunSink.PLAN)


def _same(a: Any, b: Any) -> bool:
    import math

    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-15)
    return a == b


def _shown(value: Any) -> str:
    """A plan value as its option takes it (``0:1:2,3:4:5`` for devices)."""
    if (
        isinstance(value, list | tuple)
        and value
        and all(isinstance(v, list | tuple) for v in value)
    ):
        return ",".join(":".join(_shown(x) for x in v) for v in value)
    if isinstance(value, list | tuple):
        return ",".join(_shown(v) for v in value) or "(none)"
    if value is None:
        return "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def refuse_changed_plan(
    out: Path,
    requested: dict[str, Any],
    stored: dict[str, Any],
    unrecorded: dict[str, str] | None = None,
) -> None:
    """Refuse a ``--resume`` whose options (``requested``: option name -> value, only those
    given on the command line) differ from the plan stored in the run file.

    Args:
        unrecorded: options an older run file cannot hold -> what it predates (e.g. "the
            die's nominal write pulse"); such an option is refused as not comparable with
            the old file, not as a sign of damage.

    Raises:
        click.UsageError: naming each differing option, its value and the stored one, or
            the options an old file cannot be compared on (drop them to finish the run).
        StoreError: the stored plan lacks an option it should hold (damaged, or another
            kind of run).
    """
    unrecorded = unrecorded or {}
    old = [name for name in requested if name not in stored and name in unrecorded]
    if old:
        given = " and ".join(f"--{n.replace('_', '-')} {_shown(requested[n])}" for n in old)
        what = " and ".join(dict.fromkeys(unrecorded[n] for n in old))
        them = "it" if len(old) == 1 else "them"
        raise click.UsageError(
            f"{out} was written before run files recorded {what}, so {given} cannot be "
            f"compared with the plan the run was started with. Drop {them}: --resume "
            f"finishes the run with its stored plan (or start a new run file to use {them})."
        )
    lacking = [name for name in requested if name not in stored]
    if lacking:
        raise StoreError(
            f"{out}: its stored plan lacks {', '.join(lacking)} (damaged, or another kind of "
            "run); it cannot be resumed"
        )
    diffs = [
        f"--{name.replace('_', '-')} {_shown(value)} (stored: {_shown(stored[name])})"
        for name, value in requested.items()
        if not _same(value, stored[name])
    ]
    if diffs:
        raise click.UsageError(
            f"--resume finishes {out} with the plan it was started with; these options "
            f"differ from it: {'; '.join(diffs)}. Drop them to finish the run as planned, or "
            "start a new run file."
        )
