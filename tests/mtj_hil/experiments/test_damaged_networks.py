"""A network run file whose checksum holds but whose network is not as mtj-hil writes it
(rewritten by another program): ``evaluate`` refuses it in one line naming the file, exit 4."""

from __future__ import annotations

import contextlib
import io
import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from mtj_hil.cli import main
from mtj_hil.runs.store.image import copy_image, encode, open_image, read_file, seal

OLD = Path(__file__).resolve().parents[2] / "fixtures" / "networks-0a87747" / "defect-aware.h5"


def _text(name: str) -> Callable[[h5py.File], None]:
    def change(h5: h5py.File) -> None:
        del h5[name]
        h5[name] = np.array(b"garbage")

    return change


def _no_attr(name: str) -> Callable[[h5py.File], None]:
    def change(h5: h5py.File) -> None:
        del h5.attrs[name]

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_text("network/latent_0"), "latent_0 holds |S7 of shape (), not a 2-D float array"),
        (_text("network/bias_1"), "bias_1 holds |S7 of shape (), not a 1-D float array"),
        (_no_attr("die_id"), "run file without its die_id attribute: the file is damaged"),
    ],
    ids=["weights as text", "biases as text", "no die_id"],
)
def test_a_rewritten_network_file_is_refused_in_one_line(tmp_path, change, message):
    path = tmp_path / "net work.h5"
    shutil.copy(OLD, path)
    with open_image(read_file(path)) as h5:
        image = copy_image(h5)
    change(image)
    seal(image)
    path.write_bytes(encode(image))
    image.close()
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(["evaluate", "--net", str(path), "--die", "2"])
    text = " ".join(out.getvalue().split())
    assert code == 4 and message in text and str(path) in text, text
