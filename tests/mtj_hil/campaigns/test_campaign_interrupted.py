"""A campaign stopped part-way (a signal or a full disk at a write), then run again, with its
campaign file unchanged or changed in between.

Running it again finishes it with run files equal to an uninterrupted campaign's; a task
that began with other settings than the campaign file now gives is refused before anything
runs (finishing it would mix two plans in one run file), while a task that had not begun
simply runs with the new settings and is not refused afterwards. The engine runs in this
process (no cluster), as :mod:`scripts.bench_crash` runs it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from mtj_hil.campaigns import load_campaign
from mtj_hil.campaigns.engine import run_campaign
from mtj_hil.campaigns.index import CampaignIndex
from mtj_hil.cli.common import forget_run
from mtj_hil.cli.main import main
from mtj_hil.errors import ConfigError, StoreError
from mtj_hil.instruments.bus.signals import stop_signals_raise
from mtj_hil.runs.store import RunFile
from mtj_hil.testing.crash_scenarios import compare_h5
from mtj_hil.testing.write_faults import write_faults

CAMPAIGN = """
[campaign]
name = "cut"
out_dir = "out"

[[task]]
name = "lot"
kind = "characterize"
profile = "passive-15x15"
dies = "0-1"
cycles = {cycles}
"""


def _write(folder: Path, cycles: int = 3) -> Path:
    path = folder / "cut.toml"
    path.write_text(CAMPAIGN.format(cycles=cycles))
    return path


def _run(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_campaign(load_campaign(path))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The campaign run once uninterrupted: its folder and its list of write points."""
    folder = tmp_path_factory.mktemp("ref")
    with write_faults(folder) as faults:
        assert _run(_write(folder)).ok
    return folder, faults.points


def _die0_first_part(points: list[str]) -> int:
    """The write point just after die 0's first array was committed (one journal part)."""
    return 1 + next(i for i, p in enumerate(points, 1) if "die0.h5.parts/." in p and "link" in p)


def _stop(folder: Path, k: int, action: str) -> None:
    """Run the campaign stopped at write point ``k`` (signals handled as the command line
    handles them: :class:`StopSignal`, a KeyboardInterrupt)."""
    with (
        stop_signals_raise(),
        write_faults(folder, k, action),
        pytest.raises((KeyboardInterrupt, StoreError)),
    ):
        outcome = _run(_write(folder))
        if not outcome.ok:  # a failed write inside a task is recorded, not raised
            raise StoreError(str(outcome.failed))


def _same_as(folder: Path, reference: Path) -> None:
    for die in (0, 1):
        rel = Path("out", "lot", f"die{die}.h5")
        assert compare_h5(folder / rel, reference / rel) == [], die
    records = CampaignIndex(folder / "out" / "campaign.h5").records().values()
    assert {r["status"] for r in records} == {"completed"}


@pytest.mark.parametrize(
    ("action", "where"),
    [("SIGTERM", "die 0 begun"), ("SIGINT", "die 1 begun"), ("ENOSPC", "die 1 begun")],
)
def test_a_stopped_campaign_run_again_equals_an_uninterrupted_one(
    action, where, reference, tmp_path, python_sigint
):
    ref, points = reference
    k = _die0_first_part(points)
    if where == "die 1 begun":
        k = 1 + next(i for i, p in enumerate(points, 1) if "die1.h5.parts/." in p and "link" in p)
    _stop(tmp_path, k, action)
    outcome = _run(_write(tmp_path))
    assert outcome.ok, outcome.failed
    _same_as(tmp_path, ref)
    stopped = "die0.h5" if where == "die 0 begun" else "die1.h5"
    with RunFile.open(tmp_path / "out" / "lot" / stopped) as run:
        assert run.attrs["resumed"], f"{stopped} was resumed, not measured again"


def test_a_task_begun_with_other_settings_is_refused_not_mixed(reference, tmp_path, python_sigint):
    ref, points = reference
    _stop(tmp_path, _die0_first_part(points), "SIGINT")
    die0 = tmp_path / "out" / "lot" / "die0.h5"
    with RunFile.open(die0) as run:
        assert run.status == "aborted"
    changed = _write(tmp_path, cycles=2)
    with pytest.raises(ConfigError) as refused:
        _run(changed)
    text = str(refused.value)
    assert f"task lot/die0 changed since it began into {die0}" in text
    assert "restore them to finish it" in text
    with RunFile.open(die0) as run:  # untouched
        assert run.status == "aborted" and not run.attrs["resumed"]
    assert _run(_write(tmp_path, cycles=3)).ok  # restored: it finishes as planned
    _same_as(tmp_path, ref)


def test_a_task_not_begun_takes_the_new_settings_and_stays_accepted(
    reference, tmp_path, python_sigint
):
    _, points = reference
    _stop(tmp_path, _die0_first_part(points), "SIGINT")
    (tmp_path / "out" / "lot" / "die0.h5").unlink()  # as if die 0 were removed to redo it
    changed = _write(tmp_path, cycles=2)
    assert _run(changed).ok
    assert _run(changed).ok  # run again: nothing changed since the tasks began
    for die in (0, 1):
        with RunFile.open(tmp_path / "out" / "lot" / f"die{die}.h5") as run:
            assert run.attrs["plan"]["cycles"] == 2


def test_status_of_a_stopped_campaign_says_interrupted_and_how_to_finish(
    reference, tmp_path, capsys, python_sigint
):
    _, points = reference
    _stop(tmp_path, _die0_first_part(points), "SIGINT")
    path = tmp_path / "cut.toml"
    index = CampaignIndex(tmp_path / "out" / "campaign.h5")
    with index.exclusive():  # a campaign run holds it: its tasks run
        assert main(["campaign", "status", str(path)]) == 0
        assert "interrupted" not in capsys.readouterr().out
    assert main(["campaign", "status", str(path)]) == 0  # nobody runs it: they were cut short
    captured = capsys.readouterr()
    shown = " ".join((captured.out + captured.err).split())
    assert "interrupted" in shown and f"mtj-hil campaign run {path}" in shown


def test_a_stopped_campaign_run_names_the_command_that_finishes_it(capsys):
    from mtj_hil.cli.main import _interrupted

    forget_run()
    _interrupted(["campaign", "run", "lot.toml", "--workers", "2"], "SIGTERM")
    err = " ".join(capsys.readouterr().err.split())
    assert err == (
        "stopped by SIGTERM: run the campaign again to finish it: "
        "mtj-hil campaign run lot.toml --workers 2"
    )


@pytest.mark.parametrize(("action", "k"), [("EACCES", 1), ("EROFS", 1), ("ENOSPC", 8)])
def test_a_results_folder_that_cannot_be_written_is_named_with_what_to_do(action, k, tmp_path):
    # write 1 under out_dir: its index's lock file; write 8: the index, written aside
    path = _write(tmp_path)
    with write_faults(tmp_path / "out", k, action), pytest.raises(StoreError) as refused:
        _run(path)
    text = str(refused.value)
    assert str(tmp_path / "out") in text
    assert ("out_dir must be writable" if k == 1 else "run the campaign again") in text, text
