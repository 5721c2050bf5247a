"""Damaged run files never pass as good and never exit 1: every flipped or zeroed byte is
caught by the checksums (exit 4 naming the file, and the dataset where it can be told), and
a damaged journal part is set aside and its arrays measured again."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

from mtj_hil.cli import main
from mtj_hil.errors import StoreError
from mtj_hil.protocols import CharacterizationPlan
from mtj_hil.runs.jobs.characterization import run_characterization
from mtj_hil.runs.store import load_characterization, verify_run
from mtj_hil.runs.store.journal import RecoveryWarning, list_parts
from mtj_hil.sim import SimulatedChip

DIE = "sim:passive-15x15:lot0:die3"
PLAN = CharacterizationPlan(arrays=(0, 1), cycles=2)


def _chip() -> SimulatedChip:
    return SimulatedChip.from_lot("passive-15x15", 0, 3)


@pytest.fixture(autouse=True)
def _short_probe(monkeypatch) -> None:
    """HDF5 hangs on some zeroed blocks; the processes that probe a file give up after 5 s
    here, not 30 s."""
    from mtj_hil.runs.store import reading

    monkeypatch.setattr(reading, "LEGACY_PROBE_TIMEOUT", 5.0)
    monkeypatch.setattr(reading, "DIAGNOSE_TIMEOUT", 5.0)


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("good") / "run.h5"
    run_characterization(_chip(), path, die_id=DIE, plan=PLAN, seed=0)
    assert verify_run(path) == []
    return path


def _damaged(good: Path, folder: Path, offset: int, zero_block: bool = False) -> Path:
    path = folder / f"damaged-{offset}{'-zero' if zero_block else ''}.h5"
    data = bytearray(good.read_bytes())
    if zero_block:
        data[offset : offset + 4096] = bytes(len(data[offset : offset + 4096]))
    else:
        data[offset] ^= 0x20
    path.write_bytes(bytes(data))
    return path


@pytest.mark.slow
def test_every_flipped_byte_exits_4_naming_the_file(good: Path, tmp_path: Path, capsys) -> None:
    size = good.stat().st_size
    offsets = sorted({0, 30, 100, 511, *np.linspace(512, size - 1, 14).astype(int).tolist()})
    for offset in offsets:
        path = _damaged(good, tmp_path, offset)
        if path.read_bytes() == good.read_bytes():
            continue
        assert main(["show", str(path)]) == 4, offset
        out = capsys.readouterr()
        assert str(path) in (out.out + out.err).replace("\n", ""), offset
        assert verify_run(path), offset


@pytest.mark.slow
def test_zeroed_blocks_and_truncation_exit_4(
    good: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    from mtj_hil.runs.store import reading

    # exit 4 whether the locating process names the damage or runs out of time on it
    monkeypatch.setattr(reading, "DIAGNOSE_TIMEOUT", 2.0)
    size = good.stat().st_size
    for offset in (0, 4096, size // 2, size - 4096):
        path = _damaged(good, tmp_path, offset, zero_block=True)
        assert main(["show", str(path)]) == 4
    cut = tmp_path / "cut.h5"
    cut.write_bytes(good.read_bytes()[: size // 3])
    assert main(["show", str(cut)]) == 4
    assert "truncated" in capsys.readouterr().err


def test_damage_inside_a_dataset_is_named(good: Path, tmp_path: Path) -> None:
    with h5py.File(good, "r") as f:
        ds = f["characterization/g_after_p"]
        chunk = ds.id.get_chunk_info(0)
        offset = 512 + chunk.byte_offset + chunk.size // 2  # HDF5 addresses skip the user block
    path = _damaged(good, tmp_path, offset)
    problems = verify_run(path)
    assert any("characterization/g_after_p" in p for p in problems), problems
    with pytest.raises(StoreError, match="characterization/g_after_p"):
        load_characterization(path)


KILLED_AFTER_ONE = textwrap.dedent(
    """
    import os, sys
    from mtj_hil.protocols import CharacterizationPlan
    from mtj_hil.runs.jobs.characterization import run_characterization
    from mtj_hil.sim import SimulatedChip

    def progress(done, total, array):
        if done == 1:
            os._exit(9)  # killed: no status, no whole file, the journal holds the arrays

    run_characterization(
        SimulatedChip.from_lot("passive-15x15", 0, 3), sys.argv[1],
        die_id="sim:passive-15x15:lot0:die3",
        plan=CharacterizationPlan(arrays=(0, 1), cycles=2), seed=0, progress=progress,
    )
    """
)


def test_a_damaged_journal_part_is_set_aside_and_measured_again(tmp_path: Path) -> None:
    plan = PLAN
    reference = tmp_path / "reference.h5"
    run_characterization(_chip(), reference, die_id=DIE, plan=plan, seed=0)
    path = tmp_path / "killed.h5"
    proc = subprocess.run([sys.executable, "-c", KILLED_AFTER_ONE, str(path)], check=False)
    assert proc.returncode == 9
    assert load_characterization(path).arrays_done == [0]
    # array 0's commit (the timeline's row for it is a later part, untrusted after it)
    last = next(p for _, p in list_parts(path) if b"characterization/array_index" in p.read_bytes())
    data = bytearray(last.read_bytes())
    data[len(data) // 2] ^= 1
    last.write_bytes(bytes(data))
    with pytest.warns(RecoveryWarning, match="do not verify"):
        assert load_characterization(path).arrays_done == []
    assert any("not trusted" in p for p in verify_run(path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_characterization(_chip(), path, die_id=DIE, plan=plan, seed=0, resume=True)
    assert any("set aside" in str(w.message) for w in caught)
    assert last.with_name(last.name + ".untrusted").exists()
    done, ref = load_characterization(path), load_characterization(reference)
    assert done.arrays_done == [0, 1]
    np.testing.assert_array_equal(done.codes, ref.codes)
    np.testing.assert_array_equal(done.g_p, ref.g_p)
    assert verify_run(path) == []


def test_a_file_written_by_hand_after_the_fact_is_refused(good: Path, tmp_path: Path) -> None:
    path = tmp_path / "edited.h5"
    shutil.copy(good, path)
    with h5py.File(path, "a") as f:  # an edit in place breaks the whole-file checksum
        f["defects/codes"][0, 0, 0] = 2
    with pytest.raises(StoreError, match="damaged"):
        load_characterization(path)


def test_a_damaged_file_of_0_1_that_hangs_hdf5_exits_4_instead(tmp_path: Path, monkeypatch) -> None:
    """A 0.1 run file has no checksum; with a zeroed block where HDF5 keeps its metadata,
    HDF5 loops for ever parsing it. A separate process with a time limit parses it first
    (2 s here: the file hangs, so the limit is always waited out)."""
    from mtj_hil.runs.store import reading

    monkeypatch.setattr(reading, "LEGACY_PROBE_TIMEOUT", 2.0)
    legacy = Path(__file__).resolve().parents[2] / "fixtures" / "legacy-0.1"
    data = bytearray((legacy / "characterization-interrupted.h5").read_bytes())
    data[4096 : 4096 + 4096] = bytes(4096)  # found by zeroing each block in turn
    path = tmp_path / "old-damaged.h5"
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="damaged: HDF5 did not finish reading it within 2 s"):
        load_characterization(path)
    assert main(["show", str(path)]) == 4


def test_verify_of_a_file_without_checksums_says_so_and_reads_it_whole(tmp_path, capsys):
    """``show --verify`` said "every checksum good" of a 0.1 file, which has none, and
    passed one with a dataset deleted that export and load refuse."""
    import shutil

    import h5py

    from mtj_hil.cli import main

    legacy = Path(__file__).parents[2] / "fixtures" / "legacy-0.1" / "characterization.h5"
    path = tmp_path / "old.h5"
    shutil.copy(legacy, path)
    assert main(["show", "--verify", str(path)]) == 0
    out = capsys.readouterr().out
    assert "carries no checksums" in out and "every checksum good" not in out
    with h5py.File(path, "r+") as h5:
        del h5["characterization/g_after_ap"]
    assert main(["show", "--verify", str(path)]) == 4
    assert "g_after_ap" in capsys.readouterr().err


def test_one_command_parses_a_file_without_checksums_in_one_process(tmp_path, monkeypatch):
    """A file without checksums (0.1) is parsed by a separate process first (HDF5 may hang
    on damaged metadata); ``show --verify`` started eight such processes on the same bytes.
    What one found is kept for those bytes: one per command, and another once they change."""
    from mtj_hil.runs.store import reading

    monkeypatch.setattr(reading, "_DIAGNOSED", {})  # nothing kept from an earlier test
    started = []
    run = subprocess.run

    def counted(args, **kwargs):
        started.extend(a for a in args if a == "mtj_hil.runs.store.diagnose")
        return run(args, **kwargs)

    monkeypatch.setattr(reading.subprocess, "run", counted)
    path = tmp_path / "old.h5"
    shutil.copy(Path(__file__).parents[2] / "fixtures" / "legacy-0.1" / "characterization.h5", path)
    assert main(["show", "--verify", str(path)]) == 0
    assert len(started) == 1
    with h5py.File(path, "r+") as h5:
        del h5["characterization/g_after_ap"]
    assert main(["show", "--verify", str(path)]) == 4
    assert len(started) == 2


@pytest.mark.parametrize(
    ("name", "cut"),
    [
        ("characterization/g_high_p", False),
        ("characterization/g_high_ap", True),
        ("defects/confidence", False),
        ("defects/best_guess", False),
        ("defects/bias_p", False),
    ],
)
def test_half_of_a_pair_missing_is_damage_not_an_older_file(tmp_path, name, cut):
    """A 0.1 file with g_high_p deleted (or g_high_ap cut short, or one of confidence /
    best_guess, bias_p / bias_ap gone) loaded without that variable: the half left was
    read as an older run's absence. Now it is named as damage."""
    import mtj_hil
    from mtj_hil.errors import StoreError

    legacy = Path(__file__).parents[2] / "fixtures" / "legacy-0.1" / "characterization.h5"
    path = tmp_path / "old.h5"
    shutil.copy(legacy, path)
    with h5py.File(path, "r+") as h5:
        if name not in h5:
            pytest.skip(f"the fixture has no {name}")
        data = h5[name][()]
        del h5[name]
        if cut:
            h5[name] = data[:-1]
    with pytest.raises(StoreError, match="damaged run file"):
        mtj_hil.load(path)


