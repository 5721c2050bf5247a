"""The small runs the crash harness (:mod:`mtj_hil.testing.crash`) kills and resumes: a
characterisation, a switching run, a campaign (its index, claims and run files) and the
writing of a calibration record.

Each scenario's ``run(folder, report)`` starts the job in ``folder`` or finishes it the way a
user would after a crash (resume an unfinished run file; nothing to do for a completed one),
reporting ``done <unit>`` when a unit (an array, a task, the record) is reported finished and
``measure <unit>`` when the die starts being measured for one (``after-fault <unit>`` when
that happens after a failed write). ``kept(folder)`` lists the finished units a reader finds
now; ``compare(folder, reference)`` lists the differences of the kept data from an
uninterrupted run.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

Report = Callable[[str], None]
FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "legacy-0.1"
IGNORED_ROOT_ATTRS = {
    "run_id",
    "started",
    "ended",
    "resumed",
    "command",
    "journal_seq",
    "journal_folder",
    "git_revision",
    "file_time",
}
"""Provenance that differs between two runs of one job: times, ids, resume history, and the
source revision (``+dirty`` while files are edited), none of it measured data."""
PROVENANCE_OBJECTS = (
    "entry/experiment_identifier",
    "entry/start_time",
    "entry/end_time",
    "entry/program_name",
    "timeline/",
    "characterization/array_time",
)
"""Objects that carry the same kind of provenance (the NeXus copies of the run id and its
times, the processes' dates, the timeline of flush times and lab times, when each array was
measured): compared for presence, not values."""
IGNORED_OBJECT_ATTRS = {"clock_sessions"}
"""Attributes of any object that record the resume history (where each session began)."""


def _provenance(name: str) -> bool:
    """The NeXus processes' ``date`` fields (``entry/<process>/date``) count too."""
    if name.startswith("entry/") and name.endswith("/date"):
        return True
    return any(name == p or name.startswith(p) for p in PROVENANCE_OBJECTS)


@dataclass
class Scenario:
    name: str
    setup: Callable[[Path], None]
    run: Callable[[Path, Report], None]
    kept: Callable[[Path], set[str]]
    compare: Callable[[Path, Path], list[str]]
    leftovers: Callable[[Path], list[str]]


def watch_measurements(report: Report, faulted: Callable[[], bool]) -> None:
    """In a child: report the first ``program`` of each array of every simulated chip."""
    from mtj_hil.sim.chip import SimulatedChip

    original = SimulatedChip.program
    started: set[tuple[int, int]] = set()

    def program(self: Any, array: int, *args: Any, **kwargs: Any) -> None:
        if (id(self.die), array) not in started:
            started.add((id(self.die), array))
            report(f"measure {array}")
            if faulted():
                report(f"after-fault {array}")
        return original(self, array, *args, **kwargs)

    program.__wrapped__ = original  # type: ignore[attr-defined]
    SimulatedChip.program = program  # type: ignore[method-assign]


# -- comparing kept files ---------------------------------------------------------------------


def _attrs(obj: Any, ignore: set[str]) -> dict[str, Any]:
    out = {}
    for key, value in obj.attrs.items():
        if key in ignore:
            continue
        out[key] = value.tolist() if isinstance(value, np.ndarray) else value
    return out


def compare_h5(path: Path, reference: Path, skip: tuple[str, ...] = ()) -> list[str]:
    """Differences between two HDF5 files: every dataset's dtype, shape and values, every
    attribute (root provenance of times and ids excepted), read with plain h5py (the file
    a user keeps must hold everything by itself). Objects under the groups ``skip`` are left
    to the caller."""
    if not path.exists():
        return [f"{path.name}: missing"]
    out: list[str] = []
    with h5py.File(path, "r") as a, h5py.File(reference, "r") as b:
        if _attrs(a, IGNORED_ROOT_ATTRS) != _attrs(b, IGNORED_ROOT_ATTRS):
            out.append(f"{path.name}: root attributes differ")
        names_a: list[str] = []
        names_b: list[str] = []
        a.visit(names_a.append)
        b.visit(names_b.append)
        if skip:
            outside = lambda n: not any(n == g or n.startswith(g + "/") for g in skip)  # noqa: E731
            names_a, names_b = list(filter(outside, names_a)), list(filter(outside, names_b))
        if sorted(names_a) != sorted(names_b):
            out.append(f"{path.name}: objects differ: {sorted(set(names_a) ^ set(names_b))}")
        for name in sorted(set(names_a) & set(names_b)):
            if _provenance(name):
                continue
            x, y = a[name], b[name]
            if _attrs(x, IGNORED_OBJECT_ATTRS) != _attrs(y, IGNORED_OBJECT_ATTRS):
                out.append(f"{path.name}:{name}: attributes differ")
            if isinstance(x, h5py.Dataset):
                vx, vy = x[()], y[()]
                same = x.dtype == y.dtype and np.shape(vx) == np.shape(vy)
                if same and isinstance(vx, np.ndarray):
                    same = vx.tobytes() == vy.tobytes()
                elif same:
                    same = vx == vy
                if not same:
                    out.append(f"{path.name}:{name}: data differ")
    return out


