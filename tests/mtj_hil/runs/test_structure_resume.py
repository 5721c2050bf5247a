"""Interrupted run files whose checksum holds but whose contents are not what mtj-hil writes
(found by fuzzing the read paths): ``show --verify`` and ``--resume`` refuse them in one line
naming what is wrong (exit 4), never exit 1 with a Python error."""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

import h5py
import numpy as np
import pytest

from mtj_hil.cli import main
from mtj_hil.errors import StoreError
from mtj_hil.protocols.characterize.plan import CharacterizationPlan
from mtj_hil.protocols.switching.procedure import SwitchingPlan
from mtj_hil.runs.store import characterization, switching
from mtj_hil.runs.store.image import copy_image, encode, open_image, read_file, seal
from mtj_hil.testing.write_faults import write_faults

COMMANDS = {
    "characterization": ["characterize", "--profile", "passive-15x15", "--arrays", "0-1",
                         "--cycles", "2", "--no-report"],
    "switching": ["switching", "--profile", "passive-15x15", "--arrays", "0-1", "--widths",
                  "1e-7", "--trials", "2", "--disturb-reads", "0", "--floor-trials", "0",
                  "--no-report"],
}  # fmt: skip


def _run(args: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(out),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        code = main(args)
    return code, " ".join(out.getvalue().split())


@pytest.fixture(scope="module")
def cut(tmp_path_factory) -> dict[str, Path]:
    """Each kind's run stopped by SIGTERM half-way through its journal parts (aborted,
    resumable)."""
    out = {}
    for kind, args in COMMANDS.items():
        folder = tmp_path_factory.mktemp(kind)
        with write_faults(folder) as faults:
            assert main([*args, "--out", str(folder / "ref.h5")]) == 0
        links = [i for i, p in enumerate(faults.points, 1) if ".parts/." in p and "link" in p]
        with write_faults(folder, links[len(links) // 2] + 1, "SIGTERM"):
            assert main([*args, "--out", str(folder / "run.h5")]) == 143
        out[kind] = folder / "run.h5"
    return out


def _rewritten(src: Path, dst: Path, change: Callable[[h5py.File], None]) -> Path:
    """A copy of ``src`` changed by ``change`` and sealed again (checksums recomputed)."""
    with open_image(read_file(src)) as h5:
        image = copy_image(h5)
    change(image)
    seal(image)
    dst.write_bytes(encode(image))
    image.close()
    return dst


def _group_for(name: str) -> Callable[[h5py.File], None]:
    def change(h5: h5py.File) -> None:
        del h5[name]
        h5.create_group(name)

    return change


def _root(key: str, value: str) -> Callable[[h5py.File], None]:
    def change(h5: h5py.File) -> None:
        h5.attrs[key] = value

    return change


def _json_root(key: str, edit: Callable[[dict], dict]) -> Callable[[h5py.File], None]:
    def change(h5: h5py.File) -> None:
        h5.attrs[key] = json.dumps(edit(json.loads(h5.attrs[key])))

    return change


def _plan(edit: Callable[[dict], None]) -> Callable[[h5py.File], None]:
    def change(h5: h5py.File) -> None:
        plan = json.loads(h5.attrs["plan"])
        edit(plan)
        h5.attrs["plan"] = json.dumps(plan)

    return change


def _set(key: str, value: object) -> Callable[[dict], None]:
    return lambda plan: plan.__setitem__(key, value)


# kind -> case -> (change, what the one line names)
CASES = {
    "characterization": {
        "a group for a read stream": (
            _group_for("characterization/g_after_ap"),
            "characterization/g_after_ap is a group where a dataset belongs",
        ),
        "resume history not a list": (_root("resumed", "null"), "resumed is not a JSON list"),
        "station not an object": (_root("station", "[1]"), "station is not a JSON object"),
        "nominal pulse a number": (
            _json_root("layout", lambda lay: {**lay, "nominal_pulse": -1}),
            "layout is not a JSON object whose n_arrays",
        ),
        "cycles a list": (_plan(_set("cycles", [1, 2])), "its setting cycles is [1, 2]"),
        "arrays a number": (_plan(_set("arrays", 3)), "its setting arrays is 3"),
        "pulse without a width": (_plan(_set("pulse", {"amplitude": 1.0})), "setting pulse"),
        "bias voltage as text": (_plan(_set("bias_read_voltage", "x")), "bias_read_voltage"),
    },
    "switching": {
        "a group for the counts": (
            _group_for("switching/trials"),
            "switching/trials is a group where a dataset belongs",
        ),
        "resume history an object": (_root("resumed", "{}"), "resumed is not a JSON list"),
        "amplitudes text": (_plan(_set("amplitudes", "x")), "its setting amplitudes is"),
        "loop devices of two": (_plan(_set("loop_devices", [[0, 1]])), "loop_devices"),
        "adaptive a number": (_plan(_set("adaptive", 1)), "its setting adaptive is 1"),
        "an unknown setting": (_plan(_set("speed", 2)), "a setting 'speed' this mtj-hil"),
    },
}
PARAMS = [(k, c) for k, cases in CASES.items() for c in cases]


@pytest.mark.parametrize(("kind", "case"), PARAMS, ids=[f"{k}:{c}" for k, c in PARAMS])
def test_verify_and_resume_refuse_a_malformed_interrupted_run_in_one_line(
    cut, tmp_path, kind, case
):
    change, named = CASES[kind][case]
    path = _rewritten(cut[kind], tmp_path / "run.h5", change)
    before = path.read_bytes()
    for args in (
        ["show", "--verify", str(path)],
        ["show", str(path)],
        [*COMMANDS[kind], "--out", str(path), "--resume"],
    ):
        code, text = _run(args)
        assert code == 4, (args, text)
        assert "Traceback" not in text and "unexpected" not in text, text
        assert str(path) in text and named in text, (args, text)
    assert path.read_bytes() == before


@pytest.mark.parametrize("missing", ["arrays", "read_voltage"])
def test_resume_of_a_plan_lacking_a_setting_it_needs_is_refused(cut, tmp_path, missing):
    path = _rewritten(cut["characterization"], tmp_path / "run.h5", _plan(lambda p: p.pop(missing)))
    assert _run(["show", str(path)])[0] == 0  # a reader needs no plan setting
    code, text = _run([*COMMANDS["characterization"], "--out", str(path), "--resume"])
    assert code == 4, text
    assert f"records no usable plan (it lacks the setting {missing})" in text


@pytest.mark.parametrize(
    ("kind", "missing"),
    [("characterization", "cycles"), ("switching", "amplitudes"), ("switching", "arrays")],
)
def test_a_library_resume_of_a_plan_lacking_a_setting_is_refused_unchanged(
    cut, tmp_path, kind, missing
):
    """``run_characterization`` / ``run_switching`` with ``resume=True`` (and a campaign's
    resume, which calls them) raised KeyError from inside the run; now the store refuses
    the file before the chip is used, and the file is left as it was."""
    from mtj_hil.runs.jobs.characterization import run_characterization
    from mtj_hil.runs.jobs.switching import run_switching
    from mtj_hil.sim import SimulatedChip

    path = _rewritten(cut[kind], tmp_path / "run.h5", _plan(lambda p: p.pop(missing)))
    before = path.read_bytes()
    chip = SimulatedChip.from_lot("passive-15x15", 0, 0)
    with h5py.File(path, "r") as h5:
        die_id = str(h5.attrs["die_id"])
    given = (  # the plan a caller passes; a resume takes the stored one
        (run_characterization, CharacterizationPlan(arrays=(0,)))
        if kind == "characterization"
        else (run_switching, SwitchingPlan(arrays=(0,), amplitudes=(0.5,), widths=(1e-7,)))
    )
    with pytest.raises(StoreError, match=f"lacks the setting {missing}"):
        given[0](chip, path, die_id=die_id, plan=given[1], resume=True)
    assert path.read_bytes() == before
    assert chip.program_calls == 0


@pytest.mark.parametrize(
    ("store", "plan"),
    [(characterization, CharacterizationPlan), (switching, SwitchingPlan)],
)
def test_each_plan_setting_is_declared_for_the_structure_check(store, plan):
    """A setting added to the plan must be declared in its store's PLAN (a switching plan's
    record is closed: a file holding an undeclared setting would be refused)."""
    assert set(store.PLAN.settings) == {f.name for f in fields(plan)}
    assert set(store.PLAN.required) <= set(store.PLAN.settings)


@pytest.mark.parametrize("kind", ["characterization", "switching"])
def test_verify_names_a_dataset_both_damaged_and_of_another_type(cut, tmp_path, kind):
    """Changed without its checksums recomputed: the damage and the wrong type are named;
    the per-array check, which would read the checksums as text, is not run on it."""
    name = f"{kind}/array_sha256"

    def change(h5: h5py.File) -> None:
        n = len(h5[name])
        del h5[name]
        h5.create_dataset(name, data=np.full(n, np.inf))
        h5[name].attrs["sha256"] = "0" * 64  # as if only its values had changed

    with open_image(read_file(cut[kind])) as h5:
        image = copy_image(h5)
    change(image)
    path = tmp_path / "run.h5"
    path.write_bytes(encode(image))
    image.close()
    for args in (
        ["show", "--verify", str(path)],
        [*COMMANDS[kind], "--out", str(path), "--resume"],
    ):
        code, text = _run(args)
        assert code == 4, (args, text)
        assert "Traceback" not in text and "unexpected" not in text, text
        assert f"{name}: values differ from its sha256 checksum" in text, text
        assert f"dataset {name} holds float64" in text, text


def _json_attr(group: str, key: str, edit: Callable[[object], object]):
    def change(h5: h5py.File) -> None:
        h5[group].attrs[key] = json.dumps(edit(json.loads(h5[group].attrs[key])))

    return change


def _field(name: str, value: object) -> Callable[[object], object]:
    def edit(obj: object) -> object:
        target = obj[0] if isinstance(obj, list) else obj
        *outer, last = name.split(".")
        for part in outer:
            target = target[part]
        target[last] = value
        return obj

    return edit


def _without(name: str) -> Callable[[dict], dict]:
    return lambda obj: {k: v for k, v in obj.items() if k != name}


FINISHED = {
    "population vc a list": ("switching", "switching_fit/AP", "population", _field("vc", [1])),
    "per-array delta text": ("switching", "switching_fit/P", "per_array", _field("delta", "x")),
    "population without delta": ("switching", "switching_fit/P", "population", _without("delta")),
    "floor trials null": ("switching", "switching_fit/AP", "floor", _field("trials", None)),
    "recommendation wer text": ("switching", "switching_fit", "recommendation", _field("wer", "")),
    "disturb flips a list": ("switching", "switching_fit", "disturb", _field("from_p.flips", [])),
    "overlap text": ("characterization", "defects", "overlap", _field("stuck_state", "x")),
    "model read noise text": ("characterization", "defects", "model", _field("read_noise_ln", "x")),
    "model without read noise": ("characterization", "defects", "model", _without("read_noise_ln")),
    "model bias median a list": (
        "characterization",
        "defects",
        "model",
        _field("bias_signature.p_median", [0.1]),
    ),
    "warnings of numbers": ("characterization", "defects", "warnings", lambda w: [1, 2]),
    "remeasured devices without their count after": (
        "characterization",
        "defects",
        "remeasured",
        lambda r: {"devices": 2, "cycles": 3},
    ),
    "remeasure round a null": (
        "characterization",
        "defects",
        "remeasured",
        lambda r: {
            **r,
            **{"devices": 2, "cycles": 3, "uncertain_after": 0},
            "rounds": [{"devices": 2, "arrays": 1, "uncertain_after": 0}, None],
        },
    ),
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("finished")
    out = {}
    for kind, args in COMMANDS.items():
        out[kind] = folder / f"{kind}.h5"
        assert _run([*args, "--out", str(out[kind])])[0] == 0
    return out


@pytest.mark.parametrize("case", list(FINISHED))
def test_a_json_attribute_whose_fields_are_of_another_type_is_refused(finished, tmp_path, case):
    """Inside a JSON attribute (the switching fit's population, floor, recommendation...),
    a field of another type: show printed the summary up to it, then exit 1 (TypeError)."""
    kind, group, key, edit = FINISHED[case]
    path = _rewritten(finished[kind], tmp_path / "run.h5", _json_attr(group, key, edit))
    for args in (["show", str(path)], ["export", str(path), "--format", "netcdf"]):
        code, text = _run(args)
        assert code == 4, (args, text)
        assert "Traceback" not in text and "unexpected" not in text, text
        assert f"{key} (of {group}) is not a JSON" in text, text


ROOT_CASES = {
    "format an array": ("format", np.array([1, 2]), "not an mtj-hil run file"),
    "started an array": ("started", np.array([1, 2]), "its started attribute is not a"),
    "operator a number": ("operator", 7, "its operator attribute is not a (UTF-8) text"),
    "die_id not UTF-8": ("die_id", b"\xff\xfe", "its die_id attribute is not a (UTF-8) text"),
    "journal_seq infinite": ("journal_seq", np.inf, "its journal_seq attribute is inf, not a"),
    "journal_seq negative": ("journal_seq", -3, "its journal_seq attribute is -3, not a"),
}


@pytest.mark.parametrize("case", list(ROOT_CASES))
def test_a_root_attribute_of_another_type_is_refused_by_every_reader(finished, tmp_path, case):
    """A root provenance attribute of another type: the live page crashed encoding it
    (TypeError), a journal_seq of inf crashed every reader (OverflowError)."""
    from mtj_hil.live.server import Hub
    from mtj_hil.live.snapshot import RunSource

    key, value, named = ROOT_CASES[case]
    path = _rewritten(finished["characterization"], tmp_path / "run.h5", _root(key, value))
    for args in (
        ["show", str(path)],
        ["show", "--verify", str(path)],
        ["export", str(path), "--format", "netcdf"],
        ["view", "--seconds", "0.2", str(path)],
    ):
        code, text = _run(args)
        assert code == 4, (args, text)
        assert "Traceback" not in text and "unexpected" not in text, text
        assert named in text, (args, text)
    hub = Hub(RunSource(path))  # (a page already up when the file changed under it)
    hub.refresh(force=True)
    assert named in json.dumps(json.loads(hub.body))
