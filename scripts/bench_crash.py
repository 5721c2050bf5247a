"""Kill at every write, fail every kind of write: does a run survive?

For each scenario of :mod:`mtj_hil.testing.crash_scenarios` (a characterisation, a switching
run, a campaign with its index, a calibration record) and of
:mod:`mtj_hil.testing.crash_remeasure` (a characterisation that ends in rounds of targeted
re-measurement: each round stored is a unit too) this counts the file-system write
points of an uninterrupted run (the reference), then, for every write point K:

- kills the process just before write K (SIGKILL, as a power cut or OOM kill would), resumes
  the run as a user would, and checks the kept file against the reference (bit-identical
  data) and that nothing reported finished before the kill was lost or measured again;

and for every write point (ENOSPC) or a spread of them (EFBIG, EIO, EROFS):

- makes write K and every later one fail, and checks the exit status is 4 with a message
  naming the file and the cause, that the die was not measured further, then resumes with
  the disk "repaired" and checks the result as above.

The shim that kills and fails writes is compiled with ``cc`` and preloaded (this script
re-executes itself with ``LD_PRELOAD``). The last line is::

    crash points: N tried, 0 unresumable, 0 silently different, 0 lost arrays; write faults: M tried, 0 crashes

Usage: ``python scripts/bench_crash.py [--smoke] [--scenario NAME] [--keep DIR]``.
``--smoke`` tries two kills and two write errors (a full disk, an I/O error) per scenario
(the test suite runs it).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from _smoke import bench_description

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mtj_hil.testing.crash import (  # noqa: E402
    FAIL,
    FAULTS,
    KILL,
    Shim,
    Tally,
    guarded,
    in_child,
    preload_and_reexec,
    trial_dirs,
)
from mtj_hil.testing.crash_remeasure import remeasure_scenario  # noqa: E402
from mtj_hil.testing.crash_scenarios import (  # noqa: E402
    Scenario,
    scenarios,
    warm_up,
    watch_measurements,
)


def spread(n: int, count: int) -> list[int]:
    """``count`` write points spread over ``1..n`` (first and last included)."""
    if n <= count:
        return list(range(1, n + 1))
    return sorted({round(1 + i * (n - 1) / (count - 1)) for i in range(count)})


def body(scn: Scenario, folder: Path, shim: Shim, k: int = 0, mode: int = 0, err: int = 0):
    def run(report):
        watch_measurements(report, shim.faulted)
        shim.arm(k, mode, err, folder)
        try:
            scn.run(folder, report)
        finally:
            report(f"count {shim.count()}")
            shim.arm(0, 0, 0, None)

    return guarded(run)


def check_resumed(scn, folder, ref, log, shim, reported, kept, tally, tag) -> bool:
    """Resume, then compare; returns False (after counting and noting it) on a failure."""
    second = in_child(body(scn, folder, shim), log)
    if second.code != 0:
        tally.note(f"{tag}: resume ended with {second.code}: {second.lines[-3:]}")
        tally.unresumable += 1
        return False
    diffs = scn.compare(folder, ref)
    if diffs:
        tally.note(f"{tag}: silently different: {diffs[:3]}")
        tally.different += 1
        return False
    lost = (reported - kept) | (reported & set(second.reported("measure ")))
    if lost:
        tally.note(f"{tag}: lost or measured again: {sorted(lost)}")
        tally.lost_arrays += len(lost)
        return False
    left = scn.leftovers(folder)
    if left:
        tally.note(f"{tag}: left behind after the resume: {left[:4]}")
    return True


def kill_trial(scn: Scenario, k: int, root: Path, ref: Path, shim: Shim, tally: Tally) -> None:
    folder, log = trial_dirs(root, f"{scn.name.replace(' ', '-')}-kill-{k}")
    scn.setup(folder)
    first = in_child(body(scn, folder, shim, k, KILL), log)
    tally.crash_points += 1
    tag = f"{scn.name} kill before write {k}"
    if first.code != -signal.SIGKILL:
        tally.note(f"{tag}: not killed (exit {first.code}): {first.lines[-2:]}")
    reported = set(first.reported("done "))
    try:
        kept = scn.kept(folder)
    except Exception as exc:  # noqa: BLE001 - an unreadable result counts as such
        tally.note(f"{tag}: unreadable after the kill: {exc}")
        tally.unresumable += 1
        return
    check_resumed(scn, folder, ref, log, shim, reported, kept, tally, tag)


def fault_trial(scn, k, name, err, root, ref, shim, tally) -> None:
    folder, log = trial_dirs(root, f"{scn.name.replace(' ', '-')}-{name}-{k}")
    scn.setup(folder)
    first = in_child(body(scn, folder, shim, k, FAIL, err), log)
    tally.write_faults += 1
    tag = f"{scn.name} {name} at write {k}"
    errors = first.reported("error ")
    named = any(name in e and str(folder) in e for e in errors)
    if first.code == 4 and named:
        pass
    elif first.code == 0 and not scn.compare(folder, ref):
        pass  # only a clean-up after everything was written failed; nothing is lost
    else:
        tally.fault_crashes += 1
        tally.note(f"{tag}: exit {first.code}, {errors[-1:] or first.lines[-2:]}")
        return
    if first.reported("after-fault "):
        tally.fault_crashes += 1
        tally.note(f"{tag}: measured on after the failed write")
        return
    reported = set(first.reported("done "))
    scratch = Tally()
    if not check_resumed(scn, folder, ref, log, shim, reported, scn.kept(folder), scratch, tag):
        tally.fault_crashes += 1


SMOKE_FAULTS = ("ENOSPC", "EIO")
"""The write errors a ``--smoke`` run tries (the full bench: every one of ``FAULTS``)."""


def main() -> int:
    parser = argparse.ArgumentParser(description=bench_description(__doc__))
    parser.add_argument("--smoke", action="store_true", help="a spread of the write points")
    parser.add_argument("--scenario", action="append", help="only these scenarios (by name)")
    parser.add_argument("--keep", type=Path, help="keep every trial's files in this folder")
    args = parser.parse_args()
    preload_and_reexec(sys.argv)
    warm_up()
    shim = Shim()
    shim.arm(0, 0, 0, None)
    root = args.keep or Path(tempfile.mkdtemp(prefix="mtj-crash-"))
    root.mkdir(parents=True, exist_ok=True)
    tally = Tally()
    start = time.monotonic()
    every = [*scenarios(), remeasure_scenario()]
    chosen = [s for s in every if not args.scenario or s.name in args.scenario]
    for scn in chosen:
        ref, log = trial_dirs(root, f"{scn.name.replace(' ', '-')}-reference")
        scn.setup(ref)
        child = in_child(body(scn, ref, shim), log)
        if child.code != 0:
            print(f"{scn.name}: the reference run failed ({child.code}); see {log}")
            return 1
        n = int(child.reported("count ")[-1])
        kills = spread(n, 2) if args.smoke else list(range(1, n + 1))
        faults = [max(1, n // 2)] if args.smoke else spread(n, 5)
        # the suite's smoke run: a full disk and an I/O error at one point (the file-size
        # and read-only errors take the same path; the full bench tries all four)
        errors = {k: FAULTS[k] for k in SMOKE_FAULTS} if args.smoke else FAULTS
        t0 = time.monotonic()
        for k in kills:
            kill_trial(scn, k, root, ref, shim, tally)
        tried = 0
        for name, err in errors.items():
            # a full disk at every write point (a swallowed failure anywhere is found); the
            # other errors at a spread of them
            points = list(range(1, n + 1)) if name == "ENOSPC" and not args.smoke else faults
            for k in points:
                fault_trial(scn, k, name, err, root, ref, shim, tally)
            tried += len(points)
        print(
            f"{scn.name}: {n} write points, {len(kills)} kills, {tried} "
            f"write faults ({time.monotonic() - t0:.0f} s)",
            flush=True,
        )
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    print(f"({time.monotonic() - start:.0f} s)")
    print(tally.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
