"""A fuzzer for the command line: mutated station, profile, campaign, calibration and run files
and random arguments fed to every command, in process, each case under a watchdog.

A case passes when the command ends with exit code 0, 2..8 or 130 (never 1, the code of an
unexpected error, and never a traceback), within its time budget, and, when it fails, with a
message naming what it refers to (a file, an option, an argument or the command given).
``scripts/bench_fuzz.py`` runs it at full size; the test suite runs a small seed set.

Commands whose work runs long by design are kept small by base arguments (the passive
15 x 15 die, one array, one cycle, one width, a lab that serves for 0.2 s); ``campaign run``
is fuzzed up to connecting to Dask (the connection is refused in process).
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from mtj_hil.testing.fuzz_mutations import mutate_run_file, mutate_text

ROOT = Path(__file__).resolve().parents[2]

TINY_CAMPAIGN = """[campaign]
name = "tiny"
out_dir = "out"

[[task]]
name = "lot"
kind = "characterize"
profile = "passive-15x15"
dies = [0, 1]
arrays = "0"
cycles = 1
"""

HOSTILE_TEXT = ("", "x", "[/bold]", "[red]x[/]", "a,b", "0-40", "-1", "1e309", "nan", "\u00e9",
                "x" * 300, "0:1:1", "1e-8,1e-7", "0.4:1.2:0", "../", "[[task]]")  # fmt: skip
HOSTILE_INT = ("-1", "0", "1", "2", "x", "", "1.5", "99999999999999999999")
HOSTILE_FLOAT = ("-0.1", "0", "1e-9", "0.05", "5", "nan", "inf", "1e309", "x", "[/b]")


ADDRESSES = ("/dev/", "socket://", "rfc2217://", "TCPIP", "GPIB", "ASRL", "USB", "COM")
"""How instrument errors name their instrument: by its address."""


class FuzzHang(BaseException):
    """A case ran past its time budget (raised by the watchdog in the main thread)."""


@dataclass
class Case:
    """One command line and what it is about."""

    args: list[str]
    about: str
    budget: float = 60.0


@dataclass
class Outcome:
    """How one case ended."""

    case: Case
    code: int | None
    output: str
    seconds: float
    crash: bool = False
    hang: bool = False
    unnamed: bool = False
    changed: list[str] = field(default_factory=list)


@dataclass
class Tally:
    """Counts over a fuzz run, with the failing outcomes kept for the report."""

    cases: int = 0
    crashes: list[Outcome] = field(default_factory=list)
    hangs: list[Outcome] = field(default_factory=list)
    unnamed: list[Outcome] = field(default_factory=list)
    changed: list[Outcome] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"fuzzed: {self.cases} cases, {len(self.crashes)} crashes, {len(self.hangs)} hangs, "
            f"{len(self.unnamed)} unnamed messages, {len(self.changed)} input files changed"
        )


@contextlib.contextmanager
def _watchdog(seconds: float) -> Iterator[None]:
    def fire(signum: int, frame: object) -> None:
        raise FuzzHang(f"no end after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _no_cluster(*args: Any, **kwargs: Any) -> Any:
    from mtj_hil.errors import ConfigError

    raise ConfigError("Dask: no cluster in the fuzzer (campaign run is fuzzed up to here)")


# -- the workspace and the cases -----------------------------------------------------------


def prepare(folder: Path, run: Callable[[list[str]], int]) -> dict[str, Path]:
    """Seed files in ``folder``: stations, profiles, campaigns, a calibration record and small
    run files (made with ``run``, the command's entry point)."""
    folder.mkdir(parents=True, exist_ok=True)
    seeds: dict[str, Path] = {}
    for name in ("virtual-lab.toml", "example-bench.toml"):
        seeds[f"station:{name}"] = Path(shutil.copy(ROOT / "stations" / name, folder / name))
    for name in ("passive-15x15", "1t1r-early-process"):
        src = ROOT / "mtj_hil" / "sim" / "profiles" / f"{name}.toml"
        seeds[f"profile:{name}"] = Path(shutil.copy(src, folder / f"{name}.toml"))
    (folder / "tiny.toml").write_text(TINY_CAMPAIGN, encoding="utf-8")
    seeds["campaign:tiny"] = folder / "tiny.toml"
    seeds["campaign:example"] = Path(
        shutil.copy(ROOT / "campaigns" / "example-lot.toml", folder / "example-lot.toml")
    )
    char = folder / "char.h5"
    base = ["--profile", "passive-15x15", "--cycles", "2", "--no-report"]
    if run(["characterize", *base, "--out", str(char)]) != 0:
        raise RuntimeError("the fuzzer's seed characterisation failed")
    seeds["run:char"] = char
    sw = folder / "sw.h5"
    sw_args = ["switching", "--profile", "passive-15x15", "--arrays", "0", "--widths", "1e-7",
               "--trials", "2", "--disturb-reads", "0", "--no-report", "--out", str(sw)]  # fmt: skip
    if run(sw_args) != 0:
        raise RuntimeError("the fuzzer's seed switching run failed")
    seeds["run:switching"] = sw
    if run(["calibrate", "--station", str(seeds["station:virtual-lab.toml"]), "--no-thresholds"]):
        raise RuntimeError("the fuzzer's seed calibration failed")
    record = next((folder / "calibrations" / "virtual-lab").glob("*.toml"))
    seeds["record"] = record
    return seeds


# fmt: off
BASE: dict[str, list[str]] = {
    "characterize": ["--profile", "passive-15x15", "--arrays", "0", "--cycles", "1"],
    "switching": ["--profile", "passive-15x15", "--arrays", "0", "--widths", "1e-7",
                  "--trials", "1", "--disturb-reads", "0", "--floor-trials", "0"],
    "demo": [],
    "lab serve": ["--seconds", "0.2"],
    "view": ["--seconds", "0.2"],
    "experiment borders": ["--dataset", "digits", "--dies", "1", "--epochs", "1",
                           "--finetune-epochs", "1", "--stats-epochs", "1", "--hidden", "4",
                           "--pool-size", "1"],
    "experiment goodwill": ["--solutions", "1", "--epochs", "1", "--restarts", "1",
                            "--no-daffodil"],
    "train": ["--dataset", "digits", "--epochs", "1", "--hidden", "4", "--loop-epochs", "1"],
    "campaign run": ["--workers", "1"],
    "calibrate": ["--no-thresholds"],
}
# fmt: on
"""Arguments that keep a command's work small whatever else the fuzzer adds."""
SMALL_ONLY = {"experiment borders", "experiment goodwill", "train", "evaluate", "lab serve",
              "demo", "characterize", "switching"}  # fmt: skip
"""Commands whose counts the fuzzer keeps small (their work grows with them)."""


def leaf_commands(group: click.Group) -> list[tuple[str, click.Command]]:
    """``("campaign status", command)`` for every command that runs (not a group)."""
    out = []
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            out += [(f"{name} {sub}", c) for sub, c in leaf_commands(cmd)]
        else:
            out.append((name, cmd))
    return out


def _value(rng: random.Random, param: click.Parameter, files: list[Path], small: bool) -> str:
    ptype = param.type
    if isinstance(ptype, click.Choice):
        return rng.choice([*ptype.choices, "nope"])
    if isinstance(ptype, click.types.IntParamType):
        pool = HOSTILE_INT if not small else ("-1", "0", "1", "2", "x", "")
        return rng.choice(pool)
    if isinstance(ptype, click.types.FloatParamType):
        pool = HOSTILE_FLOAT if param.name != "seconds" else ("-1", "0", "0.1", "nan", "x")
        return rng.choice(pool)
    if isinstance(ptype, click.Path):
        return str(rng.choice([*files, Path("missing.h5"), Path("[/bold]x.toml"), Path(".")]))
    if param.name == "profile":
        return rng.choice(("passive-15x15", "nope", "[/x]", *map(str, files)))
    return rng.choice(HOSTILE_TEXT)


def random_case(rng: random.Random, commands: list[tuple[str, click.Command]],
                files: list[Path], out: Path) -> Case:  # fmt: skip
    """A command with its base arguments and a few random options and arguments."""
    name, cmd = rng.choice(commands)
    small = name in SMALL_ONLY
    args = [*name.split(), *BASE.get(name, [])]
    options = [p for p in cmd.params if isinstance(p, click.Option) and "--help" not in p.opts]
    for param in rng.sample(options, k=min(len(options), rng.randint(0, 3))):
        if param.name == "out" and name in ("characterize", "switching", "train", "fit-profile"):
            args += [param.opts[-1], str(out)]
        elif param.is_flag:
            args.append(param.opts[-1])
        else:
            args += [rng.choice(param.opts), _value(rng, param, files, small)]
    for param in cmd.params:
        if isinstance(param, click.Argument) and (param.required or rng.random() < 0.5):
            count = 1 if param.nargs == 1 else rng.randint(1, 3)
            args += [_value(rng, param, files, small) for _ in range(count)]
    if name in ("fit-profile",) and "-o" not in args and "--out" not in args:
        args += ["-o", str(out.with_suffix(".toml"))]
    if name in ("train",) and "--out" not in args:
        args += ["--out", str(out)]
    if rng.random() < 0.1:
        args.insert(rng.randrange(len(args) + 1), rng.choice(("--debug", "--nonsense", "-x")))
    return Case(args, f"random arguments to {name}")


FILE_COMMANDS: dict[str, list[list[str]]] = {
    "station": [
        ["show", "{f}"],
        ["station", "check", "{f}"],
        ["calibration", "list", "--station", "{f}"],
        [
            "characterize",
            "--station",
            "{f}",
            "--arrays",
            "0",
            "--cycles",
            "1",
            "--no-report",
            "--out",
            "{out}",
        ],
    ],  # fmt: skip
    "profile": [
        ["show", "{f}"],
        ["show", "{f}"],
        [
            "characterize",
            "--profile",
            "{f}",
            "--arrays",
            "0",
            "--cycles",
            "1",
            "--no-report",
            "--out",
            "{out}",
        ],
        ["fit-profile", "{char}", "--base", "{f}", "-o", "{out}.toml"],
    ],  # fmt: skip
    "campaign": [
        ["campaign", "status", "{f}"],
        ["campaign", "status", "{f}"],
        ["show", "{f}"],
        ["campaign", "run", "{f}", "--workers", "1"],
    ],  # fmt: skip
    "record": [["show", "{f}"], ["calibration", "show", "{f}"]],
    "run": [
        ["show", "{f}"],
        ["show", "--verify", "{f}"],
        ["fit-profile", "{f}", "-o", "{out}.toml"],
        [
            "characterize",
            "--profile",
            "passive-15x15",
            "--cycles",
            "2",
            "--out",
            "{f}",
            "--resume",
            "--no-report",
        ],
        ["switching", "--profile", "passive-15x15", "--out", "{f}", "--resume", "--no-report"],
    ],  # fmt: skip
}


def file_case(rng: random.Random, seeds: dict[str, Path], folder: Path, index: int) -> Case:
    """A mutated copy of a seed file, given to a command that reads that kind of file."""
    kind = rng.choice(("station", "station", "profile", "campaign", "record", "run", "run"))
    out = folder / f"out{index}.h5"
    if kind == "run":
        source = rng.choice([seeds["run:char"], seeds["run:switching"]])
        target = folder / f"case{index}.h5"
        mutate_run_file(rng, source, target)
    else:
        source = rng.choice([p for k, p in seeds.items() if k.startswith(kind)])
        target = source.with_name(f"case{index}-{source.name}")
        target.write_bytes(mutate_text(rng, source.read_text(encoding="utf-8")))
    template = rng.choice(FILE_COMMANDS[kind])
    args = [a.format(f=target, out=out, char=seeds["run:char"]) for a in template]
    return Case(args, f"a mutated {kind} file ({source.name})")


# -- running -------------------------------------------------------------------------------


def _names_something(case: Case, output: str, commands: dict[str, click.Command]) -> bool:
    """Whether a failure message names a file, option, argument or command of the case."""
    text = " ".join(output.split())
    if not text:
        return False
    if any(address in text for address in ADDRESSES):
        return True  # an instrument named by its address
    tokens = set()
    for a in case.args:
        if a.startswith("--"):
            word = a[2:]
            tokens |= {a, word.replace("-", " "), word.replace("-", "_")}
        elif "/" in a or a.endswith((".toml", ".h5")):
            tokens |= {a, Path(a).name}
        elif len(a) >= 4:
            tokens.add(a)
    words = [a for a in case.args if not a.startswith("-")]
    for n in range(len(words), 0, -1):
        cmd = commands.get(" ".join(words[:n]))
        if cmd is not None:
            tokens.add(" ".join(words[:n]))
            for p in cmd.params:
                tokens |= set(p.opts)
                tokens.add(p.name.upper() if p.name else "")
                if isinstance(p.default, str | Path) and str(p.default):
                    tokens.add(str(p.default))
            break
    return any(t and t in text for t in tokens)


def run_case(case: Case, main: Callable[[list[str]], int],
             commands: dict[str, click.Command]) -> Outcome:  # fmt: skip
    """Run one case in process; classify how it ended."""
    buffer = io.StringIO()
    start = time.monotonic()
    code: int | None = None
    hang = crash = False
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        try:
            with _watchdog(case.budget):
                code = main(list(case.args))
        except FuzzHang:
            hang = True
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:  # noqa: BLE001 - anything escaping main is a crash...
            from mtj_hil.cli.main import EXIT_CODES

            # ...except, with --debug, an error of a known family shown as its traceback
            known = any(isinstance(exc, family) for family in EXIT_CODES)
            crash = not ("--debug" in case.args and known)
            code = None if crash else 99
            buffer.write(f"\n(escaped main: {type(exc).__name__}: {exc})")
    output = buffer.getvalue()
    crash = crash or code == 1 or "Traceback" in output
    failed = code not in (0, 130, 99, None)
    debug = "--debug" in case.args
    unnamed = failed and not hang and not debug and not _names_something(case, output, commands)
    return Outcome(case, code, output, time.monotonic() - start, crash, hang, unnamed)


def _restore_changed(pristine: dict[Path, bytes]) -> list[str]:
    """The seed files whose bytes differ from ``pristine`` (or are gone), put back."""
    changed = []
    for path, data in pristine.items():
        if not path.exists() or path.read_bytes() != data:
            changed.append(path.name)
            path.write_bytes(data)
    return changed


def fuzz(
    cases: int,
    seed: int,
    folder: Path,
    progress: Callable[[Outcome], None] | None = None,
    budget: float = 60.0,
) -> Tally:
    """Run ``cases`` cases (about half mutated files, half random arguments) from ``seed`` in
    ``folder`` (the working directory meanwhile); the tally of crashes, hangs and unnamed
    messages."""
    from unittest import mock

    import matplotlib.pyplot as plt

    from mtj_hil.cli.main import cli, main

    folder = Path(folder).resolve()
    previous = Path.cwd()
    os.chdir(folder.parent if folder.exists() else previous)
    folder.mkdir(parents=True, exist_ok=True)
    os.chdir(folder)
    tally = Tally()
    try:
        with mock.patch("mtj_hil.campaigns.engine.connect", _no_cluster):
            with (
                contextlib.redirect_stdout(io.StringIO()),
                contextlib.redirect_stderr(io.StringIO()),
            ):
                seeds = prepare(folder / "seeds", main)
            commands = leaf_commands(cli)
            by_name = dict(commands)
            files = [p for p in seeds.values()]
            pristine = {p: p.read_bytes() for p in files}
            rng = random.Random(seed)
            for i in range(cases):
                if rng.random() < 0.55:
                    case = file_case(rng, seeds, folder, i)
                else:
                    case = random_case(rng, commands, files, folder / f"out{i}.h5")
                case.budget = budget
                outcome = run_case(case, main, by_name)
                plt.close("all")
                tally.cases += 1
                if outcome.crash:
                    tally.crashes.append(outcome)
                if outcome.hang:
                    tally.hangs.append(outcome)
                if outcome.unnamed:
                    tally.unnamed.append(outcome)
                # a command never changes a file it was given to read (nor one it may not
                # replace): the seeds are restored after each case that did, so later ones
                # see them whole
                outcome.changed = _restore_changed(pristine)
                if outcome.changed and "--force" not in case.args:  # (asked to overwrite)
                    tally.changed.append(outcome)
                if progress is not None:
                    progress(outcome)
    finally:
        os.chdir(previous)
    return tally
