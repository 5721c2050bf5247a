"""Two station files that name one instrument (two names for one bench, or two benches
sharing an SMU): their campaign tasks wait for each other on the cluster, where each took
only its own station's lock and the second failed with "bench in use" at its first
instrument."""

from __future__ import annotations

import time
import tomllib
from pathlib import Path

from mtj_hil.campaigns.task import Task
from mtj_hil.campaigns.worker import bench_keys, station_lock
from mtj_hil.station.write import station_text

STATION = Path(__file__).resolve().parents[3] / "stations" / "virtual-lab.toml"


def _station(folder: Path, name: str, url: str, smu: str) -> str:
    data = tomllib.loads(STATION.read_text())
    del data["calibration"]
    data["controller"]["url"] = url
    data["smu"]["sense"]["resource"] = smu
    path = folder / f"{name}.toml"
    path.write_text(station_text(data, name))
    return str(path)


def _task(name: str, station_file: str | None) -> Task:
    return Task(
        id=f"g/{name}",
        kind="characterize",
        group="g",
        run_file=Path(f"/tmp/{name}.h5"),
        params={"station_file": station_file},
        station=name,
    )


def test_one_instrument_under_two_spellings_is_one_key(tmp_path):
    a = _station(tmp_path, "a", "socket://127.0.0.1:41000", "TCPIP::10.0.0.5::INSTR")
    b = _station(tmp_path, "b", "socket://127.0.0.2:41000", "tcpip0::10.0.0.5::inst0::INSTR")
    keys_a, keys_b = bench_keys(_task("a", a)), bench_keys(_task("b", b))
    assert len(keys_a) == 2 and len(set(keys_a) & set(keys_b)) == 1  # the SMU, not the board
    assert bench_keys(_task("c", None)) == []
    assert bench_keys(_task("d", str(tmp_path / "missing.toml"))) == []  # the task says why


def test_tasks_of_two_stations_sharing_an_instrument_take_turns(tmp_path):
    from distributed import Client

    a = _station(tmp_path, "a", "socket://127.0.0.1:41000", "TCPIP::10.0.0.5::INSTR")
    b = _station(tmp_path, "b", "socket://127.0.0.2:41000", "tcpip0::10.0.0.5::inst0::INSTR")
    c = _station(tmp_path, "c", "socket://127.0.0.3:41000", "TCPIP::10.0.0.6::INSTR")

    def hold(task: Task) -> tuple[float, float]:
        with station_lock(task.station, bench_keys(task)):
            start = time.monotonic()
            time.sleep(0.5)
            return start, time.monotonic()

    with Client(processes=False, n_workers=1, threads_per_worker=3, dashboard_address=None) as cl:
        futures = [
            cl.submit(hold, _task(n, f), pure=False) for n, f in (("a", a), ("b", b), ("c", c))
        ]
        (a0, a1), (b0, b1), (c0, c1) = [f.result(timeout=60) for f in futures]
    assert a1 <= b0 or b1 <= a0  # a and b share the SMU: one after the other
    overlap = lambda x, y: x[0] < y[1] and y[0] < x[1]  # noqa: E731
    assert overlap((c0, c1), (a0, a1)) or overlap((c0, c1), (b0, b1))  # c waits for neither
