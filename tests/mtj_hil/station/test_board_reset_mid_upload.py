"""A controller board that resets itself between the frames of a sequence upload (``SEQ
ADD``) answers the next frame with a step count from its empty buffer: the host said
``FrameError: SEQ ADD reply n=7, expected 13``, with no board named and no word of the
reset. It now asks ``STAT`` and names the reset (exit 7); nothing is stored and the
resume finishes."""

from __future__ import annotations

import h5py

import mtj_hil.sim.lab.lab as lab_module
from mtj_hil.cli.main import main

from .test_cli_station import _virtual, _write


def test_a_reset_between_upload_frames_is_named_and_the_run_resumes(tmp_path, capsys, monkeypatch):
    adds = [0]

    class Board(lab_module.VirtualBoard):
        def handle(self, line: bytes):
            if b" ADD " in line:
                adds[0] += 1
                if adds[0] == 2:  # after the first frame of the first upload
                    self._power_up()
            return super().handle(line)

    monkeypatch.setattr(lab_module, "VirtualBoard", Board)
    station = _write(tmp_path, _virtual())
    out = tmp_path / "run.h5"
    args = ["characterize", "--station", station, "--arrays", "0-1", "--cycles", "1",
            "--no-report", "--out", str(out)]  # fmt: skip
    assert main(args) == 7
    err = " ".join(capsys.readouterr().err.split())
    assert adds[0] >= 2, "no upload took two frames"
    assert "the controller board no longer holds array 0 and reset itself" in err
    assert "FrameError" not in err
    with h5py.File(out, "r") as h5:
        assert h5.attrs["status"] == "aborted"
        assert "characterization/array_index" not in h5
    monkeypatch.undo()
    assert main([*args, "--resume"]) == 0