def test_reading_a_run_killed_mid_run_leaves_its_writer_lease(tmp_path):
    """``show`` of a run whose writer was killed mid-run (status still ``running``) removed
    the dead writer's lease, the evidence of the interruption; a read-only command now
    leaves the files as they are."""
    from mtj_hil.cli import main

    path = tmp_path / "killed.h5"
    script = textwrap.dedent(
        f"""
        import os, signal, mtj_hil
        def kill(done, total, array):
            if done == 1:
                os.kill(os.getpid(), signal.SIGKILL)
        mtj_hil.characterize(mtj_hil.simulated_die(2), {str(path)!r}, arrays=[0, 1],
                             progress=kill)
        """
    )
    subprocess.run([sys.executable, "-c", script], timeout=120, check=False)
    lease = path.with_name(path.name + ".writer")
    assert lease.exists()
    with h5py.File(path) as h5:
        assert h5.attrs["status"] == "running"
    assert main(["show", str(path)]) == 0
    assert lease.exists()


def test_verify_of_a_network_file_without_checksums_passes(tmp_path, capsys):
    """A 0.1 network file (no checksum header, no dataset checksums) failed ``show
    --verify`` with "labelled datasets exist for characterization, switching" (exit 4)."""
    from mtj_hil.cli import main

    net = tmp_path / "net.h5"
    args = ["train", "--method", "unaware", "--die", "0", "--dataset", "digits"]
    assert main([*args, "--epochs", "1", "--hidden", "8", "--out", str(net)]) == 0
    old = tmp_path / "old.h5"
    with h5py.File(net) as src, h5py.File(old, "w") as dst:  # as 0.1 wrote it
        for key, value in src.attrs.items():
            if key not in ("journal_seq", "journal_folder"):  # the journal came with checksums
                dst.attrs[key] = value
        dst.attrs["package_version"] = "0.1.0"
        for name in src:
            src.copy(src[name], dst, name)
        dst.visititems(lambda _, obj: obj.attrs.pop("sha256", None) and None)
    capsys.readouterr()
    assert main(["show", "--verify", str(old)]) == 0, capsys.readouterr().err
    assert "carries no checksums" in capsys.readouterr().out
