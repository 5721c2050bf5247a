"""A switching run as the live page sees it: pooled S-curves and WER from the run file's
counts, provisional Vc maps while measuring, Vc0 and Delta maps once fitted."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.live.snapshot import RunSource
from mtj_hil.protocols.switching.procedure import SwitchingPlan
from mtj_hil.runs.jobs.switching import run_switching
from mtj_hil.runs.store.switching import load_switching
from mtj_hil.sim.chip import SimulatedChip


@pytest.mark.slow
def test_switching_snapshot_follows_the_run_files_counts_and_fits(tmp_path):
    path = tmp_path / "sw.h5"
    plan = SwitchingPlan(
        arrays=(0, 1),
        amplitudes=tuple(np.round(np.arange(0.5, 1.0, 0.05), 3)),
        widths=(1e-6,),
        trials=6,
        probe_trials=2,
        floor_trials=8,
        disturb_reads=10,
    )
    seen = []

    def follow(done, total, array):
        # one array committed (a journal part beside the file, not yet folded into it):
        # what another process (the server) sees now
        if done == 1:
            seen.append(RunSource(path).snapshot())

    chip = SimulatedChip.from_lot("1t1r-20k", 0, 2)
    run_switching(chip, path, die_id="d2", plan=plan, seed=0, progress=follow)
    mid = seen[0]["switching"]
    assert seen[0]["done_arrays"] == [0] and mid["fit"] is None
    assert len(mid["maps"]) == 1 and set(mid["maps"][0]) >= {"vc_AP", "vc_P"}
    vc = np.array([np.nan if v is None else v for v in mid["maps"][0]["vc_AP"]])
    assert 0.5 <= np.nanmedian(vc) <= 1.0  # where P(switch) crosses 1/2, inside the grid

    run = load_switching(path)
    snap = RunSource(path).snapshot()
    body = snap["switching"]
    assert snap["state"] == "completed" and snap["done_arrays"] == [0, 1]
    for curve in body["curves"]:
        direction = 0 if curve["direction"] == "AP" else 1
        for amp, trials, p in zip(curve["amplitudes"], curve["trials"], curve["p"], strict=True):
            t = s = 0
            for d in run.data.values():
                pick = (d.direction == direction) & (d.amplitude == amp) & ~d.floor_point
                t += int(d.trials[pick].sum())
                s += int(d.switched[pick].sum())
            assert trials == t and p == pytest.approx(s / t)
    assert body["fit"] is not None and set(body["fit"]["wer"]) == {"AP", "P"}
    fit = run.analysis.directions["AP"]
    maps = body["maps"]
    assert [m["array"] for m in maps] == [0, 1] and all(m["final"] for m in maps)
    got = np.array([np.nan if v is None else v for v in maps[1]["vc_AP"]])
    assert np.allclose(got, fit.vc[1].ravel(), rtol=1e-3, equal_nan=True)
