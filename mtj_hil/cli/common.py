"""What the die-measuring commands (``characterize``, ``switching``) share: the options that
choose the die and the run file, opening that die (simulated or through a station), the run
file's default name, and the progress bar over arrays."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource
from rich.markup import escape
from rich.progress import Progress

from mtj_hil.cli.labels import checked_label
from mtj_hil.cli.paths import GivenPath
from mtj_hil.cli.progress_display import make_progress
from mtj_hil.cli.tables import make_console
from mtj_hil.errors import ConfigError, StoreError, command_line, counted
from mtj_hil.schema.ranges import range_part

if TYPE_CHECKING:
    from mtj_hil.protocols.chip import Chip
    from mtj_hil.sim.profile import DeviceProfile
    from mtj_hil.station.config import Station

console = make_console(stderr=True)

_RUN: dict[str, Path] = {}


def note_run(path: Path) -> None:
    """Remember the run file this command writes, so an interruption can name it and the
    command that finishes it."""
    _RUN["path"] = Path(path)


def current_run() -> Path | None:
    """The run file this command writes (see :func:`note_run`), if any."""
    return _RUN.get("path")


def forget_run() -> None:
    _RUN.clear()


def die_options(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Click options choosing the die and the run file of a ``kind`` run: ``--profile``,
    ``--lot-seed``, ``--die``, ``--station``, ``--die-id``, ``--out`` and ``--resume``
    (passed as ``profile``, ``lot_seed``, ``die_index``, ``station``, ``die_id``, ``out``,
    ``resume``)."""
    options = (
        click.option(
            "--profile",
            default="1t1r-20k",
            show_default=True,
            help="Die profile: a shipped name (see 'mtj-hil profiles') or a TOML file.",
        ),
        click.option(
            "--lot-seed",
            default=0,
            show_default=True,
            type=click.IntRange(min=0),
            help="Seed of the simulated lot the die comes from.",
        ),
        click.option(
            "--die",
            "die_index",
            default=None,
            type=click.IntRange(min=0),
            help="Index of the die in the simulated lot [default: 0; with a virtual-lab "
            "station: the station's die].",
        ),
        click.option(
            "--station",
            type=GivenPath(dir_okay=False, path_type=Path),
            default=None,
            help="Station file (TOML): measure through real or virtual-lab instruments "
            "instead of the in-process simulator.",
        ),
        click.option(
            "--die-id",
            default=None,
            callback=checked_label,
            help="Label of the die on a real station (e.g. WAFER3-DIE17); required there.",
        ),
        click.option(
            "--out",
            type=GivenPath(dir_okay=False, path_type=Path),
            default=None,
            help=f"Run file to write (HDF5). Default: runs/{kind}-<die>-<time>.h5",
        ),
        click.option(
            "--resume",
            is_flag=True,
            help="Finish an interrupted run file given by --out (same die).",
        ),
    )

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


@dataclass(frozen=True)
class DieSource:
    """The die a command measures: a station's (``station`` set) or a simulated lot's.

    ``seed`` is the simulated lot seed recorded in the run file (None on a station).
    """

    die_id: str
    seed: int | None
    station: Station | None = None
    profile: DeviceProfile | None = None
    die_index: int = 0


