"""Run files whose checksum holds but whose contents are not what mtj-hil writes (written or
edited by another program, checksum recomputed; or of 0.1, which has none): every reader
refuses them in one line naming the dataset (exit 4), never exit 1; intact ones still read."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from mtj_hil.cli import main
from mtj_hil.errors import StoreError
from mtj_hil.runs.store.image import copy_image, encode, open_image, read_file, seal
from mtj_hil.runs.store.structure import Expect, check_structure

PASSIVE = ["--profile", "passive-15x15", "--no-report"]


def _run(args: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(args)
    return code, out.getvalue()


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("runs")
    char, sw = folder / "char.h5", folder / "sw.h5"
    assert _run(["characterize", *PASSIVE, "--cycles", "2", "--out", str(char)])[0] == 0
    sw_args = ["switching", *PASSIVE, "--arrays", "0", "--widths", "1e-7", "--trials", "2",
               "--disturb-reads", "0", "--floor-trials", "0", "--out", str(sw)]  # fmt: skip
    assert _run(sw_args)[0] == 0
    return {"characterization": char, "switching": sw}


def _rewritten(src: Path, dst: Path, change: Callable[[h5py.File], None]) -> Path:
    """A copy of ``src`` changed by ``change`` and sealed again (checksums recomputed), as a
    program that rewrites the file consistently would leave it."""
    with open_image(read_file(src)) as h5:
        image = copy_image(h5)
    change(image)
    seal(image)
    dst.write_bytes(encode(image))
    image.close()
    return dst


def _replace(name: str, make: Callable[[np.ndarray], np.ndarray]) -> Callable[[h5py.File], None]:
    def change(h5: h5py.File) -> None:
        attrs = dict(h5[name].attrs)
        value = make(h5[name][()])
        del h5[name]
        h5.create_dataset(name, data=value)
        h5[name].attrs.update(attrs)

    return change


def _nan(v: np.ndarray) -> np.ndarray:
    return np.full(v.shape, np.nan)


def _text(v: np.ndarray) -> np.ndarray:
    return np.array(b"garbage")


def _flat(v: np.ndarray) -> np.ndarray:
    return v.reshape(-1)[:-1]


def _attr(key: str, value: object, group: str = "/") -> Callable[[h5py.File], None]:
    def change(h5: h5py.File) -> None:
        h5[group].attrs[key] = value

    return change


_root = _attr


def _drop(key: str) -> Callable[[h5py.File], None]:
    def change(h5: h5py.File) -> None:
        del h5.attrs[key]

    return change


MUTATIONS = {
    "characterization": {
        "index as floats": _replace("characterization/array_index", _nan),
        "reads as text": _replace("characterization/g_after_p", _text),
        "reads flattened": _replace("characterization/g_after_ap", _flat),
        "residuals as NaN": _replace("characterization/residual_p", _nan),
        "codes as text": _replace("defects/codes", _text),
        "codes flattened": _replace("defects/codes", _flat),
        "codes unknown": _replace("defects/codes", lambda v: v + 77),
        "conductances flattened": _replace("defects/g_p", _flat),
        "posterior flattened": _replace("defects/posterior", _flat),
        "resistive opens as NaN": _replace("defects/resistive_open", _nan),
        "map arrays off the die": _replace("defects/arrays", lambda v: v + 40),
        "format_version not a number": _root("format_version", "{x"),
        "layout not an object": _root("layout", "[1, 2]"),
        "plan not JSON": _root("plan", "{x"),
        "status unknown": _root("status", "{x"),
        "no die_id": _drop("die_id"),
        "model a string": _attr("model", '"str"', "defects"),
        "remeasured null": _attr("remeasured", "null", "defects"),
        "warnings null": _attr("warnings", "null", "defects"),
        "threshold as text": _attr("threshold_short_g", "x", "defects"),
    },
    "switching": {
        "index as text": _replace("switching/array_index", _text),
        "directions as NaN": _replace("switching/point_direction", _nan),
        "directions unknown": _replace("switching/point_direction", lambda v: v + 2),
        "counts flattened": _replace("switching/trials", _flat),
        "fit flattened": _replace("switching_fit/P/vc", _flat),
        "WER grid widths cut": _replace("switching_fit/AP/wer_widths", _flat),
        "fit arrays as NaN": _replace("switching_fit/arrays", _nan),
        "disturb a list": _attr("disturb", "[]", "switching_fit"),
        "population null": _attr("population", "null", "switching_fit/AP"),
    },
}
CASES = [(kind, name) for kind, cases in MUTATIONS.items() for name in cases]


@pytest.mark.parametrize(("kind", "mutation"), CASES, ids=[f"{k}:{m}" for k, m in CASES])
def test_a_consistently_rewritten_malformed_file_is_refused_in_one_line(
    runs, tmp_path, kind, mutation
):
    path = _rewritten(runs[kind], tmp_path / "run file é.h5", MUTATIONS[kind][mutation])
    before = path.read_bytes()
    for args in (["show", str(path)], ["export", "--format", "netcdf", str(path)]):
        code, out = _run(args)
        assert code == 4, (args, out)
        assert "Traceback" not in out and "unexpected" not in out, out
        assert str(path) in " ".join(out.split()), out
    assert path.read_bytes() == before
    assert not path.with_suffix(".nc").exists()


def test_the_message_names_the_dataset_and_what_it_should_be(runs, tmp_path):
    path = _rewritten(runs["characterization"], tmp_path / "r.h5", _replace("defects/codes", _flat))
    code, out = _run(["show", str(path)])
    text = " ".join(out.split())
    assert code == 4
    assert "dataset defects/codes has shape" in text
    assert "integer of shape (m, rows, cols)" in text


@pytest.mark.parametrize("kind", ["characterization", "switching"])
def test_an_unknown_extra_group_is_left_alone(runs, tmp_path, kind):
    def extra(h5: h5py.File) -> None:
        h5.create_group("annotations").create_dataset("note", data=np.arange(3))

    path = _rewritten(runs[kind], tmp_path / "r.h5", extra)
    assert _run(["show", str(path)])[0] == 0
    assert _run(["export", "--format", "netcdf", str(path)])[0] == 0


def test_check_structure_binds_shared_sizes(tmp_path):
    """A size named twice must agree; ``n+`` is at least ``n``; ``*`` is anything."""
    with h5py.File(tmp_path / "s.h5", "w") as h5:
        h5.attrs["layout"] = '{"rows": 2, "cols": 3, "n_arrays": 4}'
        h5["a"] = np.zeros((5, 2, 3))
        h5["b"] = np.zeros(5, np.int32)
        h5["c"] = np.zeros(4)
        expect = {"a": Expect("f", ("n", "rows", "cols")), "b": Expect("iu", ("n",))}
        check_structure(h5, "s.h5", expect)
        check_structure(h5, "s.h5", {**expect, "c": Expect("f", ("*",))})
        with pytest.raises(StoreError, match=r"c holds 4 rows where a counts 5"):
            check_structure(h5, "s.h5", {**expect, "c": Expect("f", ("n+",))})
        with pytest.raises(StoreError, match=r"dataset c has shape \(4\).*n = 5 from a"):
            check_structure(h5, "s.h5", {**expect, "c": Expect("f", ("n",))})
        with pytest.raises(StoreError, match=r"names arrays outside the die's 0...3"):
            h5["d"] = np.array([0, 4])
            check_structure(h5, "s.h5", {"d": Expect("iu", ("*",), index=True)})


def test_view_refuses_a_malformed_run_before_serving_and_its_page_names_the_dataset(runs, tmp_path):
    from mtj_hil.live.server import Hub
    from mtj_hil.live.snapshot import RunSource

    path = _rewritten(runs["characterization"], tmp_path / "r.h5", _replace("defects/codes", _text))
    code, out = _run(["view", "--seconds", "0.2", str(path)])
    assert code == 4 and "dataset defects/codes holds" in " ".join(out.split()), out
    hub = Hub(RunSource(path))  # (a page already up when the file changed under it)
    hub.refresh(force=True)
    page = json.loads(hub.body)
    assert "dataset defects/codes holds" in json.dumps(page), page


@pytest.mark.parametrize(
    ("damage", "advice"),
    [
        ("edited by h5py", "another program writing to the file, such as h5py"),
        ("cut short", "(truncated); damaged: (structure)"),
        ("a flipped byte", "(flipped or zeroed bytes); damaged:"),
    ],
)
def test_a_damaged_file_is_named_with_what_to_do(runs, tmp_path, damage, advice):
    path = tmp_path / "r.h5"
    data = runs["characterization"].read_bytes()
    if damage == "edited by h5py":
        path.write_bytes(data)
        with h5py.File(path, "a") as h5:
            h5.attrs["operator"] = "someone else"
    elif damage == "cut short":
        path.write_bytes(data[:-3000])
    else:  # a byte of a dataset's stored data (the middle of the file once held one; any
        # attribute added to the NeXus face moved what lies there)
        with h5py.File(runs["characterization"]) as h5:
            chunk = h5["defects/g_p"].id.get_chunk_info(0)
        i = chunk.byte_offset + chunk.size // 2
        path.write_bytes(data[:i] + bytes([data[i] ^ 1]) + data[i + 1 :])
    code, out = _run(["show", str(path)])
    text = " ".join(out.split())
    assert code == 4 and f"{path} is damaged" in text and advice in text, text
    assert "restore it from a copy" in text


LEGACY = Path(__file__).parents[2] / "fixtures" / "legacy-0.1" / "characterization-interrupted.h5"


@pytest.mark.parametrize("stream", ["g_after_p", "residual_ap"])
def test_resume_refuses_a_file_missing_a_stream_before_changing_it(tmp_path, stream):
    """A file of 0.1 (no checksums) with one stream removed: resuming it would append the
    next array's rows where the first array's belong (both then fail their checksums)."""
    path = tmp_path / "interrupted.h5"
    path.write_bytes(LEGACY.read_bytes())
    with h5py.File(path, "a") as h5:
        del h5[f"characterization/{stream}"]
    before = path.read_bytes()
    args = ["characterize", "--profile", "passive-15x15", "--die", "3", "--no-report"]
    code, out = _run([*args, "--out", str(path), "--resume"])
    text = " ".join(out.split())
    assert code == 4 and f"characterization/{stream} holds 0 rows for 1 finished array" in text
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["interrupted.h5"]
