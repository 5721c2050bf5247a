"""Benchmark: what calibration buys on the virtual lab with its default imperfections.

Characterises a few arrays of the virtual-lab die through the real drivers, first with raw
reads, then after ``calibrate_chip`` (SMU offset and gain, connector series resistance,
per-line converter gain and offset), and prints for both: the median relative error of the
measured G_P and G_AP of good devices against the simulator's truth, and the fraction of
devices whose defect call differs from the true defect.

    python scripts/bench_calibration.py [--arrays 6] [--smoke]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tomllib
import warnings
from pathlib import Path

import numpy as np
from _smoke import bench_description, parse_args

from mtj_hil.calibration.errors import CalibrationWarning
from mtj_hil.cli.calibration import calibrate_chip
from mtj_hil.protocols import CellState, CharacterizationPlan, MemorySink, characterize_die
from mtj_hil.protocols.defects.detect import DefectMap
from mtj_hil.sim.die import SimulatedDie
from mtj_hil.sim.lab.lab import LabImperfections
from mtj_hil.station.connect import open_station
from mtj_hil.station.files import station_from_dict

STATION = Path(__file__).parents[1] / "stations" / "virtual-lab.toml"


def figures(result: DefectMap, die: SimulatedDie, arrays: list[int]) -> dict[str, float]:
    """Median relative conductance errors of good devices and the misclassification rate."""
    truth_defect = die.defect[arrays]
    good = truth_defect == 0
    g_p = die.conductance_in(CellState.P)[arrays]
    g_ap = die.conductance_in(CellState.AP)[arrays]
    return {
        "median |dG_P|/G_P": float(np.median(np.abs(result.g_p[good] / g_p[good] - 1))),
        "median |dG_AP|/G_AP": float(np.median(np.abs(result.g_ap[good] / g_ap[good] - 1))),
        "misclassified": float(np.mean(result.codes != truth_defect)),
        "misclassified devices": int(np.sum(result.codes != truth_defect)),
    }


SMOKE = {"arrays": 1}
"""What ``--smoke`` shrinks (the calibration itself is the same)."""


def main(argv: list[str] | None = None) -> None:
    """Characterise before and after calibration; print the figures."""
    parser = argparse.ArgumentParser(description=bench_description(__doc__))
    parser.add_argument("--arrays", type=int, default=6, help="arrays to characterise")
    args = parse_args(parser, SMOKE, argv)
    data = tomllib.loads(STATION.read_text(encoding="utf-8"))
    imp = LabImperfections()
    b = imp.board
    print("virtual lab, default imperfections:")
    print(f"  SMU gain {imp.smu_gain:g}, offset {imp.smu_offset:g} A")
    print(
        f"  converters: gain spread {b.converter_gain_sigma:g} (1 sigma, relative), "
        f"offset spread {b.converter_offset_sigma:g} A (1 sigma), per output line"
    )
    print(
        f"  connector series resistance {b.series_resistance:g} ohm; reference resistors "
        f"{', '.join(f'{r:g}' for r in b.reference_ohms)} ohm +/- {100 * b.reference_tolerance:g} %"
    )
    arrays = list(range(2, 2 + args.arrays))
    plan = CharacterizationPlan(arrays=tuple(arrays))
    with tempfile.TemporaryDirectory() as tmp:
        data["calibration"]["dir"] = tmp
        station = station_from_dict(data, STATION)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CalibrationWarning)
            chip_cm = open_station(station)
            chip = chip_cm.__enter__()
        try:
            die = chip.lab.die
            t0 = time.perf_counter()
            before = characterize_die(chip, MemorySink(), plan)
            t1 = time.perf_counter()
            record = calibrate_chip(chip, thresholds=False)
            t2 = time.perf_counter()
            after = characterize_die(chip, MemorySink(), plan)
            t3 = time.perf_counter()
            board = chip.lab.board
            conv = record.converter
            assert conv is not None and record.smu is not None
            print(
                f"calibration ({t2 - t1:.1f} s wall): SMU gain {record.smu.gain} (true "
                f"{chip.lab.smu.gain:g}), offset {record.smu.offset} (true "
                f"{chip.lab.smu.offset:g} A), series resistance "
                f"{record.smu.series_resistance} (true {board.series_resistance:g} ohm)"
            )
            print(
                "  converter gain error max "
                f"{np.abs(conv.gain - board.converter_gain).max():.2e} (median stated "
                f"uncertainty {np.median(conv.gain_uncertainty):.1e}); offset error max "
                f"{np.abs(conv.offset - board.converter_offset).max():.2e} A (median stated "
                f"uncertainty {np.median(conv.offset_uncertainty):.1e} A)"
            )
            fb, fa = figures(before, die, arrays), figures(after, die, arrays)
        finally:
            chip_cm.__exit__(None, None, None)
    n = len(arrays) * 625
    print(f"characterised arrays {arrays} ({n} devices; {t1 - t0:.1f} s and {t3 - t2:.1f} s wall)")
    print(f"{'figure':<26}{'before':>12}{'after':>12}")
    for key in ("median |dG_P|/G_P", "median |dG_AP|/G_AP"):
        print(f"{key:<26}{100 * fb[key]:>11.3f}%{100 * fa[key]:>11.3f}%")
    print(
        f"{'misclassification rate':<26}{100 * fb['misclassified']:>11.3f}%"
        f"{100 * fa['misclassified']:>11.3f}%"
    )
    print(
        f"{'misclassified devices':<26}{fb['misclassified devices']:>12d}"
        f"{fa['misclassified devices']:>12d}"
    )
    print("goal after calibration: median relative conductance error < 0.5 %")


if __name__ == "__main__":
    main()