def choose_die(
    profile: str,
    lot_seed: int,
    die_index: int | None,
    station: Path | None,
    die_id: str | None,
) -> DieSource:
    """Resolve the die options to the die to measure (nothing is opened yet).

    Raises:
        click.UsageError: a real station without ``--die-id``, ``--die-id`` without a
            station (a simulated die's id is its profile, lot seed and index), or an option
            the station rules out given on the command line (``--profile`` or ``--lot-seed``
            with any station, ``--die`` with a real one): the station file names its die.
        ConfigError: the station file or profile cannot be loaded.
    """
    from mtj_hil.sim.die import simulated_die_id  # imports numpy and scipy: not at start-up

    if station is not None:
        from mtj_hil.station.files import load_station, with_virtual_die

        where = "its [die] profile and [virtual_lab] lot_seed; --die picks another die of that lot"
        _refuse_given({"profile": profile, "lot_seed": lot_seed}, where)
        st = load_station(station)
        if st.virtual_lab is None:
            _refuse_given({"die_index": die_index}, "a real die: label it with --die-id")
        elif not st.picks_its_die:
            _refuse_given(
                {"die_index": die_index},
                f"the die served at {st.controller.url} (--die picks a die only when the "
                "controller url is 'virtual')",
            )
        if st.virtual_lab is not None:
            if die_index is not None:
                st = with_virtual_die(st, die_index)
            lab = st.virtual_lab
            die_id = die_id or simulated_die_id(st.profile.name, lab.lot_seed, lab.die)
        elif die_id is None:
            raise click.UsageError("--die-id is required on a real station (label the die)")
        return DieSource(die_id=die_id, seed=None, station=st)
    if die_id is not None:  # it would be ignored: the simulated die has its own id
        raise click.UsageError(
            f"--die-id {die_id} labels a die on a --station; a simulated die is named by "
            "--profile, --lot-seed and --die (its id is recorded for you): drop --die-id"
        )
    from mtj_hil.sim.profile import load_profile

    try:
        prof = load_profile(profile)
    except ConfigError as exc:
        text = str(exc)  # a file's message names it already: the path once, not twice
        raise ConfigError(text if profile in text else f"--profile {profile!r}: {text}") from exc
    die_index = 0 if die_index is None else die_index
    return DieSource(
        die_id=simulated_die_id(prof.name, lot_seed, die_index),
        seed=lot_seed,
        profile=prof,
        die_index=die_index,
    )


_FLAGS = {"profile": "--profile", "lot_seed": "--lot-seed", "die_index": "--die"}


