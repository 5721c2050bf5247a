"""``mtj-hil lab``: the virtual lab's instruments served on loopback, for use by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from mtj_hil.cli.common import GivenPath, console
from mtj_hil.cli.numbers import FiniteRange
from mtj_hil.cli.view import MAX_SECONDS
from mtj_hil.errors import ConfigError, counted
from mtj_hil.fileio.atomic import atomic_write
from mtj_hil.station.config import Station


@click.group(short_help="Virtual lab: simulated dies behind virtual instruments.")
def lab() -> None:
    """The virtual lab: simulated dies behind virtual instruments on loopback sockets."""


@lab.command(short_help="Serve a station's die through a virtual board and SMU.")
@click.option(
    "--station",
    type=GivenPath(dir_okay=False, path_type=Path),
    default=None,
    help="Station file whose [virtual_lab] section names the die to serve [default: "
    "stations/virtual-lab.toml here, else the shipped example].",
)
@click.option(
    "--write-station",
    type=GivenPath(dir_okay=False, path_type=Path),
    default=None,
    help="Also write a station file with the live addresses here (it may replace only a file "
    "an earlier lab serve wrote).",
)
@click.option(
    "--seconds",
    type=FiniteRange(0, MAX_SECONDS),
    default=None,
    help="Stop after this many seconds (default: run until Ctrl-C).",
)
@click.option(
    "--smu-dialect",
    type=click.Choice(["keithley2400", "keithley2450", "keithley2600", "keysight_b2900"]),
    default=None,
    help="Which SMU to serve (default: the driver of the station's sense SMU, else keithley2400).",
)
@click.option(
    "--smu-start",
    default=None,
    help="State the SMU is found in, e.g. power-on, output-on, last-user, tsp-language "
    "(default: the station's [virtual_lab] smu_start, else power-on).",
)
def serve(
    station: Path | None,
    write_station: Path | None,
    seconds: float | None,
    smu_dialect: str | None,
    smu_start: str | None,
) -> None:
    """Serve the station's die through a virtual controller board and SMU (loopback only).

    Prints the pyserial URL of the board and the VISA resource of the SMU; point a station
    file at them (or use --write-station) and run any command with --station. The SMU speaks
    the dialect of the station's sense SMU driver unless --smu-dialect names another.
    """
    import time

    from mtj_hil.station.connect import station_virtual_lab
    from mtj_hil.station.files import load_station

    if station is None:
        from mtj_hil.examples import example_dir

        here = Path("stations/virtual-lab.toml")
        station = here if here.exists() else example_dir("stations") / "virtual-lab.toml"
    st = load_station(station)
    if write_station is not None:
        check_station_target(write_station)
    cfg = st.virtual_lab
    if cfg is None:
        raise ConfigError(f"{station}: has no [virtual_lab] section naming the die to serve")
    sense = st.smu("sense")
    dialect = smu_dialect or (sense.driver if sense else "keithley2400")
    start = smu_start or cfg.smu_start
    try:
        lab_obj = station_virtual_lab(
            st,
            smu_dialect=dialect,
            smu_start=start,
            smu_channel=sense.channel if sense and sense.driver == dialect else None,
        )
    except ValueError as exc:
        raise ConfigError(f"lab serve: {exc}") from exc
    with lab_obj as running:
        console.print(escape(f"serving {running.die_id}"), soft_wrap=True)
        console.print(escape(f"  controller board: {running.controller_url}"), soft_wrap=True)
        console.print(escape(f"  SMU ({dialect}, {start}): {running.smu_resource}"), soft_wrap=True)
        if write_station is not None:
            served_station(st, running, dialect, start, write_station)
            console.print(escape(f"  station file:     {write_station}"), soft_wrap=True)
        console.print("Ctrl-C stops the lab")
        deadline = None if seconds is None else time.monotonic() + seconds
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
        console.print(
            escape(
                f"modelled lab time {running.clock.now:.1f} s, "
                f"{counted(running.clock.transactions, 'transaction')}"
            ),
            soft_wrap=True,
        )


SERVED_HEADER = "# Written by mtj-hil lab serve"
"""How a station file ``--write-station`` wrote begins (the only kind it replaces)."""


def check_station_target(target: Path) -> None:
    """Refuse a ``--write-station`` path that holds anything but an earlier served station
    file (a run file or a hand-written station given by mistake is never overwritten), or
    where no file can be written; its missing folders are made, before the lab starts.

    Raises:
        StoreError: the file exists and is not one ``lab serve`` wrote, or cannot be read;
            or no file can be made there (naming why).
    """
    from mtj_hil.errors import StoreError
    from mtj_hil.fileio.atomic import error_text
    from mtj_hil.fileio.writable import check_writable_place

    if not target.exists():
        try:
            check_writable_place(target)
        except OSError as exc:
            raise StoreError(f"--write-station {target}: {error_text(exc)}") from exc
        return
    try:
        with target.open("rb") as fh:
            head = fh.read(len(SERVED_HEADER))
    except OSError as exc:
        raise StoreError(f"--write-station {target}: cannot read it: {exc.strerror}") from exc
    if head != SERVED_HEADER.encode():
        raise StoreError(
            f"--write-station {target}: the file exists and is not a station file written by "
            "mtj-hil lab serve; it is left as it is: give another path, or remove it"
        )


def served_station(st: Station, running: Any, dialect: str, start: str, target: Path) -> None:
    """Write the station file of the lab being served: its live controller URL and SMU
    resource, the served SMU dialect as the sense SMU's driver, the start state, and the
    station's relative paths made absolute (the file may be written elsewhere). It is
    checked to load before it is written.

    Raises:
        ConfigError: the result would not load (a bug; nothing is written then).
    """
    import copy
    import tomllib

    from mtj_hil.station.files import profile_source, station_from_dict
    from mtj_hil.station.write import station_text

    data = copy.deepcopy(st.raw)
    data.setdefault("controller", {})["url"] = running.controller_url
    sense = st.smu("sense")
    name = sense.name if sense else "sense"
    smu = data.setdefault("smu", {}).setdefault(name, {"role": "sense"})
    if sense is None or sense.driver != dialect:
        smu.pop("channel", None)  # the served instrument's first channel
    smu["driver"] = dialect
    smu["resource"] = running.smu_resource
    data.setdefault("virtual_lab", {})["smu_start"] = start
    folder = st.path.parent if st.path else Path.cwd()
    data["die"]["profile"] = profile_source(str(data["die"]["profile"]), st.path)
    if Path(data["die"]["profile"]).suffix == ".toml":
        data["die"]["profile"] = str(Path(data["die"]["profile"]).resolve())
    if "calibration" in data:
        data["calibration"]["dir"] = str(
            (folder / str(data["calibration"].get("dir", "calibrations"))).resolve()
        )
    header = (
        f"Written by mtj-hil lab serve from {st.path}: the live addresses of the lab serving "
        f"{running.die_id}\n(SMU dialect {dialect}, found as {start}); valid while it runs."
    )
    text = station_text(data, header)
    station_from_dict(tomllib.loads(text), target)
    try:  # whole or not at all: a script waiting for the file never reads half of it
        atomic_write(target, text.encode("utf-8"))
    except OSError as exc:
        from mtj_hil.errors import StoreError

        raise StoreError(f"cannot write the station file {target}: {exc.strerror}") from exc