def run_leftovers(folder: Path) -> list[str]:
    """Files a finished run must not leave: journals, writer leases, temporary files."""
    out = []
    for p in folder.rglob("*"):
        if p.name.endswith((".parts", ".writer")) or ".tmp-" in p.name:
            out.append(str(p.relative_to(folder)))
    return out


# -- characterisation and switching -------------------------------------------------------------

DIE = "sim:1t1r-20k:lot0:die3"


def _finished(out: Path) -> bool:
    """Whether the run file is there and completed (a reader's view; raises if unreadable)."""
    from mtj_hil.runs.store.runfile import RunFile

    if not out.exists():
        return False
    with RunFile.open(out) as run:
        return run.status == "completed"


def _kept_arrays(out: Path, sink_type: Any) -> set[str]:
    from mtj_hil.runs.store.runfile import RunFile

    if not out.exists():
        return set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with RunFile.open(out) as run:
            return {str(a) for a in sink_type(run).completed_arrays()}


def characterization() -> Scenario:
    out_name = "char.h5"

    def run(folder: Path, report: Report) -> None:
        from mtj_hil.protocols.characterize.plan import CharacterizationPlan
        from mtj_hil.runs.jobs.characterization import run_characterization
        from mtj_hil.sim.chip import SimulatedChip

        out = folder / out_name
        if _finished(out):
            return
        run_characterization(
            SimulatedChip.from_lot("1t1r-20k", 0, 3),
            out,
            die_id=DIE,
            plan=CharacterizationPlan(arrays=(0, 1, 2, 3), cycles=2, remeasure_cycles=0),
            resume=out.exists(),
            seed=0,
            progress=lambda done, total, array: report(f"done {array}"),
        )

    def kept(folder: Path) -> set[str]:
        from mtj_hil.runs.store.characterization import CharacterizationRun

        return _kept_arrays(folder / out_name, CharacterizationRun)

    return Scenario(
        "characterisation",
        lambda folder: None,
        run,
        kept,
        lambda folder, ref: compare_h5(folder / out_name, ref / out_name),
        run_leftovers,
    )


def switching() -> Scenario:
    out_name = "switching.h5"

    def run(folder: Path, report: Report) -> None:
        from mtj_hil.protocols.switching.procedure import SwitchingPlan
        from mtj_hil.runs.jobs.switching import run_switching
        from mtj_hil.sim.chip import SimulatedChip

        out = folder / out_name
        if _finished(out):
            return
        plan = SwitchingPlan(
            arrays=(0, 1),
            amplitudes=(0.5, 0.6, 0.7, 0.8, 0.9),
            widths=(1e-7, 1e-6),
            trials=4,
            probe_trials=2,
            floor_trials=4,
            disturb_reads=10,
            loop_devices=((0, 1, 1),),
        )
        run_switching(
            SimulatedChip.from_lot("1t1r-20k", 0, 3),
            out,
            die_id=DIE,
            plan=plan,
            resume=out.exists(),
            seed=0,
            progress=lambda done, total, array: report(f"done {array}"),
        )

    def kept(folder: Path) -> set[str]:
        from mtj_hil.runs.store.switching import SwitchingRun

        return _kept_arrays(folder / out_name, SwitchingRun)

    return Scenario(
        "switching",
        lambda folder: None,
        run,
        kept,
        lambda folder, ref: compare_h5(folder / out_name, ref / out_name),
        run_leftovers,
    )


# -- campaign -----------------------------------------------------------------------------------

CAMPAIGN = """
[campaign]
name = "crash"
out_dir = "out"

[[task]]
name = "lot"
kind = "characterize"
profile = "1t1r-20k"
dies = "0-1"
arrays = "0-1"
cycles = 2
"""


