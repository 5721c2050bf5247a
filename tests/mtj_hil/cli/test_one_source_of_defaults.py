"""One source of defaults: the library without a plan classifies exactly as the CLI does, and
a plan the die cannot take is refused before a run file exists."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.cli import main
from mtj_hil.protocols import InvalidRequest, MemorySink, characterize_die
from mtj_hil.protocols.characterize.plan import CharacterizationPlan
from mtj_hil.runs.store import load_characterization
from mtj_hil.sim import SimulatedChip


def test_library_without_a_plan_gives_the_cli_codes_on_an_early_process_die(tmp_path):
    out = tmp_path / "die3.h5"
    argv = ["characterize", "--profile", "1t1r-early-process", "--die", "3", "--out", str(out)]
    assert main([*argv, "--no-report"]) == 0
    cli = load_characterization(out)
    library = characterize_die(SimulatedChip.from_lot("1t1r-early-process", 0, 3), MemorySink())
    np.testing.assert_array_equal(library.codes, cli.codes)
    np.testing.assert_array_equal(library.best_guess, cli.best_guess)
    # the CLI's defaults are the dataclass's: re-measurement and the bias read both ran
    assert cli.plan["remeasure_cycles"] == CharacterizationPlan.remeasure_cycles > 0
    assert cli.plan["remeasure_rounds"] == CharacterizationPlan.remeasure_rounds > 1
    assert library.remeasured == cli.remeasured
    assert cli.plan["bias_read_voltage"] is not None


@pytest.mark.parametrize(
    "options",
    [
        ["--arrays", "0", "--read-voltage", "5"],
        ["--arrays", "0", "--read-voltage", "-0.1"],
        ["--arrays", "0", "--bias-voltage", "2"],
        ["--arrays", "40"],
        ["--arrays", "0", "--pulse-amplitude", "1.5"],
        ["--arrays", "0", "--pulse-width", "1e-3"],
    ],
    ids=["read-5V", "read-negative", "bias-2V", "array-off-the-die", "pulse-1.5V", "pulse-1ms"],
)
def test_a_refused_plan_leaves_no_file(tmp_path, capsys, options):
    out = tmp_path / "refused.h5"
    code = main(["characterize", "--die", "1", "--out", str(out), "--no-report", *options])
    assert code in (2, 3, 5, 6), capsys.readouterr()
    assert not list(tmp_path.iterdir()), "a refused run left a file behind"


def test_the_library_refuses_an_array_planned_twice_before_measuring():
    chip = SimulatedChip.from_lot("1t1r-20k", 0, 1)
    sink = MemorySink()
    with pytest.raises(InvalidRequest, match="twice"):
        characterize_die(chip, sink, CharacterizationPlan(arrays=(0, 0)))
    assert sink.completed_arrays() == []


def test_characterize_takes_a_pulse_and_records_it(tmp_path):
    out = tmp_path / "pulse.h5"
    argv = ["characterize", "--die", "1", "--arrays", "0", "--out", str(out), "--no-report"]
    assert main([*argv, "--pulse-amplitude", "1.1", "--pulse-width", "2e-6"]) == 0
    assert load_characterization(out).plan["pulse"] == {"amplitude": 1.1, "width": 2e-6}
    plain = tmp_path / "plain.h5"
    assert main([*argv[:-3], "--out", str(plain), "--no-report"]) == 0
    assert load_characterization(plain).plan["pulse"] is CharacterizationPlan.pulse is None
