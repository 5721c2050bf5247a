"""Campaign files, the kind registry, claims and the command line, without a cluster."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import pytest

from mtj_hil.campaigns import Task, TaskKind, load_campaign, register_kind
from mtj_hil.campaigns.claims import claim
from mtj_hil.campaigns.engine import connect, run_campaign
from mtj_hil.campaigns.index import CampaignIndex
from mtj_hil.campaigns.registry import _KINDS
from mtj_hil.campaigns.task import ExpandContext, check_keys
from mtj_hil.cli.main import main
from mtj_hil.errors import ConfigError, StoreError
from mtj_hil.runs.store.runfile import RunFile

from .conftest import write_campaign

STATIONS = Path(__file__).resolve().parents[3] / "stations"


def lot_campaign(folder: Path, **kwargs: Any) -> Path:
    """:func:`write_campaign` without Borders, its lot measuring array 0 of each die: what
    the engine and the command line do with a task does not depend on how much of its die
    it measures, and a whole die takes seconds."""
    path = write_campaign(folder, borders=False, **kwargs)
    path.write_text(path.read_text() + 'arrays = "0"\n')
    return path


def _campaign(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text('[campaign]\nname = "c"\nout_dir = "out"\n' + body)
    return path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '[[task]]\nname = "a"\nkind = "switchin"\ndies = "0-3"\n',
            "task[0].kind = 'switchin' is not a task kind",
        ),
        ('[[task]]\nname = "a"\nkind = "characterize"\n', "task[0].dies is missing"),
        (
            '[[task]]\nname = "a"\nkind = "characterize"\ndies = "5-2"\n',
            "task[0].dies = '5-2': the range 5-2 runs backwards",
        ),
        (  # a backwards part inside a list was dropped silently (range(5, 3) is empty)
            '[[task]]\nname = "a"\nkind = "characterize"\ndies = "5-2,7"\n',
            "task[0].dies = '5-2,7': the range 5-2 runs backwards",
        ),
        (  # a trailing dash read as one index
            '[[task]]\nname = "a"\nkind = "characterize"\ndies = "0-"\n',
            "task[0].dies = '0-': '0-' is not an index or a range",
        ),
        (
            '[[task]]\nname = "a"\nkind = "characterize"\ndies = [1, 1]\n',
            "task[0].dies = [1, 1] lists die 1 twice",
        ),
        (
            '[[task]]\nname = "a"\nkind = "characterize"\ndies = "0"\nstation = "nope.toml"\n',
            "task[0].station = 'nope.toml' does not load",
        ),
        (
            '[[task]]\nname = "a"\nkind = "characterize"\ndies = "0"\ncycels = 2\n',
            "task[0].cycels is not a key",
        ),
        (
            '[[task]]\nname = "a"\nkind = "characterize"\ndies = "0"\n'
            '[[task]]\nname = "b"\nkind = "borders"\ncharacterization = "lot"\n',
            "task[1].characterization = 'lot' names no earlier",
        ),
        (
            '[[task]]\nname = "a"\nkind = "characterize"\ndies = "0"\n'
            '[[task]]\nname = "b"\nkind = "borders"\ncharacterization = "a"\nepochs = 0\n',
            "task[1].epochs = 0 is out of range; allowed: an integer in [1, 10000]",
        ),
        (  # an epoch count that would never end is refused before the lot is measured
            '[[task]]\nname = "a"\nkind = "characterize"\ndies = "0"\n'
            '[[task]]\nname = "b"\nkind = "borders"\ncharacterization = "a"\nepochs = 1e26\n',
            "task[1].epochs = 1e+26 is out of range; allowed: an integer in [1, 10000]",
        ),
        (
            '[[task]]\nname = "a"\nkind = "characterize"\ndies = "0"\n'
            '[[task]]\nname = "b"\nkind = "borders"\ncharacterization = "a"\n'
            "stats_epochs = 9223372036854775807\n",
            "task[1].stats_epochs = 9223372036854775807 is out of range; allowed: an integer "
            "in [1, 10000]",
        ),
        (
            '[[task]]\nname = "a"\nkind = "characterize"\ndies = "0"\n'
            '[[task]]\nname = "a"\nkind = "characterize"\ndies = "1"\n',
            "task[1].name 'a' names an earlier group",
        ),
    ],
)
def test_bad_campaign_files_name_the_key(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_campaign(_campaign(tmp_path, body))


def test_station_group_takes_its_name_as_the_exclusive_resource(tmp_path: Path) -> None:
    spec = load_campaign(
        _campaign(
            tmp_path,
            f'[[task]]\nname = "bench"\nkind = "characterize"\nstation = "{STATIONS}/virtual-lab.toml"\n'
            'dies = "0-1"\n',
        )
    )
    assert [t.station for t in spec.tasks] == ["virtual-lab", "virtual-lab"]
    assert [t.params["die_id"] for t in spec.tasks] == [
        "sim:1t1r-20k:lot0:die0",
        "sim:1t1r-20k:lot0:die1",
    ]


@pytest.mark.slow
def test_scheduler_that_does_not_answer_is_one_config_error() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConfigError, match=f"scheduler tcp://127.0.0.1:{port} does not answer"):
        connect(f"tcp://127.0.0.1:{port}", timeout=1)


@pytest.mark.parametrize("answer", [None, b"HTTP/1.1 400 Bad Request\r\n\r\n" * 8])
def test_a_listener_that_is_no_scheduler_is_one_config_error_in_time(answer) -> None:
    # a silent one (the dashboard's port) held Dask's handshake for ever; one answering
    # other bytes had them read as a frame length (MemoryError, exit 1)
    import threading
    import time

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]
    held = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)
            if answer:
                conn.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    t0 = time.monotonic()
    try:
        with pytest.raises(ConfigError, match=f"scheduler tcp://127.0.0.1:{port} does not answer"):
            connect(f"tcp://127.0.0.1:{port}", timeout=1)
    finally:
        server.close()
        for conn in held:
            conn.close()
    assert time.monotonic() - t0 < 30


def test_workers_with_a_scheduler_is_a_usage_error(tmp_path: Path, capsys) -> None:
    from mtj_hil.cli.main import main

    file = write_campaign(tmp_path, dies="0", borders=False)
    code = main(
        ["campaign", "run", str(file), "--scheduler", "tcp://127.0.0.1:8786", "--workers", "2"]
    )
    assert code == 2, capsys.readouterr().err
    assert "--workers" in capsys.readouterr().err


@pytest.mark.slow
def test_rerun_skips_finished_tasks_and_checks_the_run_files(tmp_path: Path) -> None:
    spec = load_campaign(lot_campaign(tmp_path, dies="0-1"))
    assert run_campaign(spec).completed == ["lot/die0", "lot/die1"]
    again = run_campaign(spec)
    assert again.skipped == ["lot/die0", "lot/die1"] and not again.completed
    # an interrupted run file is resumed; one changed after indexing is refused, untouched
    die0, die1 = (t.run_file for t in spec.tasks)
    with RunFile.open(die0, "a") as run:  # as if cut short before it completed
        run.set_status("aborted", "test: interrupted")
    CampaignIndex(spec.index_path).update("lot/die0", status="running", checksum="")
    with RunFile.open(die1, "a") as run:
        run.set_attrs("", operator="someone else")
    third = run_campaign(spec)
    assert third.completed == ["lot/die0"]
    assert "changed after it was indexed" in third.failed["lot/die1"]
    with RunFile.open(die0) as run:
        assert run.status == "completed" and run.attrs["resumed"]
    with RunFile.open(die1) as run:
        assert run.attrs["operator"] == "someone else"


def test_two_campaigns_cannot_share_an_out_dir(tmp_path: Path) -> None:
    first = load_campaign(lot_campaign(tmp_path, name="first", dies="0"))
    second = load_campaign(lot_campaign(tmp_path, name="second", dies="0"))
    assert first.tasks[0].run_file == second.tasks[0].run_file
    assert run_campaign(first).ok
    with pytest.raises(StoreError, match="holds campaign 'first', not 'second'"):
        run_campaign(second)


def test_a_run_file_has_one_owning_campaign(tmp_path: Path) -> None:
    run_file = tmp_path / "lot" / "die0.h5"
    claim(run_file, tmp_path / "a" / "campaign.h5")
    claim(run_file, tmp_path / "a" / "campaign.h5")  # the same campaign again: its own
    with pytest.raises(StoreError, match="belongs to another campaign"):
        claim(run_file, tmp_path / "b" / "campaign.h5")
    stray = tmp_path / "lot" / "die1.h5"
    stray.write_bytes(b"written by hand")
    with pytest.raises(StoreError, match="exists but no campaign claims it"):
        claim(stray, tmp_path / "a" / "campaign.h5")


def test_changed_task_parameters_are_refused(tmp_path: Path) -> None:
    run_campaign(load_campaign(lot_campaign(tmp_path, dies="0")))
    changed = load_campaign(lot_campaign(tmp_path, dies="0", cycles=2))
    with pytest.raises(ConfigError, match="task lot/die0 changed since it completed"):
        run_campaign(changed)


def test_campaign_check_refuses_a_task_changed_since_it_completed(tmp_path: Path, capsys) -> None:
    """``campaign check`` passed a campaign (exit 0) that ``campaign run`` then refused."""
    from mtj_hil.cli.main import main

    run_campaign(load_campaign(lot_campaign(tmp_path, dies="0")))
    path = lot_campaign(tmp_path, dies="0")
    assert main(["campaign", "check", str(path)]) == 0
    path = lot_campaign(tmp_path, dies="0", cycles=2)
    assert main(["campaign", "check", str(path)]) == 3
    assert "task lot/die0 changed since it completed" in capsys.readouterr().err


def test_a_registered_kind_runs_in_a_campaign(tmp_path: Path) -> None:
    """What registering a new kind (e.g. switching) takes: expand, run, digest."""

    def expand(group: dict[str, Any], ctx: ExpandContext) -> list[Task]:
        check_keys(group, {"values"}, ctx)
        return [
            Task(
                f"{group['name']}/v{v}",
                "probe",
                group["name"],
                ctx.out_dir / group["name"] / f"v{v}.h5",
                {"value": v},
            )
            for v in group["values"]
        ]

    def run(task: Task) -> dict[str, Any]:
        if task.params["value"] < 0:
            raise ValueError("negative value")
        with RunFile.create(task.run_file, "probe", die_id="none") as f:
            f.write("value", task.params["value"], "1")
            f.set_status("completed")
        return {"value": task.params["value"]}

    register_kind(TaskKind("probe", expand, run, lambda p: "d"))
    try:
        spec = load_campaign(
            _campaign(tmp_path, '[[task]]\nname = "p"\nkind = "probe"\nvalues = [1, -2, 3]\n')
        )
        outcome = run_campaign(spec)
    finally:
        del _KINDS["probe"]
    assert outcome.completed == ["p/v1", "p/v3"]
    assert outcome.failed == {"p/v-2": "ValueError: negative value"}
    rec = CampaignIndex(spec.index_path).records()
    assert rec["p/v3"]["summary"] == {"value": 3} and rec["p/v-2"]["status"] == "failed"


@pytest.mark.slow
def test_cli_status_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = lot_campaign(tmp_path, dies="0-1")
    assert main(["campaign", "status", str(path)]) == 0
    run_campaign(load_campaign(path))
    assert main(["campaign", "status", str(path)]) == 0
    assert main(["campaign", "report", str(path)]) == 0
    out = capsys.readouterr().out
    assert "characterize" in out and "Lot summary" in out
    assert (tmp_path / "out" / "report" / "lot-map.png").stat().st_size > 0
    lines = (tmp_path / "out" / "report" / "lot-dies.csv").read_text().splitlines()
    assert lines[0].startswith("rank,die,devices,yield %") and len(lines) == 3


def test_cli_bad_campaign_exits_3(tmp_path: Path) -> None:
    bad = _campaign(tmp_path, '[[task]]\nname = "a"\nkind = "nope"\n')
    assert main(["campaign", "run", str(bad)]) == 3


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("[red]x[/]", "is not a scheduler address"),
        ("tcp://host:99999", "Port out of range"),
        ("ws://host:8786", "transport 'ws' is not tcp or tls"),
        ("host", "names no port"),
        ("tcp://:8786", "names no host"),
        ("tls://host:8786/path", "more than a host and a port"),
    ],
)
def test_a_scheduler_that_is_no_address_is_a_usage_error(address, why, capsys) -> None:
    from mtj_hil.campaigns.cluster import scheduler_address

    with pytest.raises(ValueError, match=re.escape(why)):
        scheduler_address(address)
    campaign = Path(__file__).resolve().parents[3] / "campaigns" / "example-lot.toml"
    assert main(["campaign", "run", "--scheduler", address, str(campaign)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"Invalid value for '--scheduler': '{address}'" in err  # markup kept as typed
    with pytest.raises(ConfigError, match="--scheduler"):
        connect(address)


def test_scheduler_addresses_that_dask_takes_pass() -> None:
    from mtj_hil.campaigns.cluster import scheduler_address

    for address in (
        "tcp://10.0.0.2:8786",
        "tls://lab-server:8786",
        "host:8786",
        "tcp://[::1]:8786",
    ):
        assert scheduler_address(address) == address
