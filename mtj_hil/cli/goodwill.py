"""``mtj-hil experiment goodwill``: the Wine 13-6-3 network on a simulated die, many written
solutions and the NIST daffodil reference solutions (after Goodwill et al.)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape
from rich.text import Text

from mtj_hil.cli.common import GivenPath
from mtj_hil.cli.experiment_common import console, progress_bar, results_folder
from mtj_hil.cli.numbers import FINITE
from mtj_hil.cli.tables import make_console, print_markdown
from mtj_hil.experiments.goodwill_config import MAX_RESTARTS, MAX_SOLUTIONS
from mtj_hil.training.bnn import MAX_EPOCHS


@click.command(short_help="Wine 13-6-3 on a simulated die, after Goodwill et al.")
@click.option(
    "--solutions",
    type=click.IntRange(1, MAX_SOLUTIONS),
    default=300,
    show_default=True,
    help="Solutions (trained networks) written and measured.",
)
@click.option(
    "--epochs",
    type=click.IntRange(1, MAX_EPOCHS),
    default=100,
    show_default=True,
    help="Training epochs per solution.",
)
@click.option(
    "--restarts",
    type=click.IntRange(1, MAX_RESTARTS),
    default=3,
    show_default=True,
    help="Trainings per solution; the best on the training split is kept.",
)
@click.option(
    "--profile",
    default="passive-15x15",
    show_default=True,
    help="Die profile: a shipped name or a TOML file.",
)
@click.option(
    "--lot-seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed of the simulated lot.",
)
@click.option(
    "--die", type=click.IntRange(0), default=0, show_default=True, help="Die of the simulated lot."
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Master seed (data split, training, noise).",
)
@click.option(
    "--pulse-amplitude",
    type=FINITE,
    default=0.9,
    show_default=True,
    help="First write-verify pulse (V); verify escalates by 0.05 V a round.",
)
@click.option(
    "--reference",
    type=GivenPath(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="daffodil-wine folder (default: $MTJ_HIL_REFERENCE, else shared/reference/"
    "daffodil-wine beside the mtj-hil checkout, found from the package's location, not "
    "the working folder).",
)
@click.option(
    "--daffodil/--no-daffodil",
    default=True,
    show_default=True,
    help="Also measure the NIST daffodil reference solutions (from the --reference folder "
    "or its default; skipped with a line saying so when it is missing).",
)
@click.option(
    "--out-dir",
    type=GivenPath(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the results [default: runs/goodwill-<time>].",
)
def goodwill(
    solutions: int,
    epochs: int,
    restarts: int,
    profile: str,
    lot_seed: int,
    die: int,
    seed: int,
    pulse_amplitude: float,
    reference: Path | None,
    daffodil: bool,
    out_dir: Path | None,
) -> None:
    """Wine 13-6-3 on a simulated die (passive 15 x 15 as in the paper, or another
    --profile): accuracy distribution of many written solutions and of the
    NIST reference solutions (after Goodwill et al.)."""
    from mtj_hil.experiments.goodwill import GoodwillConfig, run_goodwill
    from mtj_hil.experiments.goodwill_outputs import write_goodwill
    from mtj_hil.training.reference import has_daffodil_wine

    if reference is not None and daffodil and not has_daffodil_wine(reference):
        # asked for by name: refused before the training, not skipped after it
        raise click.BadParameter(
            f"{reference} holds no daffodil-wine data (a dataset/ and a solutions/ folder); "
            "give the daffodil-wine folder, or --no-daffodil",
            param_hint="'--reference'",
        )
    config = GoodwillConfig(
        solutions=solutions,
        epochs=epochs,
        profile=profile,
        lot_seed=lot_seed,
        die=die,
        seed=seed,
        reference=None if reference is None else str(reference),
        daffodil=daffodil,
        restarts=restarts,
        pulse_amplitude=pulse_amplitude,
    )
    folder = results_folder(out_dir, "goodwill")
    if (folder / "goodwill.h5").exists():
        from mtj_hil.errors import StoreError

        raise StoreError(f"{folder / 'goodwill.h5'} already exists; choose another --out-dir")
    with progress_bar() as progress:
        result = run_goodwill(config, progress)
    if result.skipped:
        console.print(Text(str(result.skipped), style="yellow"), soft_wrap=True)
    paths = write_goodwill(result, folder)
    print_markdown(make_console(), paths["markdown"].read_text(encoding="utf-8"))
    for key, path in paths.items():
        console.print(escape(f"{key}: {path}"), soft_wrap=True)