def campaign() -> Scenario:
    def setup(folder: Path) -> None:
        (folder / "crash.toml").write_text(CAMPAIGN, encoding="utf-8")

    def run(folder: Path, report: Report) -> None:
        from mtj_hil.campaigns import load_campaign
        from mtj_hil.campaigns.engine import run_campaign
        from mtj_hil.campaigns.index import CampaignIndex

        original = CampaignIndex.update

        def update(self: Any, task_id: str, **values: Any) -> None:
            original(self, task_id, **values)
            if values.get("status") == "completed":
                report(f"done {task_id}")

        CampaignIndex.update = update  # type: ignore[method-assign]
        outcome = run_campaign(load_campaign(folder / "crash.toml"))
        if not outcome.ok:
            raise RuntimeError(f"tasks failed: {outcome.failed}")

    def kept(folder: Path) -> set[str]:
        from mtj_hil.campaigns import load_campaign
        from mtj_hil.campaigns.index import CampaignIndex, IndexUnreadable
        from mtj_hil.campaigns.rebuild import view
        from mtj_hil.errors import StoreError

        spec = load_campaign(folder / "crash.toml")
        try:
            records = CampaignIndex(spec.index_path).records()
        except IndexUnreadable:
            records = view(spec)
        except StoreError:
            return set()
        return {t for t, r in records.items() if r.get("status") == "completed"}

    def compare(folder: Path, ref: Path) -> list[str]:
        from mtj_hil.campaigns import load_campaign
        from mtj_hil.campaigns.index import CampaignIndex

        spec = load_campaign(folder / "crash.toml")
        out = []
        records = CampaignIndex(spec.index_path).records()
        reference = CampaignIndex(load_campaign(ref / "crash.toml").index_path).records()
        for task in spec.tasks:
            rec, want = records.get(task.id, {}), reference[task.id]
            if rec.get("status") != "completed":
                out.append(f"{task.id}: status {rec.get('status')!r} in the index")
            if rec.get("digest") != want["digest"]:
                out.append(f"{task.id}: digest differs from the reference")
            rel = Path(task.run_file).relative_to(folder)
            out += compare_h5(Path(task.run_file), ref / rel)
        return out

    def leftovers(folder: Path) -> list[str]:
        return [p for p in run_leftovers(folder) if "unreadable" not in p]

    return Scenario("campaign", setup, run, kept, compare, leftovers)


# -- calibration record ---------------------------------------------------------------------------


def calibration_record() -> Scenario:
    source = next((FIXTURES / "stations" / "calibrations" / "virtual-lab").glob("*.toml"))

    def run(folder: Path, report: Report) -> None:
        from mtj_hil.calibration.errors import CalibrationWarning
        from mtj_hil.calibration.record_files import list_records, read_record, write_record

        record = read_record(source)
        with warnings.catch_warnings():
            warnings.simplefilter("error", CalibrationWarning)  # a half record must not hide
            if any(r.id == record.id for r in list_records(folder / "records")):
                return
        write_record(record, folder / "records")
        report("done record")

    def kept(folder: Path) -> set[str]:
        from mtj_hil.calibration.record_files import list_records

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return {"record"} if list_records(folder / "records") else set()

    def compare(folder: Path, ref: Path) -> list[str]:
        from mtj_hil.calibration.record_files import list_records

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = list_records(folder / "records")
        if len(got) != 1 or got[0].path is None:
            return [f"records: {len(got)} readable records, not 1"]
        want = ref / "records" / got[0].path.name
        same = want.exists() and got[0].path.read_bytes() == want.read_bytes()
        return [] if same else ["records: the record differs from the reference"]

    def leftovers(folder: Path) -> list[str]:
        # A record is linked into place, then its temporary name removed: a kill between
        # the two leaves a hidden temporary file no reader looks at, removed by the next
        # write_record in that folder.
        return [p for p in run_leftovers(folder) if ".tmp-" not in p]

    return Scenario("calibration record", lambda folder: None, run, kept, compare, leftovers)


def warm_up() -> None:
    """Import everything the scenarios use, once, before the harness forks: each trial then
    starts at once, and runs the code as it was when the bench started."""
    import mtj_hil.calibration.record_files  # noqa: F401
    import mtj_hil.campaigns.engine  # noqa: F401
    import mtj_hil.campaigns.kinds.characterize  # noqa: F401
    import mtj_hil.campaigns.rebuild  # noqa: F401
    import mtj_hil.cli.main  # noqa: F401
    import mtj_hil.runs.jobs.characterization  # noqa: F401
    import mtj_hil.runs.jobs.switching  # noqa: F401
    import mtj_hil.runs.store.verify  # noqa: F401
    from mtj_hil.campaigns.registry import kinds

    kinds()


def scenarios() -> list[Scenario]:
    return [characterization(), switching(), campaign(), calibration_record()]