def _refuse_given(values: dict[str, Any], what: str) -> None:
    """Refuse any of ``values`` (parameter name -> value) the user gave on the command line
    (not left at its default) beside ``--station``, whose file chooses the die (``what``)."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return
    for name, value in values.items():
        source = ctx.get_parameter_source(name)
        if source in (None, ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP):
            continue
        flag = _FLAGS[name]
        raise click.UsageError(
            f"{flag} {value} chooses a simulated die, but with --station the station file "
            f"chooses the die ({what}): drop {flag}, or edit the station file"
        )


def choose_run(
    kind: str,
    profile: str,
    lot_seed: int,
    die_index: int | None,
    station: Path | None,
    die_id: str | None,
    out: Path | None,
    resume: bool,
) -> tuple[DieSource, Path]:
    """The die (see :func:`choose_die`) and the run file (``out``, or :func:`default_out`)
    of a ``kind`` run, before anything is opened.

    Raises:
        click.UsageError: a real station without ``--die-id``.
        ConfigError: the station file or profile cannot be loaded.
        StoreError: the run file exists and this is not a ``--resume``.
    """
    source = choose_die(profile, lot_seed, die_index, station, die_id)
    target = out or default_out(kind, source.die_id)
    refuse_existing(target, resume)
    note_run(target)
    return source, target


@contextmanager
def open_die(source: DieSource) -> Iterator[Chip]:
    """The chip of ``source``: the station opened (and closed after the block; a virtual
    lab's modelled time is printed when the block succeeds) or the simulated die."""
    if source.station is None:
        from mtj_hil.sim.chip import SimulatedChip

        assert source.profile is not None and source.seed is not None
        yield SimulatedChip.from_lot(source.profile, source.seed, source.die_index)
        return
    from mtj_hil.station.connect import open_station

    with open_station(source.station) as chip:
        yield chip
        running = getattr(chip, "lab", None)
        if running is not None:
            console.print(
                escape(
                    f"virtual lab: modelled lab time {running.clock.now:.1f} s over "
                    f"{counted(running.clock.transactions, 'bus transaction')}"
                ),
                soft_wrap=True,
            )


def default_out(kind: str, die_id: str) -> Path:
    """``runs/<kind>-<die>-<time>.h5``, the die label reduced to file-name characters."""
    from mtj_hil.runs.jobs.common import default_run_path

    return default_run_path(kind, die_id)


def refuse_existing(out: Path, resume: bool) -> None:
    """Refuse, before any die or instrument is opened, a run file another process writes
    now (naming it), one that exists without ``--resume`` (the message offers ``--resume``
    only for a run that is not completed), a ``--resume`` of a completed one, and a new
    run file whose folder cannot exist or whose name or path is too long.

    Raises:
        StoreError: as above.
    """
    if not out.exists():
        if not resume:  # a place no run file can be made: said before the bench is opened
            from mtj_hil.runs.store.lease import run_file_place

            run_file_place(out)
        return
    from mtj_hil.runs.store import RunFile
    from mtj_hil.runs.store.lease import refuse_if_written
    from mtj_hil.runs.store.resume import finish_hint, refused_data

    refuse_if_written(out)  # before the bench is opened for a resume of it

    try:
        with RunFile.open(out) as run:
            status, attrs = run.status, run.attrs
    except StoreError as exc:
        if not resume:  # (--resume would say the same)
            raise StoreError(
                f"{out} already exists and is no run this command can finish ({exc}); "
                "choose another --out"
            ) from None
        status, attrs = "", {}
    if status == "completed":
        if resume:
            raise StoreError(
                f"{out} is already completed; nothing to resume (see it with: "
                f"{command_line('show', out)}; measure again with another --out)"
            )
        raise StoreError(f"{out} already exists, a completed run; choose another --out")
    if refused_data(attrs) and not resume:  # (a resume classifies the same data again)
        raise StoreError(
            f"{out} already exists, a run whose data were refused; {finish_hint(attrs, out)}"
        )
    if not resume:
        raise StoreError(f"{out} already exists; choose another --out, or finish it with --resume")


def progress_bar() -> Progress:
    """A rich progress bar on stderr (description, bar, done of total, time elapsed)."""
    return make_progress(console, 10)


@contextmanager
def array_progress(n_arrays: int) -> Iterator[Callable[[int, int, int], None]]:
    """A progress bar over arrays; yields the ``progress(done, total, array)`` callback the
    die procedures call after each array."""
    with progress_bar() as bar:
        task = bar.add_task("arrays", total=n_arrays)

        def progress(done: int, total: int, array: int) -> None:
            bar.update(task, completed=done, total=total, description=f"array {array}")

        yield progress


def parse_arrays(text: str | None, n_arrays: int) -> tuple[int, ...]:
    """Parse an array selection such as ``"0-7,12"`` (``None`` = all arrays); each range is
    checked against the die before it is expanded, so a typo cannot take the memory.

    Raises:
        ConfigError: malformed text, a reversed range or an array not on the die.
    """
    if text is None:
        return tuple(range(n_arrays))
    chosen: dict[int, None] = {}  # ordered, without duplicates: at most n_arrays entries
    for first, last in array_ranges(text):
        if first < 0 or last >= n_arrays:
            raise ConfigError(f"--arrays {text!r}: arrays must lie in 0..{n_arrays - 1}")
        chosen.update(dict.fromkeys(range(first, last + 1)))
    return tuple(chosen)


def array_ranges(text: str) -> list[tuple[int, int]]:
    """The ``(first, last)`` ranges of an array selection such as ``"0-7,12"``, not
    expanded and not checked against a die (the ``--arrays`` text alone).

    Raises:
        ConfigError: malformed text or a reversed range.
    """
    ranges = []
    for part in text.split(","):
        try:
            ranges.append(range_part(part))
        except ValueError as exc:
            if "backwards" in str(exc):
                raise ConfigError(f"--arrays {text!r}: {exc}") from exc
            raise ConfigError(f"--arrays {text!r} is not a list like '0-7,12' ({exc})") from exc
    return ranges


def given_options(names: tuple[str, ...]) -> list[str]:
    """Which of the current command's parameters ``names`` were typed on the command line
    (not left at their defaults)."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    return [n for n in names if ctx.get_parameter_source(n) == ParameterSource.COMMANDLINE]


def spell_option(name: str, value: object) -> str:
    """A plan setting as its option is typed: ``--probe-trials 20``, ``--no-adaptive``."""
    option = "--" + name.replace("_", "-")
    if isinstance(value, bool):
        return option if value else option.replace("--", "--no-", 1)
    return f"{option} {value}"


def unfinished(path: Path, attrs: dict[str, Any] | None = None) -> str:
    """What finishes an unfinished run (its root ``attrs``): its resume; while a live
    process still writes it, only waiting (a resume would be refused: the writer holds the
    file); for data the classifier refused, measuring again (:func:`finish_hint`)."""
    from mtj_hil.runs.store.lease import writer_active
    from mtj_hil.runs.store.resume import finish_hint, refused_data

    if writer_active(path):
        return "it is being measured now; see it again once its writer has finished"
    if attrs is not None and refused_data(attrs):
        return finish_hint(attrs, path)
    return "resume the run to finish it"
