"""Campaign kind ``characterize``: one characterisation run file per die.

Keys of a ``[[task]]`` group of this kind:

- simulated lot: ``profile`` (default ``1t1r-20k``; a profile file is taken from the
  campaign file's folder), ``lot_seed`` (0), ``dies`` (``"0-35"`` or a list of indices;
  required);
- a station instead: ``station`` (station file, relative to the campaign file) with ``dies``
  for a virtual-lab station (dies of its simulated lot) or ``die_ids`` (labels) for a real
  bench. Station tasks hold the station exclusively while they run;
- the plan: ``cycles``, ``reads``, ``read_voltage`` (defaults: :class:`CharacterizationPlan`'s,
  the CLI's), ``arrays`` (all); re-measurement and the bias read as the plan's defaults. The
  plan is checked against the die (``check_plan``, as the task does) when the campaign loads.

Run files: ``<out_dir>/<group>/<die>.h5``. An unfinished run file is finished with the
same resume path as ``mtj-hil characterize --resume``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mtj_hil.campaigns.registry import TaskKind, register_kind
from mtj_hil.campaigns.task import (
    ExpandContext,
    Task,
    check_file_digests,
    file_digests,
    parse_indices,
)
from mtj_hil.errors import ConfigError
from mtj_hil.protocols.characterize.plan import MAX_CYCLES, MAX_READS, CharacterizationPlan
from mtj_hil.runs.store.characterization import load_characterization
from mtj_hil.runs.store.runfile import RunFile
from mtj_hil.schema import Field, Section, check_value
from mtj_hil.schema.ranges import MAX_SEED
from mtj_hil.sim.die import simulated_die_id
from mtj_hil.sim.profile import DeviceProfile

if TYPE_CHECKING:
    from mtj_hil.protocols.chip import Chip, Layout

NAME = "characterize"
INDICES_ALLOWED = 'a range like "0-35" or "0-3,7", an index, or a list of indices'


def check_indices(value: Any) -> str | None:
    ok = isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
    ok = ok or (
        isinstance(value, list)
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    )
    return None if ok else f"= {value!r} is not allowed; allowed: {INDICES_ALLOWED}"


LOT_SEED = Field("lot_seed", "int", "Seed of the simulated lot.", default=0, lo=0, hi=MAX_SEED)
DIE_KEYS = (
    Field("profile", "str", "Die profile of a simulated lot: a shipped name or a .toml file "
          "(relative: to the campaign file).", default="1t1r-20k"),
    LOT_SEED,
    Field("dies", "any", "Dies of the simulated lot or virtual-lab station to measure.",
          default=None, check=check_indices, allowed=INDICES_ALLOWED),
    Field("die_ids", "str list", "Labels of the dies on a real station (instead of dies).",
          default=None, nonempty=True),
    Field("station", "str", "Station file (relative: to the campaign file); station tasks "
          "hold the station exclusively.", default=None),
)  # fmt: skip
"""The keys choosing the dies, shared by every kind that measures dies."""

DEFAULTS = CharacterizationPlan()
"""The one source of plan defaults (the CLI's too)."""

KEYS = Section(
    "task",
    "One characterisation run file per die (as mtj-hil characterize).",
    DIE_KEYS
    + (
        Field("cycles", "int", "Write-read cycles per state.", default=DEFAULTS.cycles, lo=1,
              hi=MAX_CYCLES),
        Field("reads", "int", "Reads averaged per state and cycle.", default=DEFAULTS.reads,
              lo=1, hi=MAX_READS),
        Field("read_voltage", "float", "Read voltage (within the die's read range).",
              default=DEFAULTS.read_voltage, unit="V", lo=0, hi=1, lo_open=True, hi_open=True),
        Field("arrays", "any", "Arrays to measure (default: all).", default=None,
              check=check_indices, allowed=INDICES_ALLOWED),
    ),
    many=True,
)  # fmt: skip


def safe_label(label: str) -> str:
    """``label`` with every character a file name may not hold replaced by ``-``."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in label)


@dataclass(frozen=True)
class DieTargets:
    """The dies a group measures: ``labels`` as ``(die_id, lot index or None)``; a simulated
    lot (``profile`` name, ``lot_seed``) or a station (``station_name``, ``station_file``)."""

    profile: DeviceProfile
    lot_seed: int | None
    station_name: str | None
    station_file: str | None
    labels: list[tuple[str, int | None]]
    profile_source: str | None = None
    """What a task loads the simulated lot's profile by: a shipped name or a file's path."""
    layout: Layout | None = None
    """The layout the tasks' chip reports: a station's limits are its die profile's
    tightened by the station's ``[safety]`` (:func:`mtj_hil.station.envelope.planned_layout`),
    so a plan is checked at load against what the task's chip will refuse."""
    inputs: tuple[str, ...] = ()
    """Files the tasks load (a profile file; a station file and its profile file), whose
    contents count as the tasks' parameters."""

    @property
    def die_layout(self) -> Layout:
        """:attr:`layout`, or the profile's when it was not set."""
        return self.layout if self.layout is not None else self.profile.layout


def die_targets(group: dict[str, Any], ctx: ExpandContext) -> DieTargets:
    """Resolve ``profile``/``lot_seed``/``dies`` or ``station`` with ``dies``/``die_ids``.

    Shared by every kind that measures dies (see the module docstring for the keys).

    Raises:
        ConfigError: missing or out-of-range dies, a station file that does not load,
            conflicting keys (naming ``task[i].key``).
    """
    from mtj_hil.sim.profile import is_shipped_profile, load_profile

    station_name: str | None = None
    station_file: str | None = None
    source: str | None = None
    layout: Layout | None = None
    if "station" in group:
        from mtj_hil.station.files import load_station

        if "profile" in group or "lot_seed" in group:
            raise ctx.error(
                "station",
                "and profile/lot_seed exclude each other: the station "
                "file names the die profile (and a virtual lab its lot)",
            )
        path = ctx.path(str(group["station"]))
        try:
            st = load_station(path)
        except ConfigError as exc:
            raise ctx.error("station", f"= {group['station']!r} does not load: {exc}") from exc
        from mtj_hil.station.envelope import planned_layout
        from mtj_hil.station.files import profile_source

        station_name, station_file = st.name, str(path)
        profile = st.profile
        die_profile = profile_source(str(st.raw.get("die", {}).get("profile", "")), path)
        inputs = (station_file, die_profile)
        layout = planned_layout(st)
        # only a lab this process simulates lets a task pick its die: a lab served by
        # 'mtj-hil lab serve' measures the die it serves, whatever a task would call it
        virtual = st.picks_its_die
        lot_seed = st.virtual_lab.lot_seed if virtual and st.virtual_lab else None
    else:
        name = str(group.get("profile", "1t1r-20k"))
        # a profile file is taken from the campaign file's folder, as a station file is,
        # and its tasks carry its path (a worker knows the shipped names only); a shipped
        # name is the shipped profile, as everywhere
        if not is_shipped_profile(name) and (
            Path(name).suffix == ".toml" or (name.strip() and ctx.path(name).is_file())
        ):
            name = str(ctx.path(name))
        try:
            profile = load_profile(name)
        except ConfigError as exc:
            raise ctx.error("profile", f"does not load: {exc}") from exc
        source = name
        inputs = (name,)
        # by the declared field, as every other key (an integer written 0.0 is 0, as cycles)
        lot_seed, problem = check_value(LOT_SEED, group.get("lot_seed", 0))
        if problem:
            raise ctx.error("lot_seed", problem)
        virtual = True
    labels: list[tuple[str, int | None]]
    if virtual:
        if "die_ids" in group:
            raise ctx.error("die_ids", "is for a real station; a simulated lot takes dies")
        if "dies" not in group:
            raise ctx.error("dies", 'is missing: which dies of the lot, e.g. dies = "0-35"')
        labels = [
            (simulated_die_id(profile.name, int(lot_seed), k), k)  # type: ignore[arg-type]
            for k in parse_indices(group["dies"], ctx, "dies")
        ]
    else:
        ids = group.get("die_ids")
        if "dies" in group:
            raise ctx.error(
                "dies",
                "needs a simulated lot or a station whose controller is 'virtual' (an "
                "in-process lab); a real bench, or a lab served by 'mtj-hil lab serve', "
                'measures the die it holds: label it with die_ids = ["W3-D17", ...]',
            )
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
            raise ctx.error("die_ids", "is missing: the labels of the dies to measure")
        if len(set(ids)) != len(ids):
            raise ctx.error("die_ids", "lists a die twice")
        labels = [(i, None) for i in ids]
    return DieTargets(profile, lot_seed, station_name, station_file, labels, source, layout, inputs)


def die_tasks(
    kind: str, group: dict[str, Any], ctx: ExpandContext, targets: DieTargets, plan: dict[str, Any]
) -> list[Task]:
    """One task per die of ``targets``, run file ``<out_dir>/<group>/<die>.h5``."""
    gname = group["name"]
    tasks = []
    digests = file_digests(*targets.inputs)
    for die_id, index in targets.labels:
        label = f"die{index}" if index is not None else safe_label(die_id)
        params = {
            "die_id": die_id,
            "die": index,
            "profile": targets.profile_source if targets.station_file is None else None,
            "lot_seed": targets.lot_seed,
            "station_file": targets.station_file,
            "plan": plan,
        }
        if digests:
            params["file_digests"] = digests
        tasks.append(
            Task(
                id=f"{gname}/{label}",
                kind=kind,
                group=gname,
                run_file=ctx.out_dir / gname / f"{label}.h5",
                params=params,
                station=targets.station_name,
            )
        )
    return tasks


def expand(group: dict[str, Any], ctx: ExpandContext) -> list[Task]:
    """Tasks of a ``characterize`` group (see the module docstring). The plan is checked
    against the die here, by the check the task makes again before its run file is created.

    Raises:
        ConfigError: unknown key, missing or out-of-range dies, a station file that does not
            load, a plan value out of range or refused by the die (naming ``task[i].key``).
    """
    from mtj_hil.protocols.characterize.plan import check_plan
    from mtj_hil.protocols.errors import OutsideLimits, SettingRefused

    values = ctx.check(group, KEYS)
    targets = die_targets(group, ctx)
    layout = targets.die_layout
    n_arrays = layout.n_arrays
    plan = {
        "arrays": parse_indices(
            group.get("arrays", f"0-{n_arrays - 1}"), ctx, "arrays", n_arrays, noun="array"
        ),
        "cycles": values["cycles"],
        "reads": values["reads"],
        "read_voltage": values["read_voltage"],
    }
    try:  # the check the task makes before its run file is created
        check_plan(layout, _plan(plan))
    except SettingRefused as exc:
        text = str(exc)
        key = exc.setting
        if key not in plan:  # the die's nominal pulse: the station's envelope excludes it
            key = "station" if "station" in group else "profile"
        given = f"= {group[key]!r}" if key in group else f"= {plan.get(key)!r} (the default)"
        raise ctx.error(
            key,
            f"{given} is refused by a die of profile {layout_name(targets)}: {text}",
            envelope=isinstance(exc, OutsideLimits),
        ) from None
    return die_tasks(NAME, group, ctx, targets, plan)


def layout_name(targets: DieTargets) -> str:
    """How messages name the dies of ``targets``: the profile, and the station if any."""
    name = targets.profile.name
    return name if targets.station_name is None else f"{name} (station {targets.station_name})"


def _plan(record: dict[str, Any]) -> CharacterizationPlan:
    """The characterisation plan of a task's ``plan`` parameters."""
    return CharacterizationPlan(
        arrays=tuple(record["arrays"]),
        cycles=int(record["cycles"]),
        reads=int(record["reads"]),
        read_voltage=float(record["read_voltage"]),
    )


def stored_status(out: Path) -> str | None:
    """The status of the run file a task writes, or None when there is none yet (a
    ``completed`` one is skipped, any other is resumed).

    Raises:
        StoreError: the file is not an mtj-hil run file.
    """
    if not out.exists():
        return None
    with RunFile.open(out, "r") as existing:
        return existing.status


@contextmanager
def task_chip(p: dict[str, Any]) -> Iterator[tuple[Chip, int | None]]:
    """The chip of a die task's parameters and the lot seed to record: the simulated die
    (seed ``lot_seed``), or the die on ``station_file`` (``die`` chooses a virtual lab's
    die; seed None), opened for the block and closed after it.

    Raises:
        ConfigError: the station file cannot be loaded, or it or the profile file changed
            since the campaign was loaded (:func:`check_file_digests`).
    """
    check_file_digests(p)
    if p["station_file"] is None:
        from mtj_hil.sim.chip import SimulatedChip

        seed = int(p["lot_seed"])
        yield SimulatedChip.from_lot(p["profile"], seed, int(p["die"])), seed
        return
    from mtj_hil.station.connect import open_station
    from mtj_hil.station.files import load_station, with_virtual_die

    st = load_station(p["station_file"])
    if p["die"] is not None:
        st = with_virtual_die(st, int(p["die"]))
    with open_station(st) as chip:
        yield chip, None


def run(task: Task) -> dict[str, Any]:
    """Characterise the task's die into its run file, resuming it if it exists unfinished.

    Raises:
        StoreError, ConfigError, InstrumentError...: whatever the job raised (recorded in the
            run file's status first, as ``mtj-hil characterize`` does).
    """
    from mtj_hil.runs.jobs.characterization import run_characterization

    p = task.params
    plan = _plan(p["plan"])
    out = Path(task.run_file)
    status = stored_status(out)
    if status == "completed":
        return summary(out)
    with task_chip(p) as (chip, seed):
        thresholds = None
        if p["station_file"] is not None:
            from mtj_hil.station.connect import calibrated_thresholds

            thresholds = calibrated_thresholds(chip, p["die_id"])
        run_characterization(
            chip,
            out,
            die_id=p["die_id"],
            plan=plan,
            resume=status is not None,
            seed=seed,
            thresholds=thresholds,
        )
    return summary(out)


def summary(path: Path) -> dict[str, Any]:
    """Devices per class of a finished characterisation."""
    char = load_characterization(path)
    return {"die_id": str(char.attrs.get("die_id", "")), "counts": char.counts()}


def digest(path: Path) -> str:
    """SHA-256 of the classification: arrays, defect codes, G_P and G_AP."""
    char = load_characterization(path)
    h = hashlib.sha256()
    for a in (char.arrays, char.codes, char.g_p, char.g_ap):
        if a is not None:
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


register_kind(TaskKind(NAME, expand, run, digest, KEYS))
